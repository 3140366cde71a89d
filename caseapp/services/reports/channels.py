"""The period report's figures on how cases come in: cases by channel (self-report or staff
intake) and the self-reports sent from the schools' public pages, with the time from a report
to the school's first reply. SQL aggregates over the unit's subtree, as in tables.py."""

from __future__ import annotations

from datetime import date

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select, true
from sqlalchemy import case as when
from sqlalchemy.orm import Session, aliased

from caseapp.models import Unit, UnitParentHistory
from caseapp.models.selfreports import REPORT_STATUSES, SelfReport
from caseapp.services.org.history import in_force, rolls_up
from caseapp.services.reports.exclusions import ShownTo

CHANNEL_ROWS = ("self_report", "staff_intake")
# What became of the reports received in the period (each report in one row): still waiting,
# accepted as a new case, merged into a case, closed with a message, marked as spam.
SELF_REPORT_ROWS = ("open", "accepted", "merged", "closed", "spam")
SELF_REPORT_COLUMNS = ("reports",)
# Time to the first reply, in whole days from the day of the report.
REPLY_WITHIN = (1, 3)


def channel_row(received_via):
    """The channel row of a case: self-report, or staff intake (every other way in)."""
    return when((received_via == "self_report", "self_report"), else_="staff_intake")


def self_reports_in(
    unit: Unit,
    date_from: date,
    date_to: date,
    shown: ShownTo | None = None,
    level: str | None = None,
    within: Unit | None = None,
):
    """Conditions for the self-reports of the report: received in the period from the page of
    a school that sat below the unit that day (as cases count at their school); the same
    ``level``, ``within`` and exclusions as the cases (a report that became or joined a case
    the viewer is excluded from is left out with that case). A report counts at a unit only
    when it waits there or below (waits_within): a school's figures never tell that a report
    about its staff went to the office."""
    on, school = SelfReport.received_on, SelfReport.school_id
    conditions = [
        rolls_up(unit, on=on, unit_id=school),
        waits_within(unit),
        *(
            [rolls_up(within, on=on, unit_id=school), waits_within(within)]
            if within is not None
            else []
        ),
        SelfReport.received_on >= date_from,
        SelfReport.received_on <= date_to,
    ]
    if level is not None:
        conditions.append(SelfReport.school_id.in_(select(Unit.id).where(Unit.level == level)))
    if shown is not None:
        conditions.append(or_(SelfReport.case_id.is_(None), ~shown.excluded(SelfReport.case_id)))
    return and_(*conditions)


def waits_within(unit: Unit):
    """The condition "the report waits (or was escalated) at ``unit`` or below it"."""

    def at_or_below(column):
        return exists(select(Unit.id).where(Unit.id == column, Unit.path.startswith(unit.path)))

    return or_(at_or_below(SelfReport.routed_unit_id), at_or_below(SelfReport.escalated_unit_id))


def _outcome():
    """A report's row of the "self-reports" table: what became of it."""
    return when(
        (SelfReport.status.in_(("new", "seen")), "open"),
        *((SelfReport.status == s, s) for s in REPORT_STATUSES if s not in ("new", "seen")),
        else_="open",
    )


def self_report_outcomes(session: Session, scope) -> dict[tuple[str, str], int]:
    """The cells of the "self-reports" table: reports by what became of them."""
    outcome = _outcome()
    cells: dict[tuple[str, str], int] = {}
    for row, n in session.execute(
        select(outcome, func.count()).select_from(SelfReport).where(scope).group_by(outcome)
    ):
        cells[(row, "reports")] = cells.get((row, "reports"), 0) + int(n)
    return cells


def self_report_outcomes_by_school(
    session: Session, unit: Unit, date_from: date, date_to: date, schools: dict[int, bool]
) -> dict[int, dict[tuple[str, str], int]]:
    """The cells of the "self-reports" table of each of ``schools`` (id -> whether it sat
    below ``unit`` all the period) as ``self_reports_in(school, date_from, date_to,
    within=None if whole else unit)`` counts them, in one statement: {school: cells}."""
    school = aliased(Unit)
    on, school_id = SelfReport.received_on, SelfReport.school_id
    row = aliased(UnitParentHistory)
    own = exists(  # rolls_up(school, on, school_id), for each school
        select(row.id).where(
            row.unit_id == school_id,
            row.path.contains(literal("/") + cast(school_id, String) + literal("/")),
            in_force(row, on),
        )
    )

    def at_or_below_school(column):
        below = aliased(Unit)
        return exists(
            select(below.id).where(below.id == column, below.path.startswith(school.path))
        )

    moved = [school_id_ for school_id_, whole in schools.items() if not whole]
    outcome = _outcome()
    stmt = (
        select(school_id, outcome, func.count())
        .select_from(SelfReport)
        .join(school, school.id == school_id)
        .where(
            school_id.in_(list(schools)),
            own,
            or_(
                at_or_below_school(SelfReport.routed_unit_id),
                at_or_below_school(SelfReport.escalated_unit_id),
            ),
            or_(
                ~school_id.in_(moved),
                and_(rolls_up(unit, on=on, unit_id=school_id), waits_within(unit)),
            )
            if moved
            else true(),
            on >= date_from,
            on <= date_to,
        )
        .group_by(school_id, outcome)
    )
    found: dict[int, dict[tuple[str, str], int]] = {}
    for school_of, row_key, n in session.execute(stmt):
        cells = found.setdefault(school_of, {})
        cells[(row_key, "reports")] = cells.get((row_key, "reports"), 0) + int(n)
    return found


def median_of_counts(counts: list[tuple[int, int]]) -> float | None:
    """The median of values given as (value, how many), sorted by value."""
    n = sum(k for _v, k in counts)
    if n == 0:
        return None
    wanted = ((n + 1) // 2, (n + 2) // 2)  # 1-based positions of the middle value(s)
    found: list[int] = []
    seen = 0
    for value, k in counts:
        for position in wanted:
            if seen < position <= seen + k:
                found.append(value)
        seen += k
    return round(sum(found) / len(found), 1)


def reply_times(session: Session, scope, days_between) -> dict:
    """Time from report to the first reply: the days of each answered report grouped by
    value (one row per distinct delay, never one per report), the median from those groups,
    the share answered within 1 and 3 days, and the reports not answered yet."""
    days = days_between(SelfReport.first_reply_on, SelfReport.received_on)
    grouped = [
        (int(d), int(n))
        for d, n in session.execute(
            select(days.label("days"), func.count())
            .select_from(SelfReport)
            .where(scope, SelfReport.first_reply_on.is_not(None))
            .group_by(days)
            .order_by(days)
        )
    ]
    unanswered = session.scalar(
        select(func.count())
        .select_from(SelfReport)
        .where(scope, SelfReport.first_reply_on.is_(None))
    )
    answered = sum(n for _d, n in grouped)

    def share(limit: int) -> float | None:
        within = sum(n for d, n in grouped if d <= limit)
        return round(100 * within / answered, 1) if answered else None

    return {
        "self_reports_answered": answered,
        "self_reports_not_answered": int(unanswered or 0),
        "median_days_to_first_reply": median_of_counts(grouped),
        "share_answered_within_1_day": share(REPLY_WITHIN[0]),
        "share_answered_within_3_days": share(REPLY_WITHIN[1]),
    }
