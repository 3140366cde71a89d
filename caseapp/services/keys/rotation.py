"""Key rotation and retirement: new keys become active; sealed values are rewrapped, resumably."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caseapp.models import AuditCheckpoint, AuditEvent, AuditTextKey, Case, User, UserSession
from caseapp.models.privacy import SubjectRequest
from caseapp.models.selfreports import SelfReport
from caseapp.security.crypto import associated_data, seal_with_keyring, unseal_with_keyring
from caseapp.security.keyring import Keyring, KeyringError, new_key
from caseapp.services.audit.trail import record
from caseapp.services.keys import binding as key_binding

ROTATABLE = ("wrap", "audit", "signing")
BATCH = 200


class KeyInUse(Exception):
    pass


def sealed_key_id(blob: bytes | None) -> str | None:
    """The id of the key that sealed ``blob`` (None for an empty column)."""
    if blob is None:
        return None
    return blob[1 : 1 + blob[0]].decode("ascii")


def _stale(session: Session, keyring: Keyring, column) -> Iterator:
    """Rows whose sealed ``column`` (a TOTP secret, a case's or a request's data key) is sealed
    under a key other than the active wrapping key, a batch at a time by id."""
    model = column.class_
    active = keyring.active("wrap").id
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(model)
                .where(model.id > last, column.is_not(None))
                .order_by(model.id)
                .limit(BATCH)
            )
        )
        if not rows:
            return
        for row in rows:
            if sealed_key_id(getattr(row, column.key)) != active:
                yield row
        last = rows[-1].id


def _stale_secrets(session: Session, keyring: Keyring) -> Iterator[User]:
    """Accounts whose TOTP secret is sealed under a key other than the active wrapping key."""
    return _stale(session, keyring, User.totp_secret)


def _stale_case_keys(session: Session, keyring: Keyring) -> Iterator[Case]:
    """Cases whose data key is wrapped by a key other than the active wrapping key."""
    return _stale(session, keyring, Case.wrapped_key)


def _stale_request_keys(session: Session, keyring: Keyring) -> Iterator[SubjectRequest]:
    """Requests from data subjects whose data key is wrapped by a key other than the active one."""
    return _stale(session, keyring, SubjectRequest.wrapped_key)


def _stale_report_keys(session: Session, keyring: Keyring) -> Iterator[SelfReport]:
    """Self-reports whose data key is wrapped by a key other than the active one."""
    return _stale(session, keyring, SelfReport.wrapped_key)


def _stale_audit_text_keys(session: Session, keyring: Keyring) -> list[AuditTextKey]:
    """Audit text keys (not destroyed) wrapped by a key other than the active wrapping key."""
    active = keyring.active("wrap").id
    return [
        row
        for row in session.scalars(
            select(AuditTextKey)
            .where(AuditTextKey.wrapped_key.is_not(None))
            .order_by(AuditTextKey.id)
        )
        if sealed_key_id(row.wrapped_key) != active
    ]


@dataclass(frozen=True)
class _DataKeyHolder:
    """Records that hold their own data key, wrapped by the keyring with the associated data
    <table>|<ad_id>|data_key."""

    stale: Callable[[Session, Keyring], Iterator[Any]]
    table: str
    ad_id: Callable[[Any], str]
    unit: Callable[[Any], Any]
    ref: Callable[[Any], str]
    column: Any  # the wrapped_key column, for retire


_DATA_KEY_HOLDERS = (
    _DataKeyHolder(
        _stale_case_keys,
        "cases",
        lambda c: c.public_id,
        lambda c: c.unit,
        lambda c: c.reference,
        Case.wrapped_key,
    ),
    _DataKeyHolder(
        _stale_request_keys,
        "subject_requests",
        lambda r: r.uid,
        lambda r: r.unit,
        lambda r: r.reference,
        SubjectRequest.wrapped_key,
    ),
    _DataKeyHolder(
        _stale_report_keys,
        "self_reports",
        lambda r: r.uid,
        lambda r: r.routed_unit,
        lambda r: "",
        SelfReport.wrapped_key,
    ),
)


def count_stale(session: Session, keyring: Keyring) -> int:
    return (
        sum(1 for _ in _stale_secrets(session, keyring))
        + sum(sum(1 for _ in h.stale(session, keyring)) for h in _DATA_KEY_HOLDERS)
        + len(_stale_audit_text_keys(session, keyring))
    )


def rewrap(
    session: Session,
    keyring: Keyring,
    progress: Callable[[int], None] | None = None,
    commit_every: int = BATCH,
) -> int:
    """Reseal every value still under an old wrapping key; commits in batches, so an interrupted
    run is resumed by running it again."""
    done = 0
    for user in list(_stale_secrets(session, keyring)):
        ad = associated_data("users", user.id, "totp_secret")
        assert user.totp_secret is not None  # _stale_secrets selects only sealed secrets
        user.totp_secret = seal_with_keyring(
            keyring, unseal_with_keyring(keyring, user.totp_secret, ad), ad
        )
        record(
            session, None, "keys.rewrap", user, unit=user.unit, changes={"totp_secret": "changed"}
        )
        done += 1
        if progress:
            progress(1)
        if done % commit_every == 0:
            session.commit()
    # Data keys (cases, requests from data subjects, self-reports): only the wrapping changes;
    # what each key seals is untouched.
    for holder in _DATA_KEY_HOLDERS:
        for row in list(holder.stale(session, keyring)):
            ad = associated_data(holder.table, holder.ad_id(row), "data_key")
            assert row.wrapped_key is not None  # the stale iterators select only wrapped keys
            row.wrapped_key = seal_with_keyring(
                keyring, unseal_with_keyring(keyring, row.wrapped_key, ad), ad
            )
            record(
                session,
                None,
                "keys.rewrap",
                row,
                unit=holder.unit(row),
                object_ref=holder.ref(row),
                changes={"wrapped_key": "changed"},
            )
            done += 1
            if progress:
                progress(1)
            if done % commit_every == 0:
                session.commit()
    # Audit text keys: rewrapped the same way; the sealed reasons are untouched.
    from sqlalchemy import update  # only here: the guarded write below
    from sqlalchemy.engine import CursorResult

    for row in _stale_audit_text_keys(session, keyring):
        ad = associated_data("audit_text_keys", row.scope, "key")
        old = row.wrapped_key
        assert old is not None  # only keys not destroyed are stale
        # Guarded: a key destroyed (or rewrapped) since it was read stays as it is now; a
        # destroyed key is never written back.
        result: CursorResult = session.execute(  # type: ignore[assignment]  # an UPDATE's
            update(AuditTextKey)
            .where(
                AuditTextKey.id == row.id,
                AuditTextKey.destroyed_at.is_(None),
                AuditTextKey.wrapped_key == old,
            )
            .values(
                wrapped_key=seal_with_keyring(keyring, unseal_with_keyring(keyring, old, ad), ad)
            )
            .execution_options(synchronize_session=False)
        )
        session.expire(row)
        if not result.rowcount:
            continue
        record(
            session,
            None,
            "keys.rewrap",
            object_type="audit_text_keys",
            object_id=str(row.id),
            changes={"wrapped_key": "changed"},
        )
        done += 1
        if progress:
            progress(1)
        if done % commit_every == 0:
            session.commit()
    # Secrets offered during an enrolment in progress: simply offered again.
    for pending in session.scalars(
        select(UserSession).where(UserSession.pending_totp_secret.is_not(None))
    ):
        pending.pending_totp_secret = None
    session.commit()
    return done


def rotate(session: Session, keyring: Keyring, purpose: str) -> str:
    """Add a key for ``purpose``, make it active and save the keyring before anything uses it."""
    if purpose not in ROTATABLE:
        raise KeyringError(f"keys of purpose {purpose!r} cannot be rotated")
    old = keyring.active(purpose).id
    key = new_key(purpose)
    keyring.add(key)
    keyring.save()
    key_binding.bind(session, keyring)  # bound before it seals or chains anything
    record(
        session,
        None,
        "keys.rotate",
        object_type="keys",
        object_id=key.id,
        changes={"purpose": purpose, "active": [old, key.id]},
    )
    session.commit()
    return key.id


def retire(session: Session, keyring: Keyring, key_id: str) -> None:
    """Remove a key no longer in use; refuses while anything still depends on it."""
    key = keyring.get(key_id)
    if key.active:
        raise KeyInUse("the active key cannot be retired; rotate first")
    if key.purpose == "wrap":
        users: int = sum(
            1
            for u in session.scalars(select(User.totp_secret).where(User.totp_secret.is_not(None)))
            if sealed_key_id(u) == key_id
        )
        for holder in _DATA_KEY_HOLDERS:
            users += sum(
                1
                for w in session.scalars(select(holder.column).where(holder.column.is_not(None)))
                if sealed_key_id(w) == key_id
            )
        users += sum(
            1
            for w in session.scalars(
                select(AuditTextKey.wrapped_key).where(AuditTextKey.wrapped_key.is_not(None))
            )
            if sealed_key_id(w) == key_id
        )
        if users:
            raise KeyInUse(f"{users} sealed values still use {key_id}; run keys rotate --resume")
    elif key.purpose == "audit":
        used = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.key_id == key_id)
        )
        if used:
            raise KeyInUse(f"{used} audit events are chained with {key_id}; it verifies them")
    elif key.purpose == "signing":
        used = session.scalar(
            select(func.count())
            .select_from(AuditCheckpoint)
            .where(AuditCheckpoint.key_id == key_id)
        )
        if used:
            raise KeyInUse(f"{used} checkpoints are signed with {key_id}")
    # The database forgets the key first: a keyring that still holds a key is harmless, a
    # database bound to a key its keyring lacks would refuse to start.
    key_binding.unbind(session, key_id)
    record(
        session,
        None,
        "keys.retire",
        object_type="keys",
        object_id=key_id,
        changes={"purpose": key.purpose},
    )
    session.commit()
    keyring.remove(key_id)
    keyring.save()
