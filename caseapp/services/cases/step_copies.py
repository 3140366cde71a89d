"""Keeps two facts of a case on each of its steps: its school (``CaseStep.unit_id``) and the
day it was received (``CaseStep.received_on``). "My work" reads a school's follow-ups of the
next two weeks from an index by school (ix_case_steps_unit_follow_ups_due) instead of every
school's follow-ups of the window, and the case list's "due today" reads the steps due today in
the list's order, newest case first (ix_case_steps_due_open_received), instead of finding every
case of every step due today to sort them (issue 16: 16 and 24 ms at 1,000,000 cases, growing
with the archive).

A session event, as cases.clocks keeps the overdue moment, so that no path can forget it: a
new step gets its case's school and day received before its INSERT; a case moved to another
school or whose day received is corrected takes its steps along in the same flush, with a
plain UPDATE (derived data: the correction of the case is the audited change).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, event, inspect, select, update
from sqlalchemy.orm import Session

from caseapp.models import Case, CaseStep

_steps = cast(Table, CaseStep.__table__)
COPIED = ("unit_id", "received_on")  # the same name on the case and on its steps


def _before_flush(session: Session, _flush_context, _instances) -> None:
    new_steps = [
        obj for obj in session.new if isinstance(obj, CaseStep) and obj.case_id is not None
    ]
    if not new_steps:
        return
    # Read from the database with the cases' rows locked (PostgreSQL; SQLite has one writer at
    # a time), in the order of their ids: a correction of the case committed by another
    # request after this read could not see this uncommitted step to update its copy. A lock
    # that does not block inserts of other steps; the correction waits for this transaction
    # (and its UPDATE of the steps then sees this one), or this read waits for it. A change of
    # the case in this same flush is copied by _after_flush to every step, this one included.
    ids = sorted({obj.case_id for obj in new_steps})
    with session.no_autoflush:
        facts = {
            row.id: row
            for row in session.execute(
                select(Case.id, *(getattr(Case, name) for name in COPIED))
                .where(Case.id.in_(ids))
                .order_by(Case.id)
                .with_for_update(key_share=True)  # FOR NO KEY UPDATE
            )
        }
    for obj in new_steps:
        row = facts.get(obj.case_id)
        if row is not None:  # else the step's foreign key refuses it
            for name in COPIED:
                setattr(obj, name, getattr(row, name))


def _after_flush(session: Session, _flush_context) -> None:
    changed = []
    for obj in session.dirty:
        if not isinstance(obj, Case) or obj in session.deleted:
            continue
        attrs = inspect(obj).attrs
        if any(getattr(attrs, name).history.has_changes() for name in COPIED):
            changed.append((obj.id, {name: getattr(obj, name) for name in COPIED}))
    if not changed:
        return
    conn = session.connection()
    for case_id, values in changed:
        conn.execute(update(_steps).where(_steps.c.case_id == case_id).values(**values))


def install() -> None:
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
