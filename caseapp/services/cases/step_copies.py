"""Keeps facts of a case on each of its steps: its school (``CaseStep.unit_id``), the day it
was received (``CaseStep.received_on``) and its status (``CaseStep.case_status``); its overdue
moment (``CaseStep.case_overdue_after``) is read here for a new step, and written to the steps
by cases.clocks as it moves. "My work" reads a school's follow-ups of the next two weeks from an
index by school (ix_case_steps_unit_follow_ups_due) instead of every school's follow-ups of the
window, the case list's "due today" reads the steps due today in the list's order, newest case
first (ix_case_steps_due_open_received), instead of finding every case of every step due today
to sort them (issue 16: 16 and 24 ms at 1,000,000 cases, growing with the archive), and its
count reads the steps due today alone (ix_case_steps_due_open_case), where it looked up the
case of each to test its status and moment (7.3 against 1.2 ms there).

A session event, as cases.clocks keeps the overdue moment, so that no path can forget it: a
new step gets its case's facts before its INSERT; a case moved to another school, whose day
received is corrected or whose status changes takes its steps along in the same flush, with a
plain UPDATE (derived data: the change of the case is the audited change).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, event, inspect, or_, select, update
from sqlalchemy.orm import Session

from caseapp.db import id_batches
from caseapp.models import Case, CaseStep

_steps = cast(Table, CaseStep.__table__)
# {the case's column: its copy on each step}, changed through the session (ORM history).
COPIED = {"unit_id": "unit_id", "received_on": "received_on", "status": "case_status"}
# ... and the one cases.clocks writes with a plain UPDATE (no history to follow here): read
# for a new step only.
MOMENT = ("overdue_after", "case_overdue_after")


def _before_flush(session: Session, _flush_context, _instances) -> None:
    new_steps = [
        obj for obj in session.new if isinstance(obj, CaseStep) and obj.case_id is not None
    ]
    # The cases of every step this flush writes are locked before their steps: a change that
    # moves a case's moment or status updates all the case's steps after the case's row
    # (cases.clocks, _after_flush), so a step's row locked first (a step finished) would wait
    # for the case's while another request holding the case waits for that step (a deadlock
    # between two people finishing two steps of one case).
    written = new_steps + [
        obj
        for obj in (*session.dirty, *session.deleted)
        if isinstance(obj, CaseStep) and obj.case_id is not None
    ]
    if not written:
        return
    # Read from the database with the cases' rows locked (PostgreSQL; SQLite has one writer at
    # a time), in the order of their ids: a correction of the case committed by another
    # request after this read could not see this uncommitted step to update its copy. A lock
    # that does not block inserts of other steps; the correction waits for this transaction
    # (and its UPDATE of the steps then sees this one), or this read waits for it. A change of
    # the case in this same flush is copied by _after_flush to every step, this one included.
    ids = sorted({obj.case_id for obj in written})
    with session.no_autoflush:
        facts = {
            row.id: row
            for row in session.execute(
                select(Case.id, *(getattr(Case, name) for name in (*COPIED, MOMENT[0])))
                .where(Case.id.in_(ids))
                .order_by(Case.id)
                .with_for_update(key_share=True)  # FOR NO KEY UPDATE
            )
        }
    for obj in new_steps:
        row = facts.get(obj.case_id)
        if row is not None:  # else the step's foreign key refuses it
            for name, copy in (*COPIED.items(), MOMENT):
                setattr(obj, copy, getattr(row, name))


def _after_flush(session: Session, _flush_context) -> None:
    changed = []
    for obj in session.dirty:
        if not isinstance(obj, Case) or obj in session.deleted:
            continue
        attrs = inspect(obj).attrs
        if any(getattr(attrs, name).history.has_changes() for name in COPIED):
            changed.append((obj.id, {copy: getattr(obj, name) for name, copy in COPIED.items()}))
    if not changed:
        return
    conn = session.connection()
    for case_id, values in changed:
        conn.execute(update(_steps).where(_steps.c.case_id == case_id).values(**values))


def refresh_all(session: Session, batch: int = 1000) -> int:
    """Copy each case's facts again onto those of its steps whose copies differ (after a bulk
    load or a repair that wrote cases or steps past the services; every change made through
    the session keeps them by itself), in batches of cases; the number of steps corrected.
    Run after cases.clocks.refresh_all, which writes the moments first. The caller commits."""
    conn = session.connection()
    cases = cast(Table, Case.__table__)
    pairs = [(cases.c[name], _steps.c[copy]) for name, copy in (*COPIED.items(), MOMENT)]
    fixed = 0
    for ids in id_batches(conn, cases, batch):
        result = conn.execute(
            update(_steps)
            .where(
                _steps.c.case_id == cases.c.id,
                cases.c.id.in_(ids),
                or_(*(copy.is_distinct_from(fact) for fact, copy in pairs)),
            )
            .values({copy: fact for fact, copy in pairs})
        )
        fixed += result.rowcount
    return fixed


def install() -> None:
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
