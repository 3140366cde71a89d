"""What is added to a case over time: append-only notes, attachments, consents, exclusions,
and the repeat alerts drawn from the blind index."""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from datetime import date
from pathlib import Path
from typing import BinaryIO

from flask_babel import gettext as _
from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session, aliased

from caseapp.clock import local_today
from caseapp.errors import Forbidden, NotFound, ValidationFailed
from caseapp.models import (
    Case,
    CaseAttachment,
    CaseConsent,
    CaseExclusion,
    CaseNameIndex,
    CaseNote,
    CasePerson,
    User,
)
from caseapp.models import cases as domain
from caseapp.runtime import settings
from caseapp.security.authz import roles_with
from caseapp.services.accounts import notices
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.cases import people
from caseapp.services.cases.access import (
    can_handle,
    can_read_content,
    people_covering,
    people_linked,
    visible_cases,
)
from caseapp.services.cases.content import sealer
from caseapp.services.privacy.notices import NOTICE_VERSION

FILENAME_MAX = 200
# What the first bytes of an upload must look like for its declared type.
MAGIC = {
    "application/pdf": (b"%PDF",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/msword": (b"\xd0\xcf\x11\xe0",),
}


def _require_content_access(actor: User, case: Case) -> None:
    if not can_read_content(actor, case):
        raise Forbidden(_("You may see this case's details but not its confidential content."))
    if case.key_destroyed_at is not None:
        raise ValidationFailed(_("This case's content was destroyed."))


# Notes -------------------------------------------------------------------------------------


def add_note(
    session: Session, actor: User, case: Case, body: str, corrects_id: int | None = None
) -> CaseNote:
    _require_content_access(actor, case)
    body = (body or "").strip()
    if not body or len(body) > domain.NOTE_MAX:
        raise ValidationFailed(
            _("A note needs some text (at most %(n)d characters).", n=domain.NOTE_MAX)
        )
    if corrects_id is not None:
        target = session.get(CaseNote, corrects_id)
        if target is None or target.case_id != case.id:
            raise NotFound()
    note = CaseNote(
        uid=str(uuid.uuid4()), case_id=case.id, author_id=actor.id, corrects_id=corrects_id
    )
    note.body = sealer(case).seal_required("case_notes", note.uid, "body", body)
    session.add(note)
    record(
        session,
        actor,
        "note.add",
        note,
        unit=case.unit,
        object_ref=case.reference,
        changes={"body": "changed", "corrects": corrects_id},
    )
    return note


# Attachments -------------------------------------------------------------------------------


def _store() -> Path:
    path = settings().attachment_dir
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def add_attachment(
    session: Session, actor: User, case: Case, filename: str, content_type: str, stream: BinaryIO
) -> CaseAttachment:
    """Seal the upload under the case key, chunk by chunk, into the attachment store."""
    _require_content_access(actor, case)
    # The case's row locked and its key read afresh: a shredding committed since the case was
    # loaded is seen here, and one that begins now waits for this upload, then discards it
    # with the others (retention lists the attachments of unshredded cases only).
    destroyed = session.scalar(
        select(Case.key_destroyed_at)
        .where(Case.id == case.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE
    )
    if destroyed is not None:
        raise ValidationFailed(_("This case's content was destroyed."))
    cfg = settings()
    filename = os.path.basename((filename or "").replace("\\", "/")).strip()
    filename = "".join(ch for ch in filename if ch.isprintable())  # no newline or control
    if not filename or len(filename) > FILENAME_MAX:
        raise ValidationFailed(
            _("The file needs a name of at most %(n)d characters.", n=FILENAME_MAX)
        )
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type not in cfg.attachment_types:
        raise ValidationFailed(
            _(
                "This kind of file is not accepted. Use PDF, JPEG, PNG, WebP, "
                "HEIC, Word or plain text."
            )
        )
    head = stream.read(16)
    expected = MAGIC.get(content_type)
    if expected and not any(head.startswith(m) for m in expected):
        raise ValidationFailed(_("The file's content does not match its type."))
    attachment = CaseAttachment(
        uid=str(uuid.uuid4()),
        case_id=case.id,
        uploaded_by_id=actor.id,
        content_type=content_type,
        size=0,
        storage_name=secrets.token_hex(16),
    )
    seal = sealer(case)
    store = _store()
    fd, tmp = tempfile.mkstemp(dir=store, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            size = seal.seal_file(
                _Prepend(head, stream),
                out,
                "case_attachments",
                attachment.uid,
                "content",
                cfg.attachment_max_bytes,
            )
        if size == 0:
            raise ValidationFailed(_("The file is empty."))
        os.replace(tmp, store / attachment.storage_name)
    except ValueError:
        os.unlink(tmp)
        raise ValidationFailed(
            _("The file is larger than %(n)d MB.", n=cfg.attachment_max_bytes // (1024 * 1024))
        ) from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    attachment.size = size
    attachment.filename = seal.seal_required(
        "case_attachments", attachment.uid, "filename", filename
    )
    session.add(attachment)
    record(
        session,
        actor,
        "attachment.add",
        attachment,
        unit=case.unit,
        object_ref=case.reference,
        changes={"filename": "changed", "size": size, "content_type": content_type},
    )
    return attachment


class _Prepend:
    """A stream with bytes already read put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def read(self, n: int) -> bytes:
        if self.head:
            out, self.head = self.head[:n], self.head[n:]
            if len(out) < n:
                out += self.rest.read(n - len(out))
            return out
        return self.rest.read(n)


def discard_stored_file(attachment: CaseAttachment) -> None:
    """Remove the sealed file of an attachment whose row was not committed."""
    path = settings().attachment_dir / attachment.storage_name
    if path.exists():
        path.unlink()


def discard_case_files(session: Session, case: Case) -> int:
    """Remove the sealed files of a case whose key was destroyed, and the photos of its
    self-reports (they are unreadable anyway; removing them frees the space)."""
    from caseapp.models.selfreports import SelfReport, SelfReportPhoto

    names = list(
        session.scalars(
            select(CaseAttachment.storage_name).where(CaseAttachment.case_id == case.id)
        )
    )
    # The photos of the self-reports of the case: their key went with the case's.
    names += list(
        session.scalars(
            select(SelfReportPhoto.storage_name)
            .join(SelfReport, SelfReport.id == SelfReportPhoto.report_id)
            .where(SelfReport.case_id == case.id, SelfReport.wrapped_key.is_(None))
        )
    )
    removed = 0
    for name in names:
        path = settings().attachment_dir / name
        if path.exists():
            path.unlink()
            removed += 1
    return removed


# Consent -----------------------------------------------------------------------------------


def parties_required(person: CasePerson) -> tuple[str, ...]:
    """Who must consent for a person harmed: an adult alone; for a child of 7 or more, the
    child and a guardian; under 7, a guardian. An unknown age above the 0-5 band counts as 7
    or more."""
    if not person.child:
        return ("person_harmed",)
    age = person.age_years
    young = age < 7 if age is not None else person.age_band == "0-5"
    return ("guardian",) if young else ("person_harmed", "guardian")


def consents(session: Session, case: Case) -> list[CaseConsent]:
    return list(
        session.scalars(
            select(CaseConsent)
            .where(CaseConsent.case_id == case.id)
            .order_by(CaseConsent.given_on, CaseConsent.id)
        )
    )


def has_consent(
    session: Session,
    case: Case,
    purpose: str,
    on: date | None = None,
    person: CasePerson | None = None,
) -> bool:
    """Whether the consent for ``purpose`` is in force for ``person`` (by default: for every
    person harmed of the case)."""
    on = on or local_today()
    rows = [
        c
        for c in consents(session, case)
        if c.purpose == purpose
        and c.given_on <= on
        and (c.withdrawn_on is None or c.withdrawn_on > on)
    ]
    harmed = [person] if person is not None else case.harmed_people
    return bool(harmed) and all(
        all(
            any(c.party == party and c.person_id in (p.id, None) for c in rows)
            for party in parties_required(p)
        )
        for p in harmed
    )


def consent_status(session: Session, case: Case) -> list[tuple[CasePerson, tuple, dict]]:
    """For each person harmed: who must consent, and each purpose's consent in force."""
    return [
        (
            p,
            parties_required(p),
            {u: has_consent(session, case, u, person=p) for u in domain.CONSENT_PURPOSES},
        )
        for p in case.harmed_people
    ]


def record_consent(
    session: Session,
    actor: User,
    case: Case,
    party: str,
    purpose: str,
    given_on: date,
    person_uid: str | None = None,
) -> CaseConsent:
    """Record a consent of (or for) a person harmed: the one named, or the only one."""
    if not can_handle(actor, case):
        raise Forbidden(_("Only the school's focal points record consent."))
    if party not in domain.CONSENT_PARTIES or purpose not in domain.CONSENT_PURPOSES:
        raise ValidationFailed(_("A choice in the form is not valid. Nothing was saved."))
    if given_on > local_today():
        raise ValidationFailed(_("Consent cannot be dated in the future."))
    person = people.choose(case, "harmed", person_uid)
    consent = CaseConsent(
        case_id=case.id,
        person_id=person.id,
        party=party,
        purpose=purpose,
        given_on=given_on,
        notice_version=NOTICE_VERSION,
        recorded_by_id=actor.id,
    )
    session.add(consent)
    record(
        session,
        actor,
        "consent.record",
        consent,
        unit=case.unit,
        object_ref=case.reference,
        changes=changes_of(consent) | {"person": person.uid},
    )
    return consent


def withdraw_consent(
    session: Session, actor: User, case: Case, consent_id: int, on: date
) -> CaseConsent:
    if not can_handle(actor, case):
        raise Forbidden(_("Only the school's focal points record consent."))
    consent = session.get(CaseConsent, consent_id)
    if consent is None or consent.case_id != case.id:
        raise NotFound()
    if consent.withdrawn_on is not None:
        raise ValidationFailed(_("This consent was already withdrawn."))
    if on < consent.given_on or on > local_today():
        raise ValidationFailed(_("The withdrawal date is not valid."))
    consent.withdrawn_on = on
    record(session, actor, "consent.withdraw", consent, unit=case.unit, object_ref=case.reference)
    return consent


# Exclusions --------------------------------------------------------------------------------
# Lifting one takes a second person: services.accounts.approvals.request_exclusion_lift.


def exclusions(session: Session, case: Case) -> list[CaseExclusion]:
    return list(
        session.scalars(
            select(CaseExclusion).where(CaseExclusion.case_id == case.id).order_by(CaseExclusion.id)
        )
    )


def exclude(session: Session, actor: User, case: Case, username: str, reason: str) -> CaseExclusion:
    """Name a person who must never see this case, whatever their grants.

    Anyone attached to the school or a unit above it can be named, suspended or not, with or
    without a grant today (so an exclusion holds when they come back); nobody elsewhere can be
    named, and the refusal does not tell which user names exist. The case never loses its last
    overseeing officer: an exclusion cannot take it out of the sight of every officer above the
    school."""
    name = (username or "").strip().lower()
    unknown = _("No account with that user name belongs to this school or the units above it.")
    return _exclude(session, actor, case, User.username == name, reason, unknown)


def exclusion_candidates(session: Session, actor: User, case: Case) -> list[User]:
    """The people the exclusion form offers, by full name: exactly those exclude_person()
    accepts (attached to the school or a unit above it), less the actor and anyone already
    excluded. Nobody of another school or district is listed."""
    if not can_read_content(actor, case):
        return []
    excluded = select(CaseExclusion.user_id).where(CaseExclusion.case_id == case.id)
    return list(
        session.scalars(
            people_linked(case)
            .where(User.id != actor.id, User.id.not_in(excluded))
            .order_by(User.full_name, User.id)
        )
    )


def exclude_person(
    session: Session, actor: User, case: Case, user_id: int | None, reason: str
) -> CaseExclusion:
    """exclude() for a person chosen from exclusion_candidates(): the submitted id is checked
    against the same set, so a forged id of someone elsewhere is refused."""
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id < 2**31:
        user_id = -1  # matches nobody, and fits every database's integer
    unknown = _("Choose a person of this school or the units above it.")
    return _exclude(session, actor, case, User.id == user_id, reason, unknown)


def _exclude(
    session: Session, actor: User, case: Case, which, reason: str, unknown: str
) -> CaseExclusion:
    if not can_read_content(actor, case):
        raise Forbidden(_("You cannot change who may see this case."))
    # One exclusion of a case at a time: two at once could each still see the other officer
    # and together leave the case with none (PostgreSQL row lock; SQLite has one writer).
    session.execute(select(Case.id).where(Case.id == case.id).with_for_update())
    target = session.scalar(people_linked(case).where(which))
    if target is None:
        raise ValidationFailed(unknown)
    if target.id == actor.id:
        raise ValidationFailed(_("You cannot exclude yourself."))
    if not reason.strip():
        raise ValidationFailed(_("Please give a reason."))
    if any(e.user_id == target.id for e in exclusions(session, case)):
        raise ValidationFailed(_("This person is already excluded."))
    others = people_covering(case, roles_with("case.oversee")).where(User.id != target.id)
    if session.scalar(others.limit(1)) is None:
        raise ValidationFailed(
            _(
                "At least one officer above the school must still be able to "
                "see this case. Ask the district office to name another "
                "officer first."
            )
        )
    exclusion = CaseExclusion(case_id=case.id, user_id=target.id, added_by_id=actor.id)
    session.add(exclusion)
    if case.assigned_to_id == target.id:
        case.assigned_to_id = None
    record(
        session,
        actor,
        "case.exclude",
        exclusion,
        unit=case.unit,
        object_ref=case.reference,
        reason=reason,
        changes={"user": target.username},
        covers=(case,),
    )
    # Only the officers above the person are told, naming no case: the person is never
    # tipped off that a case concerns them (notices.NOT_TO_THE_PERSON).
    notices.tell(session, target, "account.excluded")
    return exclusion


# Handler -------------------------------------------------------------------------------


def handlers_available(session: Session, case: Case) -> list[User]:
    """Active focal points of the case's school or above it, not excluded from the case."""
    return list(session.scalars(people_covering(case, ("focal_point",)).order_by(User.full_name)))


def assign(session: Session, actor: User, case: Case, user_id: int | None) -> Case:
    """Make one of the school's focal points the case's handler."""
    if not can_read_content(actor, case):
        raise Forbidden(_("You cannot change who handles this case."))
    target = next((u for u in handlers_available(session, case) if u.id == user_id), None)
    if target is None:
        raise ValidationFailed(_("Choose a focal point of the school."))
    if case.assigned_to_id == target.id:
        return case
    case.assigned_to_id = target.id
    record(
        session,
        actor,
        "case.assign",
        case,
        unit=case.unit,
        object_ref=case.reference,
        changes={"handler": target.username},
    )
    return case


# History -------------------------------------------------------------------------------


def history(session: Session, case: Case, limit: int = 200) -> list:
    """The audit events of a case, newest first. Confidential changes read only "changed"."""
    from caseapp.models import AuditEvent

    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_ref == case.reference)
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        )
    )


def full_names(session: Session, events) -> dict[int, str]:
    """The full names of the people who acted in ``events``, by user id: the timeline names
    people as the notes do (the user name stays on the event, and in the audit trail)."""
    ids = {e.actor_id for e in events if e.actor_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.full_name).where(User.id.in_(ids))).all())


# Repeat alerts -----------------------------------------------------------------------------


# The repeat alerts count up to here and say "more than 100" beyond: the same name, accents
# ignored, can be common, and a province's archive may hold thousands of cases naming one; each
# view of a case counted them all against the cases the person may see (0.8 s with 20,000,
# issue 16).
REPEATS_SHOWN = 100
# The name-index rows of the case itself, in the repeat alerts' statements.
NAMED = aliased(CaseNameIndex, name="named")


def _other_cases_naming(user: User, case: Case, mine) -> ScalarSelect:
    """How many other cases ``user`` may see share a (role, digest) of the name-index rows of
    ``case`` that ``mine`` selects (conditions on the alias ``NAMED``), up to
    REPEATS_SHOWN + 1: read from the digests' index, stopping there."""
    other = aliased(CaseNameIndex)
    visible = visible_cases(user).with_only_columns(Case.id)
    matches = (
        select(other.case_id)
        .where(
            other.digest.in_(select(NAMED.digest).where(NAMED.case_id == case.id, *mine)),
            select(NAMED.id)
            .where(
                NAMED.case_id == case.id,
                NAMED.role == other.role,
                NAMED.digest == other.digest,
                *mine,
            )
            .exists(),
            other.case_id != case.id,
            other.case_id.in_(visible),
        )
        .distinct()
        .limit(REPEATS_SHOWN + 1)
        .subquery()
    )
    return select(func.count()).select_from(matches).scalar_subquery()


def repeat_counts_by_person(session: Session, user: User, case: Case) -> dict[str, int]:
    """For each person of the case (by uid): how many other cases the user may see share a
    name digest of theirs in the same role, up to REPEATS_SHOWN + 1. Nothing is decrypted."""
    people = list(case.current_people)
    if not people:
        return {}
    counts = session.execute(
        select(*(_other_cases_naming(user, case, [NAMED.person_id == p.id]) for p in people))
    ).one()
    return {p.uid: int(n or 0) for p, n in zip(people, counts, strict=True)}


def repeat_counts(session: Session, user: User, case: Case) -> dict[str, int]:
    """How many other cases the user may see share a name digest with this one, per role, up
    to REPEATS_SHOWN + 1. Nothing is decrypted: the digests are compared."""
    roles = ("harmed", "perpetrator")
    counts = session.execute(
        select(*(_other_cases_naming(user, case, [NAMED.role == role]) for role in roles))
    ).one()
    return {role: int(n or 0) for role, n in zip(roles, counts, strict=True)}
