"""Keeps on each case the instant of its last transition to "closed" (``Case.closed_at``), so
that what falls due for retention is read from an index of the closed cases not yet shredded
(ix_cases_closed_kept) instead of the latest closure of every case of the archive, grouped
anew on every visit of the retention page (issue 16: 3 s a visit at 1,000,000 cases, for an
empty list).

A session event, as cases.clocks and step_copies keep their facts, so that no path can forget
it: every transition to "closed" written through the session moves the case's instant, in the
same flush, with a plain UPDATE (derived data: the transition is the audited change). The
instant only moves forward: the latest closure counts, whatever order the rows come in. A case
reopened keeps it (it is not closed: the retention reads closed cases only) until it closes
again.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, event, func, or_, select, update
from sqlalchemy.orm import Session

from caseapp.db import id_batches
from caseapp.models import Case, CaseTransition

_cases = cast(Table, Case.__table__)
_transitions = cast(Table, CaseTransition.__table__)


def _after_flush(session: Session, _flush_context) -> None:
    closed = [
        obj for obj in session.new if isinstance(obj, CaseTransition) and obj.to_status == "closed"
    ]
    if not closed:
        return
    conn = session.connection()
    t = _transitions.c
    for row in sorted(closed, key=lambda r: (r.case_id, r.id)):
        # The row's instant as written (its default is set by the INSERT).
        at = select(t.at).where(t.id == row.id).scalar_subquery()
        conn.execute(
            update(_cases)
            .where(
                _cases.c.id == row.case_id,
                or_(_cases.c.closed_at.is_(None), _cases.c.closed_at < at),
            )
            # Derived data: the case's own moment of change stays its own.
            .values(closed_at=at, updated_at=_cases.c.updated_at)
        )
    session.info.setdefault("closures_moved", set()).update(row.case_id for row in closed)


def _after_flush_postexec(session: Session, _flush_context) -> None:
    """A case of the session whose instant moved reads it again when next asked."""
    for case_id in session.info.pop("closures_moved", ()):
        case = session.identity_map.get(session.identity_key(Case, case_id))
        if case is not None:
            session.expire(case, ["closed_at"])


def latest_closure(case_id):
    """The instant of the last transition of ``case_id`` to "closed" (a scalar subquery)."""
    t = _transitions.c
    return (
        select(func.max(t.at))
        .where(t.case_id == case_id, t.to_status == "closed")
        .scalar_subquery()
    )


def refresh_all(session: Session, batch: int = 1000) -> int:
    """Read each case's last closure again where its instant differs (after a bulk load or a
    repair that wrote transitions past the services), in batches; the number corrected. The
    caller commits."""
    conn = session.connection()
    fixed = 0
    for ids in id_batches(conn, _cases, batch):
        latest = latest_closure(_cases.c.id)
        result = conn.execute(
            update(_cases)
            .where(_cases.c.id.in_(ids), _cases.c.closed_at.is_distinct_from(latest))
            .values(closed_at=latest, updated_at=_cases.c.updated_at)
        )
        fixed += result.rowcount
    return fixed


def install() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_flush_postexec", _after_flush_postexec)
