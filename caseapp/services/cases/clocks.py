"""Keeps ``Case.overdue_after`` (the moment after which a case is overdue) in step with its
clocks: after every flush that wrote a case or one of its steps, the moment is computed again
from what the flush left in the database and written in the same transaction.

A session event rather than a call in each service, so that no path that moves a clock (a step
added, finished or corrected, a transition, a reopening, a clock set at intake or by a
self-report, a correction of the risk level) can forget it. The moment is derived data, like an
index: it is written with a plain UPDATE that neither bumps the case's version (no false edit
conflict) nor counts as a change of the case for the audit trail (the change that moved the
clock is audited), and so are the copies of it on the case's steps (``CaseStep.case_overdue_after``,
see step_copies); a new case gets its moment in its INSERT. Each moment moved, and each case
moved to another school with its moment, is handed to the schools' overdue counts
(tallies.moments_moved). ``refresh_all`` recomputes every case (after a migration, a bulk load
or a change of the time zone setting): ``flask --app wsgi cases refresh-clocks``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import cast

from sqlalchemy import Table, bindparam, event, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from caseapp.db import id_batches, table_exists
from caseapp.models import Case, CaseStep, UnitOverdueDayTally
from caseapp.services.cases import tallies
from caseapp.services.cases.deadlines import StepFacts, overdue_after

_cases = Case.__table__
_steps = cast(Table, CaseStep.__table__)
BATCH = 1000
PENDING = "caseapp.clocks_written"


CLOCK_FIELDS = ("status", "intervention_due_at", "verification_due_on", "support_due_on")


def _clock_moved(case: Case) -> bool:
    state = inspect(case)
    return any(state.attrs[name].history.has_changes() for name in CLOCK_FIELDS)


def _touched(session: Session) -> tuple[set[int], dict[int, int]]:
    """The cases whose moment this flush may have moved (a clock field of a loaded case
    changed, or one of its steps was written), and {case id: school before} of the cases it
    moved to another school (their moment moves with them in the schools' counts). A new case
    got its moment before the flush."""
    ids: set[int] = set()
    schools_before: dict[int, int] = {}
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, Case) and obj not in session.deleted:
            if _clock_moved(obj):
                ids.add(obj.id)
            school = inspect(obj).attrs["unit_id"].history
            if school.has_changes() and school.deleted and school.deleted[0] is not None:
                schools_before[obj.id] = school.deleted[0]
                ids.add(obj.id)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, CaseStep) and obj.case_id is not None:
            ids.add(obj.case_id)
    return ids, schools_before


def _before_flush(session: Session, _flush_context, _instances) -> None:
    """A new case has no step in the database yet: its moment goes into its INSERT (a step
    written in the same flush brings it back to ``_after_flush``)."""
    for obj in session.new:
        if isinstance(obj, Case):
            obj.overdue_after = overdue_after(
                obj.status or "new",
                obj.intervention_due_at,
                obj.verification_due_on,
                obj.support_due_on,
                (),
            )


def _moments(conn, ids: Iterable[int]) -> list[tuple[int, int, datetime | None, datetime | None]]:
    """(case id, school, stored moment, moment from its clocks) for the cases ``ids``."""
    ids = list(ids)
    steps: dict[int, list[StepFacts]] = defaultdict(list)
    for row in conn.execute(
        select(
            _steps.c.case_id, _steps.c.kind, _steps.c.done_on, _steps.c.due_on, _steps.c.finding
        ).where(_steps.c.case_id.in_(ids))
    ):
        steps[row.case_id].append(StepFacts(row.kind, row.done_on, row.due_on, row.finding))
    out = []
    for row in conn.execute(
        select(
            _cases.c.id,
            _cases.c.unit_id,
            _cases.c.status,
            _cases.c.intervention_due_at,
            _cases.c.verification_due_on,
            _cases.c.support_due_on,
            _cases.c.overdue_after,
        ).where(_cases.c.id.in_(ids))
    ):
        moment = overdue_after(
            row.status,
            row.intervention_due_at,
            row.verification_due_on,
            row.support_due_on,
            steps.get(row.id, ()),
        )
        out.append((row.id, row.unit_id, row.overdue_after, moment))
    return out


def _naive_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored in UTC), PostgreSQL aware ones.
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _same(stored: datetime | None, moment: datetime | None) -> bool:
    if stored is None or moment is None:
        return stored is moment
    return _naive_utc(stored) == _naive_utc(moment)


def _write(conn, changes: list[dict], steps: bool = True) -> None:
    """The moments ``changes`` on their cases, and on the cases' steps (their copy,
    step_copies: the count of "due today" reads it from the steps alone) unless ``steps`` is
    False (a schema from before the copy: refresh_all in migration 0017)."""
    if changes:
        conn.execute(
            update(Case)
            .where(Case.id == bindparam("case_id"))
            .values(overdue_after=bindparam("moment")),
            changes,
        )
    if changes and steps:
        # Named apart from the steps' column case_id (a parameter named as a column of the
        # table updated would be taken for a value to set).
        conn.execute(
            update(_steps)
            .where(_steps.c.case_id == bindparam("of_case"))
            .values(case_overdue_after=bindparam("moment")),
            [{"of_case": change["case_id"], "moment": change["moment"]} for change in changes],
        )


def _changes(
    found: list[tuple[int, int, datetime | None, datetime | None]],
    schools_before: dict[int, int],
) -> tuple[list[dict], dict[tuple[int, date], int]]:
    """The moments to write of ``found`` (as _moments reads them), and what the cases' moves
    (of moment, of school) add to the schools' overdue counts."""
    changes = []
    counts: dict[tuple[int, date], int] = defaultdict(int)
    for case_id, school, stored, moment in found:
        before = schools_before.get(case_id, school)
        if not _same(stored, moment):
            changes.append({"case_id": case_id, "moment": moment})
        elif before == school:
            continue
        if stored is not None:
            counts[(before, tallies.overdue_day(stored))] -= 1
        if moment is not None:
            counts[(school, tallies.overdue_day(moment))] += 1
    return changes, counts


def _after_flush(session: Session, _flush_context) -> None:
    ids, schools_before = _touched(session)
    if not ids:
        return
    conn = session.connection()
    changes, counts = _changes(_moments(conn, ids), schools_before)
    _write(conn, changes)
    session.info.setdefault(PENDING, []).extend(changes)
    tallies.moments_moved(session, counts)


def _after_flush_postexec(session: Session, _flush_context) -> None:
    """The loaded cases show their new moment (set once the flush has finished with them,
    without marking them changed)."""
    for change in session.info.pop(PENDING, ()):
        case = session.identity_map.get(session.identity_key(Case, change["case_id"]))
        if case is not None:
            set_committed_value(case, "overdue_after", change["moment"])


def install() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_flush_postexec", _after_flush_postexec)


def refresh_all(session: Session) -> int:
    """Compute every case's moment again (batches of ids), then the schools' overdue days and
    months from them (a change of the time zone setting moves the days even where no moment
    moved); the number of cases whose stored moment was wrong. The caller commits."""
    conn = session.connection()
    fixed = 0
    copied = any(
        column["name"] == "case_overdue_after"
        for column in inspect(conn).get_columns(CaseStep.__tablename__)
    )
    for ids in id_batches(conn, _cases, BATCH):
        changes, _counts = _changes(_moments(conn, ids), {})
        _write(conn, changes, copied)
        fixed += len(changes)
    if table_exists(conn, UnitOverdueDayTally.__tablename__):
        tallies.rebuild_overdue(conn)
    return fixed
