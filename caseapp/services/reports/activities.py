"""Training, communication and action-month activities, recorded per unit: the action month
(campaign) they belong to, the targets of their unit's gender-equality plan they count towards,
and their results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import flag_modified

from caseapp.clock import local_today
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import Activity, ReportSnapshot, Unit
from caseapp.models.equality import (
    RESULTS_MAX,
    TARGETS_MAX,
    ActivityTarget,
    GenderPlan,
    PlanTarget,
)
from caseapp.models.reports import ACTIVITY_KINDS, AUDIENCES, PARTICIPANTS_MAX, TITLE_MAX
from caseapp.security.authz import covers, scope_filter
from caseapp.security.text import refused_characters
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.equality import campaigns
from caseapp.services.equality.plans import plan_year
from caseapp.services.reports.periods import periods_of

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
    campaign_key: str | None = None  # a key of campaigns.around(held_on), or None
    target_ids: list[int] = field(default_factory=list)
    results: str = ""


def visible_activities(user: User, campaign_key: str | None = None):
    """The activities ``user`` may read, newest first (of one campaign when asked)."""
    stmt = (
        select(Activity)
        .join(Activity.unit)
        .options(joinedload(Activity.unit))
        .where(scope_filter(user, "report.read", Unit.path))
        .order_by(Activity.held_on.desc(), Activity.id.desc())
    )
    if campaign_key:
        if campaigns.by_key(campaign_key) is None:
            raise ValidationFailed(_("Unknown action month."))
        stmt = stmt.where(Activity.campaign_key == campaign_key)
    return stmt


def get_activity(session: Session, user: User, activity_id: int) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or not covers(user, "activity.write", activity.unit):
        raise NotFound()
    return activity


def plan_targets(session: Session, unit: Unit, day: date) -> list[PlanTarget]:
    """The targets of ``unit``'s plan for the plan year of ``day`` (none without a plan)."""
    return list(
        session.scalars(
            select(PlanTarget)
            .join(GenderPlan, GenderPlan.id == PlanTarget.plan_id)
            .where(GenderPlan.unit_id == unit.id, GenderPlan.year == plan_year(day))
            .order_by(PlanTarget.ordinal)
        )
    )


def targets_for(session: Session, user: User, unit: Unit, day: date) -> list[PlanTarget]:
    """The targets the activity form offers: those of ``unit``'s plan for the year of ``day``,
    when ``user`` records activities for that unit."""
    if not covers(user, "activity.write", unit):
        return []
    return plan_targets(session, unit, day)


def frozen_day(session: Session, unit: Unit, *days: date) -> date | None:
    """The first of ``days`` held by a period whose report ``unit`` submitted (its activities
    of that period are frozen into the snapshot); None when none is."""
    spans = {
        period.key: period
        for day in days
        for year in (day.year - 1, day.year, day.year + 1)
        for period in periods_of(year)
        if period.date_from <= day <= period.date_to
    }
    if not spans:
        return None
    submitted = set(
        session.scalars(
            select(ReportSnapshot.period_key).where(
                ReportSnapshot.unit_id == unit.id, ReportSnapshot.period_key.in_(sorted(spans))
            )
        )
    )
    return next(
        (
            day
            for day in days
            for key in submitted
            if spans[key].date_from <= day <= spans[key].date_to
        ),
        None,
    )


def refuse_if_frozen(session: Session, unit: Unit, *days: date) -> None:
    """Conflict when ``unit`` submitted the report of a period holding one of ``days``."""
    day = frozen_day(session, unit, *days)
    if day is not None:
        raise Conflict(
            _(
                "The report of this unit for the period holding %(day)s was submitted: its "
                "activities can no longer change.",
                day=day.strftime("%d/%m/%Y"),
            )
        )


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
    results = data.results or ""
    if len(results) > RESULTS_MAX:
        raise ValidationFailed(_("The results take at most %(n)d characters.", n=RESULTS_MAX))
    if refused_characters(results) or refused_characters(data.title):
        raise ValidationFailed(_("The title or the results hold characters that are not allowed."))


def _month_name(campaign: campaigns.Campaign) -> str:
    if campaign.kind == "june":
        return _("the June action month")
    return _("the gender-equality action month")


def _campaign(data: ActivityInput) -> str | None:
    """The campaign key to store: the one chosen, checked against the activity's date and
    kind; for an action-month kind with none chosen, its own month when it holds the date."""
    own_kind = next((k for k, kind in campaigns.ACTIVITY_KIND.items() if kind == data.kind), None)
    key = (data.campaign_key or "").strip()
    if not key:
        if own_kind is None:
            return None
        held = [c for c in campaigns.around(data.held_on) if c.kind == own_kind]
        return next((c.key for c in held if c.holds(data.held_on)), None)
    chosen = campaigns.by_key(key)
    if chosen is None:
        raise ValidationFailed(_("Choose an action month from the list."))
    if own_kind is not None and chosen.kind != own_kind:
        raise ValidationFailed(
            _(
                "An activity of this kind belongs to %(month)s, not to %(other)s.",
                month=_month_name(campaigns.campaign(own_kind, chosen.year)),
                other=_month_name(chosen),
            )
        )
    if not chosen.holds(data.held_on):
        raise ValidationFailed(
            _(
                "The activity was held on %(day)s, outside %(month)s (%(start)s - %(end)s).",
                day=data.held_on.strftime("%d/%m/%Y"),
                month=_month_name(chosen),
                start=chosen.starts_on.strftime("%d/%m"),
                end=chosen.ends_on.strftime("%d/%m/%Y"),
            )
        )
    return chosen.key


def _targets(session: Session, unit: Unit, data: ActivityInput) -> list[int]:
    """The chosen target ids, each a target of the unit's plan for the activity's year."""
    ids = sorted(set(data.target_ids or []))
    if not ids:
        return []
    allowed = {t.id for t in plan_targets(session, unit, data.held_on)}
    if len(ids) > TARGETS_MAX or not set(ids) <= allowed:
        raise ValidationFailed(
            _(
                "A chosen target is not a target of the plan of %(unit)s for %(year)d. "
                "Nothing was saved.",
                unit=unit.name,
                year=plan_year(data.held_on),
            )
        )
    return ids


def _link_targets(activity: Activity, ids: list[int]) -> list[ActivityTarget]:
    """Set the activity's targets; the links added and removed (for the audit event)."""
    kept = {link.target_id: link for link in activity.targets}
    removed = [link for link in activity.targets if link.target_id not in ids]
    added = [ActivityTarget(target_id=i) for i in ids if i not in kept]
    activity.targets = [kept.get(i) or next(a for a in added if a.target_id == i) for i in ids]
    return removed + added


def _changes(activity: Activity, old_targets: list[int], new_targets: list[int]) -> dict:
    """The diff of the activity, its results said changed (never their text), its targets."""
    changes = changes_of(activity)
    if "results" in changes:
        changes["results"] = "changed"
    if old_targets != new_targets:
        changes["targets"] = [old_targets, new_targets]
    return changes


def create(session: Session, actor: User, unit: Unit, data: ActivityInput) -> Activity:
    if not covers(actor, "activity.write", unit):
        raise NotFound()
    _check(data)
    refuse_if_frozen(session, unit, data.held_on)
    campaign_key = _campaign(data)
    target_ids = _targets(session, unit, data)
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
        campaign_key=campaign_key,
        results=(data.results or "").replace("\r\n", "\n").strip(),
    )
    links = _link_targets(activity, target_ids)
    session.add(activity)
    record(
        session,
        actor,
        "activity.create",
        activity,
        unit=unit,
        changes=_changes(activity, [], target_ids),
        covers=tuple(links),
    )
    return activity


def update(
    session: Session, actor: User, activity: Activity, data: ActivityInput, version: int
) -> Activity:
    refuse_if_frozen(session, activity.unit, activity.held_on)
    if activity.version != version:
        raise Conflict(_("This activity was changed by someone else. Reload it and try again."))
    _check(data)
    refuse_if_frozen(session, activity.unit, data.held_on)
    campaign_key = _campaign(data)
    target_ids = _targets(session, activity.unit, data)
    old_targets = sorted(link.target_id for link in activity.targets)
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
    activity.campaign_key = campaign_key
    activity.results = (data.results or "").replace("\r\n", "\n").strip()
    changes = _changes(activity, old_targets, target_ids)
    links = _link_targets(activity, target_ids)
    if links:
        flag_modified(activity, "title")  # a change of targets alone moves the version on too
    record(
        session,
        actor,
        "activity.update",
        activity,
        unit=activity.unit,
        changes=changes,
        covers=tuple(links),
    )
    return activity


def campaign_summary(session: Session, user: User, unit: Unit, year: int) -> list[dict]:
    """For each action month of ``year``: the number of activities of ``unit`` and the units
    below it that ``user`` may read, and their participants by sex (one SQL aggregate)."""
    if not 2000 <= year <= 2100:
        raise ValidationFailed(_("Enter a year between 2000 and 2100."))
    months = campaigns.campaigns_of(year)
    rows = session.execute(
        select(
            Activity.campaign_key,
            func.count(Activity.id),
            func.coalesce(func.sum(Activity.participants_female), 0),
            func.coalesce(func.sum(Activity.participants_male), 0),
            func.coalesce(func.sum(Activity.participants_other), 0),
        )
        .join(Unit, Unit.id == Activity.unit_id)
        .where(
            scope_filter(user, "report.read", Unit.path),
            Unit.path.startswith(unit.path),
            Activity.campaign_key.in_([c.key for c in months]),
        )
        .group_by(Activity.campaign_key)
    ).all()
    found = {row[0]: row[1:] for row in rows}
    out = []
    for month in months:
        count, female, male, other = found.get(month.key, (0, 0, 0, 0))
        out.append(
            {
                "campaign": month,
                "activities": int(count),
                "female": int(female),
                "male": int(male),
                "other": int(other),
            }
        )
    return out
