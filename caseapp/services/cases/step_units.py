"""Keeps ``CaseStep.unit_id`` equal to the school of its case: "my work" reads a school's
follow-ups of the next two weeks from an index by school (ix_case_steps_unit_follow_ups_due)
instead of every school's follow-ups of the window (issue 16: 16 ms at 1,000,000 cases, and
growing with the archive).

A session event, as cases.clocks keeps the overdue moment, so that no path can forget it: a
new step gets its case's school before its INSERT; a case moved to another school (a
correction) takes its steps along in the same flush, with a plain UPDATE (derived data: the
move of the case is the audited change).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, event, inspect, update
from sqlalchemy.orm import Session

from caseapp.models import Case, CaseStep

_steps = cast(Table, CaseStep.__table__)


def _before_flush(session: Session, _flush_context, _instances) -> None:
    for obj in session.new:
        if isinstance(obj, CaseStep) and obj.unit_id is None and obj.case_id is not None:
            with session.no_autoflush:
                case = session.get(Case, obj.case_id)
            if case is not None:
                obj.unit_id = case.unit_id


def _after_flush(session: Session, _flush_context) -> None:
    moved = [
        (obj.id, obj.unit_id)
        for obj in session.dirty
        if isinstance(obj, Case)
        and obj not in session.deleted
        and inspect(obj).attrs.unit_id.history.has_changes()
    ]
    if not moved:
        return
    conn = session.connection()
    for case_id, unit_id in moved:
        conn.execute(update(_steps).where(_steps.c.case_id == case_id).values(unit_id=unit_id))


def install() -> None:
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
