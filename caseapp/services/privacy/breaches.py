"""The register of personal-data breaches: recorded by an officer or administrator of the
units concerned, with the 72-hour clock from discovery to notifying the authority (calendar
hours: a weekend counts), the decision whether to tell the people affected, and the actions
taken (append-only). Auditors read the register; it holds no case content, so reading it is
not audited."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import case, or_, select
from sqlalchemy.orm import Session, joinedload

from caseapp.clock import EARLIEST_DATE, zone
from caseapp.db import utcnow
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import Unit
from caseapp.models.privacy import (
    BREACH_SOURCES,
    BREACH_TEXT_MAX,
    NOTIFY_PEOPLE,
    Breach,
    BreachAction,
)
from caseapp.security.authz import covers, scope_filter
from caseapp.security.text import refused_characters
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.org.units import unit_by_code
from caseapp.services.privacy import periods
from caseapp.services.privacy.references import next_reference

if TYPE_CHECKING:
    from caseapp.models import User

MANAGE, READ = "breach.manage", "breach.read"
# What kinds of personal data a breach touched (labels: caseapp.labels.breach_category_names).
CATEGORIES = (
    "identity",
    "contact",
    "case_content",
    "health",
    "sexual_life",
    "children",
    "family",
    "accounts",
)
# The clock to notify the authority: the LegalPeriod "breach_notify" (calendar hours; Law
# 91/2025 art. 23 sets 72), as it stood when the breach was recorded.
PERIOD_KEY = "breach_notify"
MOMENT_FORMAT = "%d/%m/%Y %H:%M"
UNITS_AFFECTED_MAX = 50
PEOPLE_MAX = 10_000_000
DISCOVERED_BY_MAX = 200
SOURCE_REF_MAX = 120
REFERENCE_LOCK_KEY = 715_015_002  # PostgreSQL advisory lock: one reference at a time


@dataclass
class BreachInput:
    discovered_at: str  # dd/mm/yyyy HH:MM, local time
    discovered_by: str
    description: str
    data_categories: list[str] = field(default_factory=list)
    units_affected: str = ""  # unit codes, separated by commas or spaces
    people_affected: str = ""  # a whole number, or empty when not known
    source: str = "manual"
    source_ref: str = ""
    occurred_at: str = ""  # dd/mm/yyyy HH:MM when known; not after the discovery
    records_affected: str = ""  # a whole number, or empty when not known
    consequences: str = ""


@dataclass
class BreachUpdate:
    contained_at: str = ""
    authority_notified_at: str = ""
    notify_people: str = "undecided"
    notify_people_reason: str = ""
    people_notified_at: str = ""
    occurred_at: str = ""
    records_affected: str = ""
    consequences: str = ""
    delay_reason: str = ""  # required when the authority is told after the deadline


def parse_moment(raw: str, label: str, now: datetime | None = None) -> datetime | None:
    """``raw`` (dd/mm/yyyy HH:MM in the users' time zone) as a UTC instant; None when empty.
    Refused when it is not such a moment, lies in the future or before 1945."""
    value = (raw or "").strip()
    if not value:
        return None
    try:
        local = datetime.strptime(value, MOMENT_FORMAT)
    except ValueError:
        raise ValidationFailed(
            _("%(field)s: enter a date and time as dd/mm/yyyy HH:MM.", field=label)
        ) from None
    moment = local.replace(tzinfo=zone()).astimezone(UTC)
    if moment > (now or utcnow()) + timedelta(minutes=1):
        raise ValidationFailed(_("%(field)s cannot be in the future.", field=label))
    if local.date() < EARLIEST_DATE:
        raise ValidationFailed(_("%(field)s is too far in the past.", field=label))
    return moment


def shown_moment(value: datetime | None) -> str:
    """``value`` as dd/mm/yyyy HH:MM in the users' time zone ("" for None)."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(zone()).strftime(MOMENT_FORMAT)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def hours_in_force(session: Session) -> int:
    """The hours a breach recorded now has to notify the authority."""
    return periods.get(session, PERIOD_KEY).amount


def notify_hours(breach: Breach) -> int:
    """The hours the authority must be told within: the period "breach_notify" as it stood
    when ``breach`` was recorded (kept on the breach; a later change does not move it)."""
    return breach.notify_hours or periods.BY_KEY[PERIOD_KEY].amount


def deadline(breach: Breach) -> datetime:
    """When the authority must have been told: the period's calendar hours after discovery
    (72 unless the admin corrected it)."""
    return _aware(breach.discovered_at) + timedelta(hours=notify_hours(breach))


def overdue(breach: Breach, now: datetime | None = None) -> bool:
    """The authority was not told within 72 hours (told late, or not yet and the time is up)."""
    told = breach.authority_notified_at
    if told is not None:
        return _aware(told) > deadline(breach)
    return (now or utcnow()) > deadline(breach)


def remaining_hours(breach: Breach, now: datetime | None = None) -> int | None:
    """Whole hours left until the deadline (negative once past); None once the authority
    was told."""
    if breach.authority_notified_at is not None:
        return None
    seconds = (deadline(breach) - (now or utcnow())).total_seconds()
    return int(seconds // 3600) if seconds >= 0 else -int(-seconds // 3600)


def categories_of(breach: Breach) -> list[str]:
    return [c for c in json.loads(breach.data_categories or "[]") if isinstance(c, str)]


def units_of(breach: Breach) -> list[str]:
    return [c for c in json.loads(breach.units_affected or "[]") if isinstance(c, str)]


def visible_breaches(user: User):
    """The breaches of the units where ``user`` manages or reads the register: open ones first,
    then the newest discovery."""
    return (
        select(Breach)
        .join(Breach.unit)
        .options(joinedload(Breach.unit))
        .where(or_(scope_filter(user, MANAGE, Unit.path), scope_filter(user, READ, Unit.path)))
        .order_by(
            case((Breach.status == "open", 0), else_=1),
            Breach.discovered_at.desc(),
            Breach.id.desc(),
        )
    )


def may_read(user: User, breach: Breach) -> bool:
    return covers(user, MANAGE, breach.unit) or covers(user, READ, breach.unit)


def get_breach(session: Session, user: User, breach_id: int, manage: bool = False) -> Breach:
    """The breach ``breach_id`` when ``user`` may read it (``manage``: change it); else 404."""
    breach = session.get(Breach, breach_id)
    if breach is None or not may_read(user, breach):
        raise NotFound()
    if manage and not covers(user, MANAGE, breach.unit):
        raise NotFound()
    return breach


def _text(value: str, label: str, limit: int, required: bool = False) -> str:
    cleaned = (value or "").replace("\r\n", "\n").strip()
    if required and not cleaned:
        raise ValidationFailed(_("%(field)s is required.", field=label))
    if len(cleaned) > limit:
        raise ValidationFailed(_("%(field)s takes at most %(n)d characters.", field=label, n=limit))
    if refused_characters(cleaned):
        raise ValidationFailed(_("%(field)s holds characters that are not allowed.", field=label))
    return cleaned


def _categories(keys: list[str]) -> list[str]:
    chosen = [k for k in CATEGORIES if k in set(keys or [])]
    if len(chosen) != len(set(keys or [])):
        raise ValidationFailed(_("A category of data is not in the list. Nothing was saved."))
    if not chosen:
        raise ValidationFailed(_("Choose at least one category of personal data."))
    return chosen


def _units(session: Session, actor: User, raw: str, home: Unit) -> list[str]:
    """The unit codes typed, each a unit within ``actor``'s register scope and the recording
    unit or one below it (who reads the breach is decided by the recording unit: a breach that
    spans two communes is recorded at their common parent); the recording unit when none is
    given."""
    codes = [c.strip().upper() for c in re.split(r"[\s,;]+", raw or "") if c.strip()]
    if len(codes) > UNITS_AFFECTED_MAX:
        raise ValidationFailed(_("At most %(n)d units affected.", n=UNITS_AFFECTED_MAX))
    out: list[str] = []
    for code in codes:
        unit = unit_by_code(session, code)
        if unit is None or not covers(actor, MANAGE, unit) or not unit.path.startswith(home.path):
            raise ValidationFailed(
                _("No unit with the code %(code)s within your units.", code=code[:20])
            )
        if unit.code not in out:
            out.append(unit.code)
    return out or [home.code]


def _count(raw: str) -> int | None:
    """A whole number from 0 typed in a form; None when empty or unknown; ValueError else."""
    value = (raw or "").strip()
    if not value or value.lower() in ("unknown", "?"):
        return None
    if not value.isascii() or not value.isdigit() or int(value) > PEOPLE_MAX:
        raise ValueError(value)
    return int(value)


def _people(raw: str) -> int | None:
    try:
        return _count(raw)
    except ValueError:
        raise ValidationFailed(
            _("The number of people affected is a whole number from 0, or empty when unknown.")
        ) from None


def _records(raw: str) -> int | None:
    try:
        return _count(raw)
    except ValueError:
        raise ValidationFailed(
            _("The number of records affected is a whole number from 0, or empty when unknown.")
        ) from None


def _occurred(raw: str, discovered: datetime, now: datetime | None) -> datetime | None:
    occurred = parse_moment(raw, _("Occurred at"), now)
    if occurred is not None and occurred > discovered:
        raise ValidationFailed(_("The breach cannot have occurred after it was discovered."))
    return occurred


def create(
    session: Session, actor: User, unit: Unit, data: BreachInput, now: datetime | None = None
) -> Breach:
    if not covers(actor, MANAGE, unit):
        raise NotFound()
    discovered = parse_moment(data.discovered_at, _("Discovered at"), now)
    if discovered is None:
        raise ValidationFailed(_("%(field)s is required.", field=_("Discovered at")))
    breach = Breach(
        unit=unit,
        notify_hours=hours_in_force(session),
        discovered_at=discovered,
        discovered_by=_text(data.discovered_by, _("Discovered by"), DISCOVERED_BY_MAX, True),
        description=_text(data.description, _("What happened"), BREACH_TEXT_MAX, True),
        data_categories=json.dumps(_categories(data.data_categories)),
        units_affected=json.dumps(_units(session, actor, data.units_affected, unit)),
        people_affected=_people(data.people_affected),
        occurred_at=_occurred(data.occurred_at, discovered, now),
        records_affected=_records(data.records_affected),
        consequences=_text(data.consequences, _("Likely consequences"), BREACH_TEXT_MAX),
        source=data.source if data.source in BREACH_SOURCES else "manual",
        source_ref=_text(data.source_ref, _("Source"), SOURCE_REF_MAX),
        created_by_id=actor.id,
        status="open",
    )
    breach.reference = next_reference(
        session, Breach.reference, "SC", discovered.astimezone(zone()).year, REFERENCE_LOCK_KEY
    )
    session.add(breach)
    changes = {
        "reference": breach.reference,
        "discovered_at": discovered.isoformat(),
        "data_categories": breach.data_categories,
        "units_affected": breach.units_affected,
        "people_affected": breach.people_affected,
        "source": breach.source,
        "description": "changed",
    }
    if breach.occurred_at is not None:
        changes["occurred_at"] = breach.occurred_at.isoformat()
    if breach.records_affected is not None:
        changes["records_affected"] = breach.records_affected
    if breach.consequences:
        changes["consequences"] = "changed"
    record(session, actor, "breach.create", breach, unit=unit, changes=changes)
    return breach


def _check_version(breach: Breach, version: int) -> None:
    if breach.version != version:
        raise Conflict(_("This breach was changed by someone else. Reload it and try again."))


def _refuse_closed(breach: Breach) -> None:
    if breach.status == "closed":
        raise Conflict(_("This breach is closed; it can no longer change."))


def update(
    session: Session,
    actor: User,
    breach: Breach,
    data: BreachUpdate,
    version: int,
    now: datetime | None = None,
) -> Breach:
    _check_version(breach, version)
    _refuse_closed(breach)
    contained = parse_moment(data.contained_at, _("Contained at"), now)
    notified = parse_moment(data.authority_notified_at, _("Authority notified at"), now)
    told = parse_moment(data.people_notified_at, _("People notified at"), now)
    discovered = _aware(breach.discovered_at)
    if any(m is not None and m < discovered for m in (contained, notified, told)):
        raise ValidationFailed(_("A date and time cannot be before the discovery."))
    if data.notify_people not in NOTIFY_PEOPLE:
        raise ValidationFailed(_("A choice in the form is not valid. Nothing was saved."))
    reason = _text(data.notify_people_reason, _("Reason"), BREACH_TEXT_MAX)
    if data.notify_people == "no" and not reason:
        raise ValidationFailed(
            _("Say why the people affected will not be told (a reason is required for no).")
        )
    if told is not None and data.notify_people != "yes":
        raise ValidationFailed(_("People can only have been told when the decision is yes."))
    occurred = _occurred(data.occurred_at, discovered, now)
    records = _records(data.records_affected)
    consequences = _text(data.consequences, _("Likely consequences"), BREACH_TEXT_MAX)
    delay = _text(data.delay_reason, _("Reason for the late notification"), BREACH_TEXT_MAX)
    if notified is not None and notified > deadline(breach) and not delay:
        raise ValidationFailed(
            _(
                "The authority was notified after the %(n)d-hour deadline: say why the "
                "notification came late (the decree's form asks for it).",
                n=notify_hours(breach),
            )
        )
    breach.occurred_at = occurred
    breach.records_affected = records
    breach.consequences = consequences
    breach.delay_reason = delay
    breach.contained_at = contained
    breach.authority_notified_at = notified
    breach.notify_people = data.notify_people
    breach.notify_people_reason = reason
    breach.people_notified_at = told
    changes = changes_of(breach)
    for free_text in ("notify_people_reason", "consequences", "delay_reason"):
        if free_text in changes:
            changes[free_text] = "changed"
    if not changes:
        return breach
    record(session, actor, "breach.update", breach, unit=breach.unit, changes=changes)
    return breach


def add_action(
    session: Session,
    actor: User,
    breach: Breach,
    taken_at: str,
    action_text: str,
    now: datetime | None = None,
) -> BreachAction:
    _refuse_closed(breach)
    moment = parse_moment(taken_at, _("Taken at"), now) or (now or utcnow())
    if moment < _aware(breach.discovered_at) - timedelta(days=1):
        raise ValidationFailed(_("A date and time cannot be before the discovery."))
    action = BreachAction(
        breach=breach,
        taken_at=moment,
        text=_text(action_text, _("What was done"), BREACH_TEXT_MAX, True),
        by_id=actor.id,
    )
    session.add(action)
    record(
        session,
        actor,
        "breach.action",
        action,
        unit=breach.unit,
        changes={"breach": breach.reference, "taken_at": moment.isoformat(), "text": "changed"},
    )
    return action


def close(
    session: Session,
    actor: User,
    breach: Breach,
    version: int,
    reason: str = "",
    now: datetime | None = None,
) -> Breach:
    """Close the record: only once the authority was told, or with a reason saying why not."""
    _check_version(breach, version)
    _refuse_closed(breach)
    why = _text(reason, _("Reason"), BREACH_TEXT_MAX)
    if breach.authority_notified_at is None and not why:
        raise ValidationFailed(
            _(
                "The authority has not been notified: say why the record is closed without "
                "notifying it."
            )
        )
    breach.status = "closed"
    breach.closed_at = now or utcnow()
    breach.close_reason = why
    changes = changes_of(breach)
    if "close_reason" in changes:
        changes["close_reason"] = "changed"
    record(
        session,
        actor,
        "breach.close",
        breach,
        unit=breach.unit,
        changes=changes,
        reason=why,
    )
    return breach


def note_export(session: Session, actor: User, breach: Breach) -> None:
    record(
        session,
        actor,
        "breach.export",
        breach,
        unit=breach.unit,
        changes={"format": "docx"},
        object_ref=breach.reference,
    )
