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

from sqlalchemy import Table, event, inspect, update
from sqlalchemy.orm import Session

from caseapp.models import Case, CaseStep

_steps = cast(Table, CaseStep.__table__)
COPIED = ("unit_id", "received_on")  # the same name on the case and on its steps


def _before_flush(session: Session, _flush_context, _instances) -> None:
    for obj in session.new:
        if isinstance(obj, CaseStep) and obj.case_id is not None:
            if obj.unit_id is not None and obj.received_on is not None:
                continue
            with session.no_autoflush:
                case = session.get(Case, obj.case_id)
            if case is not None:
                obj.unit_id = case.unit_id
                obj.received_on = case.received_on


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
