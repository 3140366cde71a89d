"""A unit's yearly gender-equality plan: its free text and measurable targets, written by its
focal points or officers (work.write), approved by its head (plan.approve, four eyes), read by
the units above; and the results of its targets for a report period."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, date
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.db import utcnow
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import Activity, Unit
from caseapp.models.equality import (
    MEASURES,
    PLAN_TEXT_MAX,
    TARGET_TITLE_MAX,
    TARGET_VALUE_MAX,
    TARGETS_MAX,
    ActivityTarget,
    GenderPlan,
    PlanTarget,
    WorkReportDraft,
)
from caseapp.security.authz import covers, effective_grants, scope_paths
from caseapp.security.text import refused_characters
from caseapp.services.audit.trail import record
from caseapp.services.org.units import lock_unit
from caseapp.services.reports.periods import periods_of

if TYPE_CHECKING:
    from caseapp.models import User
    from caseapp.services.equality.work import WorkReport
    from caseapp.services.reports.periods import Period

PERCENT_MEASURES = ("women_managers_share",)
STAFF_AUDIENCES = ("teachers", "staff")


@dataclass
class TargetInput:
    title: str
    measure: str
    target_value: int | None


def plan_year(day: date) -> int:
    """The year of the annual period holding ``day`` (November and December count for the
    next year with the periods of the letter). A date at the ends of the calendar (a typing
    slip the form then refuses) is its own year."""
    if not MINYEAR < day.year < MAXYEAR:
        return day.year
    for year in (day.year, day.year + 1, day.year - 1):
        for period in periods_of(year):
            if period.kind == "annual" and period.date_from <= day <= period.date_to:
                return year
    return day.year


def current_year() -> int:
    return plan_year(local_today())


def plan_of(session: Session, unit: Unit, year: int) -> GenderPlan | None:
    return session.scalar(
        select(GenderPlan).where(GenderPlan.unit_id == unit.id, GenderPlan.year == year)
    )


def check_year(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise ValidationFailed(_("Unknown plan year."))


def _clean_targets(targets: list[TargetInput]) -> list[tuple[str, str, int]]:
    """The lines with a title as (title, measure, value), checked."""
    kept = [t for t in targets if (t.title or "").strip()]
    if len(kept) > TARGETS_MAX:
        raise ValidationFailed(_("A plan has at most %(n)d targets.", n=TARGETS_MAX))
    out: list[tuple[str, str, int]] = []
    for number, target in enumerate(kept, start=1):
        title = target.title.strip()
        if len(title) > TARGET_TITLE_MAX:
            raise ValidationFailed(
                _(
                    "Target %(number)d: a title has at most %(n)d characters.",
                    number=number,
                    n=TARGET_TITLE_MAX,
                )
            )
        if refused_characters(title):
            raise ValidationFailed(
                _(
                    "Target %(number)d: the title holds characters that are not allowed.",
                    number=number,
                )
            )
        if target.measure not in MEASURES:
            raise ValidationFailed(
                _("Target %(number)d: choose what the target measures.", number=number)
            )
        top = 100 if target.measure in PERCENT_MEASURES else TARGET_VALUE_MAX
        value = target.target_value
        if value is None or not 0 <= value <= top:
            raise ValidationFailed(
                _(
                    "Target %(number)d: the target value must be a whole number between 0 and"
                    " %(n)d.",
                    number=number,
                    n=top,
                )
            )
        out.append((title, target.measure, value))
    return out


def _linked_target_ids(session: Session, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        session.scalars(select(ActivityTarget.target_id).where(ActivityTarget.target_id.in_(ids)))
    )


def save_plan(
    session: Session,
    actor: User,
    unit: Unit,
    year: int,
    text: str,
    targets: list[TargetInput],
    version: int,
) -> GenderPlan:
    """Create or update the plan of ``unit`` for ``year``. ``version`` 0 means "new". Editing
    an approved plan returns it to draft (its approval is cleared)."""
    if not covers(actor, "work.write", unit):
        raise NotFound()
    check_year(year)
    text = (text or "").replace("\r\n", "\n").strip()
    if refused_characters(text):
        raise ValidationFailed(_("The text of the plan holds characters that are not allowed."))
    if len(text) > PLAN_TEXT_MAX:
        raise ValidationFailed(
            _("The text of the plan has at most %(n)d characters.", n=PLAN_TEXT_MAX)
        )
    lines = _clean_targets(targets)
    # Saves of the unit's plan (two first saves at once: the second waits here, then finds the
    # first's plan, 409) and its submissions are decided one at a time.
    lock_unit(session, unit)
    plan = plan_of(session, unit, year)
    if (plan.version if plan is not None else 0) != version:
        raise Conflict(_("This plan was changed by someone else. Reload the page and try again."))
    created = plan is None
    if plan is None:
        plan = GenderPlan(unit=unit, year=year, text="", status="draft")
        session.add(plan)
        old = []
    else:
        old = list(plan.targets)
    dropped = old[len(lines) :]
    linked = _linked_target_ids(session, [t.id for t in dropped])
    if linked:
        first = next(t for t in dropped if t.id in linked)
        raise ValidationFailed(
            _(
                "The target “%(title)s” cannot be removed: activities are counted towards it."
                " Change its line instead, or unlink the activities first.",
                title=first.title,
            )
        )
    changed: list[str] = []
    if plan.text != text:
        changed.append("text")
    touched: list[PlanTarget] = []
    for ordinal, line in enumerate(lines, start=1):
        if ordinal <= len(old):
            row = old[ordinal - 1]
            if (row.title, row.measure, row.target_value) != line:
                row.title, row.measure, row.target_value = line
                changed.append(f"target {ordinal}")
                touched.append(row)
        else:
            row = PlanTarget(ordinal=ordinal, title=line[0], measure=line[1], target_value=line[2])
            plan.targets.append(row)
            changed.append(f"target {ordinal} added")
            touched.append(row)
    for row in dropped:
        plan.targets.remove(row)
        changed.append(f"target {row.ordinal} removed")
        touched.append(row)
    if not changed and not created:
        return plan
    status_before = "new" if created else plan.status
    plan.text = text
    plan.status = "draft"
    plan.approved_by_id = None
    plan.approved_at = None
    plan.updated_by_id = actor.id
    plan.updated_at = utcnow()
    plan.authors = json.dumps(sorted({*_authors(plan), actor.id}))
    record(
        session,
        actor,
        "plan.save",
        plan,
        unit=unit,
        changes={
            "year": year,
            "status": [status_before, "draft"],
            "targets": len(lines),
            "changed": changed,
        },
        covers=tuple(touched),
    )
    return plan


def _authors(plan: GenderPlan) -> set[int]:
    """Everyone who saved the plan since it was last approved."""
    try:
        return {int(i) for i in json.loads(plan.authors or "[]")}
    except (TypeError, ValueError):
        return set()


def wrote_part(plan: GenderPlan, user: User) -> bool:
    """Whether ``user`` saved the plan since it was last approved (then they do not approve)."""
    return user.id in _authors(plan) or plan.updated_by_id == user.id


def is_head_of(user: User, unit: Unit) -> bool:
    """Whether ``user`` is the head of ``unit`` itself: a head above it (an office's) reads the
    plans of the units below but approves only its own unit's."""
    return any(g.role == "head" and g.unit_id == unit.id for g in effective_grants(user))


def approve_plan(session: Session, actor: User, plan: GenderPlan, version: int) -> GenderPlan:
    """The unit's own head approves its plan (never a text they wrote any part of since it was
    last approved)."""
    if not is_head_of(actor, plan.unit):
        raise NotFound()
    if plan.version != version:
        raise Conflict(_("This plan was changed by someone else. Reload the page and try again."))
    if plan.status == "approved":
        raise ValidationFailed(_("This plan is already approved."))
    if wrote_part(plan, actor):
        raise ValidationFailed(
            _("You saved this plan yourself: another head of the unit must approve it.")
        )
    if not plan.targets and not plan.text.strip():
        raise ValidationFailed(_("An empty plan cannot be approved: write its text or targets."))
    plan.status = "approved"
    plan.approved_by_id = actor.id
    plan.approved_at = utcnow()
    plan.authors = "[]"
    record(
        session,
        actor,
        "plan.approve",
        plan,
        unit=plan.unit,
        changes={"year": plan.year, "status": ["draft", "approved"], "targets": len(plan.targets)},
    )
    return plan


def plan_for_reading(session: Session, user: User, unit: Unit, year: int) -> GenderPlan | None:
    """The plan of ``unit`` for ``year`` as ``user`` may read it (their unit or one below)."""
    if not covers(user, "report.read", unit):
        raise NotFound()
    check_year(year)
    return plan_of(session, unit, year)


def plan_to_approve(session: Session, user: User, unit: Unit, year: int) -> GenderPlan:
    if not is_head_of(user, unit):
        raise NotFound()
    check_year(year)
    plan = plan_of(session, unit, year)
    if plan is None:
        raise NotFound()
    return plan


def unit_for(session: Session, user: User, code: str | None, permission: str) -> Unit:
    """The unit named in the address or the form, where ``user`` holds ``permission``; the
    user's own unit when no code is given. Anything else: no such page."""
    from caseapp.services.org.units import unit_by_code

    if code:
        unit = unit_by_code(session, code)
    else:
        paths = scope_paths(user, permission)
        unit = session.scalar(select(Unit).where(Unit.path == paths[0])) if paths else None
    if unit is None or not covers(user, permission, unit):
        raise NotFound()
    return unit


def asked_year(raw: str | None) -> int:
    """The plan year in the address (default: the current one); an odd value: no such page."""
    if raw is None or not str(raw).strip():
        return current_year()
    text = str(raw).strip()
    year = int(text) if text.isascii() and text.isdigit() and len(text) == 4 else 0
    if not 2000 <= year <= 2100:
        raise NotFound()
    return year


def shown_period(year: int, today: date | None = None) -> Period:
    """The period whose results a plan's page shows: the first of the year that has not ended
    (the six-month period until it ends, then the annual one); a past year's annual period."""
    today = today or local_today()
    periods = sorted(periods_of(year), key=lambda p: p.date_to)
    return next((p for p in periods if p.date_to >= today), periods[-1])


def units_below(unit: Unit):
    """The open units directly below ``unit``, for the list of their plans."""
    return (
        select(Unit).where(Unit.parent_id == unit.id, Unit.valid_to.is_(None)).order_by(Unit.code)
    )


def plans_by_unit(session: Session, units: list[Unit], year: int) -> dict[int, GenderPlan]:
    if not units:
        return {}
    found = session.scalars(
        select(GenderPlan).where(
            GenderPlan.year == year, GenderPlan.unit_id.in_([u.id for u in units])
        )
    )
    return {plan.unit_id: plan for plan in found}


# --- results ----------------------------------------------------------------------------------


def _figures(session: Session, unit: Unit, period: Period) -> dict[str, int]:
    """The figures the unit's report shows (an office's compiled from its schools)."""
    from caseapp.services.equality.statistics import report_figures

    return report_figures(session, unit, period) or {}


def _activities(unit: Unit, period: Period):
    return select(Activity).where(
        Activity.unit_id == unit.id,
        Activity.held_on >= period.date_from,
        Activity.held_on <= period.date_to,
    )


def _participants(session: Session, unit: Unit, period: Period, *conditions) -> int:
    total = session.scalar(
        select(
            func.coalesce(
                func.sum(
                    Activity.participants_female
                    + Activity.participants_male
                    + Activity.participants_other
                ),
                0,
            )
        ).where(
            Activity.unit_id == unit.id,
            Activity.held_on >= period.date_from,
            Activity.held_on <= period.date_to,
            *conditions,
        )
    )
    return int(total or 0)


def _result(
    session: Session,
    unit: Unit,
    period: Period,
    target: PlanTarget,
    figures: dict[str, int],
    manual: dict[str, int],
) -> int | None:
    measure = target.measure
    if measure == "women_managers_share":
        female, male = figures.get("managers_female"), figures.get("managers_male")
        if female is None or male is None or female + male == 0:
            return None
        return round(100 * female / (female + male))
    if measure == "pupils_reached":
        if "reached_female" in figures or "reached_male" in figures:
            return figures.get("reached_female", 0) + figures.get("reached_male", 0)
        return _participants(session, unit, period, Activity.audience == "pupils")
    if measure == "staff_trained":
        return _participants(
            session,
            unit,
            period,
            Activity.kind == "training",
            Activity.audience.in_(STAFF_AUDIENCES),
        )
    if measure == "activities_held":
        held = _activities(unit, period).with_only_columns(Activity.id)
        linked = select(ActivityTarget.activity_id).where(ActivityTarget.target_id == target.id)
        if session.scalar(select(func.count()).select_from(linked.subquery())):
            held = held.where(Activity.id.in_(linked))
        return int(session.scalar(select(func.count()).select_from(held.subquery())) or 0)
    value = manual.get(str(target.id))
    return value if isinstance(value, int) else None


def target_results(
    session: Session, unit: Unit, period: Period, manual: dict[str, int]
) -> list[dict[str, Any]]:
    """Each target of the unit's plan of the period's year beside its result in the period.
    Statistics are those of the unit's report (an office's compiled from its schools)."""
    plan = plan_of(session, unit, period.date_to.year)
    if plan is None:
        return []
    figures = _figures(session, unit, period)
    return [
        {
            "id": target.id,
            "title": target.title,
            "measure": target.measure,
            "target": target.target_value,
            "result": _result(session, unit, period, target, figures, manual),
        }
        for target in plan.targets
    ]


def manual_results(session: Session, unit: Unit, period: Period) -> dict[str, int]:
    """The results of custom targets written in the unit's period report draft."""
    draft = session.scalar(
        select(WorkReportDraft).where(
            WorkReportDraft.unit_id == unit.id, WorkReportDraft.period_key == period.key
        )
    )
    if draft is None:
        return {}
    try:
        data = json.loads(draft.target_results or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}


def fill(session: Session, unit: Unit, period: Period, report: WorkReport) -> None:
    """Set the report's plan and its targets beside their results."""
    plan = plan_of(session, unit, period.date_to.year)
    if plan is None:
        report.plan = None
        report.targets = []
        return
    report.plan = {
        "year": plan.year,
        "text": plan.text,
        "approved": plan.status == "approved",
        "approved_on": local_today(plan.approved_at).isoformat() if plan.approved_at else None,
    }
    report.targets = target_results(session, unit, period, manual_results(session, unit, period))
