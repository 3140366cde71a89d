"""Recording audit events in the transaction of the change, and the guard that insists on it."""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, event, inspect, select, text
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import AUDITED_MODELS, AuditEvent, AuditEventName
from caseapp.runtime import keyring
from caseapp.security.audit_chain import GENESIS, chain_hash
from caseapp.services.audit import sealed_text

if TYPE_CHECKING:
    from caseapp.models import User

# Fields never shown in an audit diff, only reported as "changed".
SECRET_FIELDS = frozenset({"password_hash", "totp_secret", "code_hash", "token_hash"})
# Bookkeeping fields left out of diffs.
QUIET_FIELDS = frozenset({"version", "created_at"})
ADVISORY_LOCK_KEY = 0x5AFE5C400  # serialises appends to the chain on PostgreSQL
# Events whose object is not the account they concern, naming it inside their changes (under
# NAME_KEYS): an exclusion (its object is the case's exclusion row, gone once lifted) and the
# approvals (their object is the request). Each name is kept beside the event
# (AuditEventName), so that the account's history finds them by index (accounts/history.py).
NAMED_INSIDE = (
    "case.exclude",
    "case.exclusion_lift",
    "approval.request",
    "approval.approve",
    "approval.reject",
    "approval.cancel",
)
NAME_KEYS = ("user", "subject")


class AuditMissing(RuntimeError):
    """A change to an audited model reached the database without its audit event."""


@dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    ip: str = ""


_NO_CONTEXT = AuditContext()
audit_context: ContextVar[AuditContext] = ContextVar("audit_context", default=_NO_CONTEXT)  # noqa: B039 - frozen


def _covered(session: Session) -> list:
    return session.info.setdefault("audit_covered", [])


def _ids(session: Session, key: str) -> set[int]:
    """The id() of the objects in the list ``key`` of session.info (which keeps them alive, so
    the ids stay theirs): membership in constant time, for transactions of thousands of objects
    (an import)."""
    return session.info.setdefault(key + "_ids", set())


def _actor_fields(actor: User | None) -> tuple[int | None, str, str]:
    if actor is None:
        return None, "system", "[]"
    roles = sorted({f"{g.role}@{g.unit.code}" for g in actor.active_grants})
    return actor.id, actor.username, json.dumps(roles, ensure_ascii=False)


def _pk(obj) -> str:
    identity = inspect(obj).identity
    return "" if identity is None else ":".join(str(v) for v in identity)


def changes_of(obj) -> dict:
    """{field: [old, new]} for clear fields, {field: "changed"} for secret ones."""
    state = inspect(obj)
    result: dict = {}
    for attr in state.mapper.column_attrs:
        name = attr.key
        if name in QUIET_FIELDS:
            continue
        hist = state.attrs[name].history
        if not hist.has_changes():
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if name in SECRET_FIELDS or isinstance(old, bytes) or isinstance(new, bytes):
            result[name] = "changed"  # sealed or secret: never the value, never the ciphertext
            continue
        if old == new:
            continue
        result[name] = [_plain(old), _plain(new)]
    return result


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return "changed"
    return str(value)


def record(
    session: Session,
    actor: User | None,
    action: str,
    target=None,
    *,
    unit=None,
    changes: dict | None = None,
    reason: str = "",
    object_type: str = "",
    object_id: str = "",
    object_ref: str = "",
    covers: tuple = (),
    case=None,
    day_only: bool = False,
) -> AuditEvent:
    """Append one event to the chain, in the session's transaction.

    ``day_only``: the event's time is the start of the local day, not the moment, and it
    carries no request id or address (what a self-reporter does: nothing may tell when in the
    day they wrote, nor tie the event to a log line).

    ``target`` (and ``covers``) are the audited objects this event accounts for: they may be
    flushed from now on. Call it after making the change so the diff can be read.

    ``reason`` is sealed under the audit text key of the event's case (``case``, else the case
    the target is or belongs to, else a case among ``covers``), or the service key for an event
    about no case; the chain covers the sealed token (services/audit/sealed_text.py).
    """
    # Views pass Flask-Login's current_user, a proxy: the guard compares the real objects.
    target = _real(target)
    covers = tuple(_real(obj) for obj in covers)
    covered = _covered(session)
    covered_ids = _ids(session, "audit_covered")
    objects = ([target] if target is not None else []) + list(covers)
    for obj in objects:
        if id(obj) not in covered_ids:
            covered.append(obj)
            covered_ids.add(id(obj))
    if changes is None and target is not None:
        changes = changes_of(target)
    if target is not None:
        session.flush()  # assigns the id of a new object; the guard passes, it is covered
        object_type = object_type or type(target).__tablename__
        object_id = object_id or _pk(target)
    head = _head(session)  # takes the append lock first: text keys are made under it
    case_id = case_of(case, target, covers, object_type, object_id)
    key = keyring().active("audit")
    actor_id, actor_name, actor_roles = _actor_fields(actor)
    ctx = _NO_CONTEXT if day_only else audit_context.get()
    ev = AuditEvent(
        seq=head[0] + 1,
        at=_day_start() if day_only else utcnow(),
        actor_id=actor_id,
        actor_name=actor_name,
        actor_roles=actor_roles,
        unit_id=unit.id if unit is not None else None,
        unit_path=unit.path if unit is not None else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_ref=object_ref,
        changes=json.dumps(changes or {}, sort_keys=True, ensure_ascii=False),
        reason=sealed_text.seal_text(session, case_id, head[0] + 1, reason or ""),
        request_id=ctx.request_id,
        ip=ctx.ip,
        prev_hash=head[1],
        key_id=key.id,
    )
    ev.hash = chain_hash(key.secret, ev.prev_hash, _event_dict(ev))
    session.add(ev)
    if action in NAMED_INSIDE:
        session.add_all(AuditEventName(seq=ev.seq, username=n) for n in names_inside(changes))
    session.info["audit_head"] = (ev.seq, ev.hash)
    return ev


def names_inside(changes: dict | None) -> list[str]:
    """The accounts an event of NAMED_INSIDE names in its changes, each once."""
    values = ((changes or {}).get(key) for key in NAME_KEYS)
    return sorted({v for v in values if isinstance(v, str) and v})


def _day_start():
    from caseapp.clock import local_today, start_of_local_day

    return start_of_local_day(local_today())


def case_of(case, target, covers: tuple, object_type: str, object_id) -> int | None:
    """The id of the case an event is about: given, the target itself or its case, the
    ``cases`` row it names, or the first case among the objects it covers."""
    from caseapp.models import Case

    if case is not None:
        return case if isinstance(case, int) else case.id
    for obj in (target, *covers):
        if isinstance(obj, Case):
            return obj.id
        case_id = getattr(obj, "case_id", None) if obj is not None else None
        if isinstance(case_id, int):
            return case_id
    if object_type == "cases" and str(object_id).isdigit():
        return int(object_id)
    return None


def _real(obj):
    """The object behind a context-local proxy (such as current_user), else obj itself."""
    unwrap = getattr(obj, "_get_current_object", None)
    return unwrap() if callable(unwrap) else obj


def _event_dict(ev: AuditEvent) -> dict:
    return {c.key: getattr(ev, c.key) for c in inspect(AuditEvent).column_attrs}


def hold_chain(session: Session, writes: tuple = (), params: dict | None = None) -> bool:
    """Take the chain's append lock now (PostgreSQL; held to the end of the transaction), for
    a writer about to lock rows that other transactions lock before their own events: the
    per-school tallies (services/cases/tallies.py). Every such row is then locked after the
    chain, never before it, so a transaction holding the chain never waits for a row held by
    one waiting for the chain (no deadlock). The head read with it serves record().

    ``writes``: data-modifying CTEs (with ``params``) run in the statement that reads the head,
    under the lock already taken (one round trip less while the chain is held); True if they
    ran, False if the caller must run them (the chain was held already, or not PostgreSQL)."""
    if "audit_head" in session.info or session.get_bind().dialect.name != "postgresql":
        return False
    # Kept like record() keeps the event it appended: under the lock, until the end of the
    # transaction (or of a savepoint rolled back: _reset), nobody else appends.
    session.info["audit_head"] = _head(session, writes, params)
    return bool(writes)


def _head(session: Session, writes: tuple = (), params: dict | None = None) -> tuple[int, str]:
    if "audit_head" in session.info:
        return session.info["audit_head"]
    with session.no_autoflush:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        events = cast(Table, AuditEvent.__table__)  # the table: no ORM work for two columns
        # A statement after the lock's: its snapshot sees the last holder's committed event.
        head = select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)
        if writes:
            head = head.add_cte(*writes)
        row = session.execute(head, params or {}).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def _reset(session: Session, *_args) -> None:
    sealed_text.forget_cached(session)
    for key in ("audit_head", "audit_covered", "audit_changed"):
        session.info.pop(key, None)
        session.info.pop(key + "_ids", None)


def _pending_changes(session: Session) -> list:
    found = []
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, AUDITED_MODELS):
            continue
        if obj in session.dirty and not session.is_modified(obj):
            continue
        found.append(obj)
    return found


def _collect(session: Session, _flush_context) -> None:
    """Remember every audited object each flush writes (autoflushes included)."""
    changed = session.info.setdefault("audit_changed", [])
    changed_ids = _ids(session, "audit_changed")
    for obj in _pending_changes(session):
        if id(obj) not in changed_ids:
            changed.append(obj)
            changed_ids.add(id(obj))


def _guard(session: Session) -> None:
    """Refuse to commit a transaction that changed an audited object without its event.

    Checked at commit rather than at each flush, because lazy loads autoflush half-made
    changes before the service has recorded them; the transaction is the unit that counts.
    """
    covered = {id(o) for o in session.info.get("audit_covered", [])}
    for obj in session.info.get("audit_changed", []) + _pending_changes(session):
        if id(obj) not in covered:
            raise AuditMissing(
                f"{type(obj).__name__} changed without an audit event in the same transaction"
            )


def install_guard() -> None:
    if not event.contains(Session, "before_commit", _guard):
        event.listen(Session, "after_flush", _collect)
        event.listen(Session, "before_commit", _guard)
        event.listen(Session, "after_commit", _reset)
        event.listen(Session, "after_rollback", _reset)
        event.listen(Session, "after_soft_rollback", _reset)
