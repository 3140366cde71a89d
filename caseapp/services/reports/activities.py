"""Training, communication and action-month activities, recorded per unit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from caseapp.clock import local_today
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import Activity, Unit
from caseapp.models.reports import ACTIVITY_KINDS, AUDIENCES, PARTICIPANTS_MAX, TITLE_MAX
from caseapp.security.authz import covers, scope_filter
from caseapp.services.audit.trail import record

if TYPE_CHECKING:
    from caseapp.models import User


@dataclass
class ActivityInput:
    held_on: date
    kind: str
    audience: str
    title: str
    participants_female: int = 0
    participants_male: int = 0
    participants_other: int = 0


def visible_activities(user: User):
    return (
        select(Activity)
        .join(Activity.unit)
        .options(joinedload(Activity.unit))
        .where(scope_filter(user, "report.read", Unit.path))
        .order_by(Activity.held_on.desc(), Activity.id.desc())
    )


def get_activity(session: Session, user: User, activity_id: int) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or not covers(user, "activity.write", activity.unit):
        raise NotFound()
    return activity


def _check(data: ActivityInput) -> None:
    if data.kind not in ACTIVITY_KINDS or data.audience not in AUDIENCES:
        raise ValidationFailed(_("A choice in the form is not valid. Nothing was saved."))
    if not data.title.strip() or len(data.title) > TITLE_MAX:
        raise ValidationFailed(_("A title is required (at most %(n)d characters).", n=TITLE_MAX))
    if data.held_on > local_today():
        raise ValidationFailed(_("An activity cannot be recorded before it is held."))
    counts = (data.participants_female, data.participants_male, data.participants_other)
    if any(n is None or n < 0 or n > PARTICIPANTS_MAX for n in counts):
        raise ValidationFailed(
            _("Participant numbers must be between 0 and %(n)d.", n=PARTICIPANTS_MAX)
        )


def create(session: Session, actor: User, unit: Unit, data: ActivityInput) -> Activity:
    if not covers(actor, "activity.write", unit):
        raise NotFound()
    _check(data)
    activity = Activity(
        unit=unit,
        created_by_id=actor.id,
        held_on=data.held_on,
        kind=data.kind,
        audience=data.audience,
        title=data.title.strip(),
        participants_female=data.participants_female,
        participants_male=data.participants_male,
        participants_other=data.participants_other,
    )
    session.add(activity)
    record(session, actor, "activity.create", activity, unit=unit)
    return activity


def update(
    session: Session, actor: User, activity: Activity, data: ActivityInput, version: int
) -> Activity:
    if activity.version != version:
        raise Conflict(_("This activity was changed by someone else. Reload it and try again."))
    _check(data)
    for name in (
        "held_on",
        "kind",
        "audience",
        "participants_female",
        "participants_male",
        "participants_other",
    ):
        setattr(activity, name, getattr(data, name))
    activity.title = data.title.strip()
    record(session, actor, "activity.update", activity, unit=activity.unit)
    return activity
