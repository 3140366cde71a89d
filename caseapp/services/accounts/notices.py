"""Notices about a person's own account: their sign-in was reset, their grants changed, their
account was disabled or enabled, they were excluded from a case or included again. The person
is told, and so are the officers above them, in the app and (when mail is configured) by an
e-mail that names no case and no child. An exclusion is the exception: only the officers above
are told (the person would be tipped off that a case concerns them); its lifting is told to the
person too."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.labels import account_notice_title
from caseapp.models import Grant, Notification, User

# Notice kinds about an account (Notification.kind, at most 20 characters). The list and the
# e-mail name each one; none carries a case reference, a name or a reason.
ACCOUNT_KINDS = (
    "account.reset",  # a credential reset took effect (an enrolment code was issued)
    "account.enrolled",  # the person set their own password and authenticator with a code
    "account.granted",  # a role was granted
    "account.revoked",  # a role was revoked
    "account.requested",  # a change to the account is waiting for a second approval
    "account.excluded",  # excluded from a case (told to the officers above only)
    "account.included",  # an exclusion was lifted
    "account.disabled",  # the account was disabled
    "account.enabled",  # the account was enabled again
)
# Never told to the person themselves, only to the officers above them.
NOT_TO_THE_PERSON = frozenset({"account.excluded"})


def officers_above(session: Session, person: User) -> list[User]:
    """Active officers whose grant covers the person's home unit (not the person)."""
    unit = person.unit
    ancestors = [int(p) for p in unit.path.strip("/").split("/") if p]
    return list(
        session.scalars(
            select(User)
            .join(Grant, Grant.user_id == User.id)
            .where(
                Grant.role == "officer",
                Grant.revoked_at.is_(None),
                Grant.unit_id.in_(ancestors),
                User.active.is_(True),
                User.id != person.id,
            )
            .distinct()
            .order_by(User.id)
        )
    )


def tell(session: Session, person: User, kind: str, *, with_officers: bool = True) -> int:
    """Tell ``person`` (and the officers above them) that ``kind`` happened to their account;
    a kind of NOT_TO_THE_PERSON only to the officers. Returns how many notices were written."""
    if kind not in ACCOUNT_KINDS:
        raise ValueError(f"unknown account notice kind {kind!r}")
    occurrence = secrets.token_hex(8)
    told = [
        *([] if kind in NOT_TO_THE_PERSON else [person]),
        *(officers_above(session, person) if with_officers else []),
    ]
    for user in told:
        session.add(
            Notification(
                user_id=user.id,
                case_id=None,
                kind=kind,
                # One notice per occurrence and person; the subject's id lets the officer's
                # list say whose account it was.
                dedupe_key=f"{kind}:{person.id}:{occurrence}:{user.id}"[:120],
            )
        )
    return len(told)


def subject_of(notice: Notification) -> int | None:
    """The id of the person whose account a notice is about (from its key), if an account
    notice."""
    if notice.kind not in ACCOUNT_KINDS:
        return None
    parts = notice.dedupe_key.split(":")
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


def titles(session: Session, viewer: User, notices: list[Notification]) -> dict[int, str]:
    """What each account notice among ``notices`` says in ``viewer``'s list, by notice id: to
    the person themselves, or naming the person to an officer above them (one query)."""
    about = {n.id: (n.kind, subject_of(n)) for n in notices if n.kind in ACCOUNT_KINDS}
    others = {s for _kind, s in about.values() if s is not None and s != viewer.id}
    names = (
        dict(session.execute(select(User.id, User.full_name).where(User.id.in_(others))).all())
        if others
        else {}
    )
    return {
        nid: account_notice_title(kind, None if s in (None, viewer.id) else names.get(s, "—"))
        for nid, (kind, s) in about.items()
    }


__all__ = ["ACCOUNT_KINDS", "NOT_TO_THE_PERSON", "officers_above", "subject_of", "tell", "titles"]
