"""The chain's health, cheaply: gaps in the window, a checkpoint beyond the head, a stale
checkpoint."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import aliased

from caseapp.clock import zone
from caseapp.models import AuditCheckpoint, AuditEvent, User
from caseapp.runtime import settings
from caseapp.security.authz import scope_paths
from caseapp.services.audit.attention.item import Item
from caseapp.services.audit.attention.window import Window, aware

FIRST_EVENTS = 1_000


def may_review(user: User | None) -> bool:
    """Whether ``user`` may review the chain's health: it concerns the whole trail, so only an
    auditor whose audit scope includes a top unit (one with no parent, path "/<id>/")."""
    return user is not None and any(p.count("/") == 2 for p in scope_paths(user, "audit.read"))


def _first_of_window(w: Window) -> int | None:
    """The least number among the window's earliest events (FIRST_EVENTS of them, read in
    time order from the index on the time): the trail is in time order but for the events
    dated at the start of their day (a self-reporter's), which come first in it. The least
    number of all the window's events walked the trail by number from its very start, the
    planner counting on finding the window's events at once (54 ms at 500,000 events, and
    the same for the window's first day alone: 0.4 ms this way)."""
    earliest = (
        select(AuditEvent.seq)
        .where(AuditEvent.at >= w.start)
        .order_by(AuditEvent.at)
        .limit(FIRST_EVENTS)
        .subquery()
    )
    return w.session.scalar(select(func.min(earliest.c.seq)))


def chain(w: Window) -> list[Item]:
    """Gaps in the sequence of the window, a checkpoint beyond the head, and the newest signed
    checkpoint older than ``attention_checkpoint_hours``. Cheap: counts and one lookup, not a
    verification (the chain status page and `audit verify` do that)."""
    found = []
    first = _first_of_window(w)
    head = w.session.scalar(select(func.max(AuditEvent.seq))) or 0
    if first is not None:
        first = max(first - 1, 1)  # include the link into the window
        count = w.session.scalar(select(func.count()).where(AuditEvent.seq >= first))
        if count != head - first + 1:
            nxt = aliased(AuditEvent)
            before_gap = w.session.scalar(
                select(func.min(AuditEvent.seq)).where(
                    AuditEvent.seq >= first,
                    AuditEvent.seq < head,
                    ~exists().where(nxt.seq == AuditEvent.seq + 1),
                )
            )
            if before_gap is not None:
                following = (
                    w.session.scalar(
                        select(func.min(AuditEvent.seq)).where(AuditEvent.seq > before_gap)
                    )
                    or head
                )
                found.append(
                    Item(
                        key=f"gap:{before_gap + 1}",
                        kind="gap",
                        severity="high",
                        at=w.now,
                        who="system",
                        seqs=[before_gap, following],
                        count=following - before_gap - 1,
                        details={"first": before_gap + 1, "next": following},
                    )
                )
    cp = w.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1))
    if cp is not None and cp.seq > head:
        found.append(
            Item(
                key=f"truncated:{cp.seq}:{head}",
                kind="truncated",
                severity="high",
                at=aware(cp.at),
                who="system",
                details={"seq": cp.seq, "head": head},
            )
        )
    newest = w.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.at.desc()).limit(1))
    limit = timedelta(hours=settings().attention_checkpoint_hours)
    if newest is None or aware(newest.at) < w.now - limit:
        today = w.now.astimezone(zone()).date()
        hours = None if newest is None else int((w.now - aware(newest.at)).total_seconds() // 3600)
        found.append(
            Item(
                key=f"checkpoint:{newest.seq if newest else 0}:{today.isoformat()}",
                kind="checkpoint",
                severity="high",
                at=w.now,
                who="system",
                details={"hours": hours},
                events_filter={"action": "audit.checkpoint"},
            )
        )
    return found
