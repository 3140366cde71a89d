"""The one door to a case's sealed content: open it for an actor and a reason (checked, audited,
decrypted in one call), download an attachment, and the case key for the seal side.

Nothing outside this module decrypts case content or unwraps a case's data key
(tests/unit/test_one_door_to_content.py walks every module and enforces it); the writing
services seal through a ``Sealer``, which never hands a value back in clear."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import BinaryIO

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.errors import Forbidden, NotFound, ValidationFailed
from caseapp.limits import REASON_MIN
from caseapp.models import (
    AuditEvent,
    Case,
    CaseAttachment,
    CaseInformant,
    CaseNote,
    CasePerson,
    CaseStep,
    LegalHold,
    User,
)
from caseapp.models import cases as domain
from caseapp.runtime import keyring, settings
from caseapp.security import envelope
from caseapp.services.audit.trail import record
from caseapp.services.cases.access import can_handle, can_read_content

# An officer who stated a reason keeps reading the case (after adding a note, say) without
# stating it again for as long as an idle session lasts. The browser session keeps only the
# case and the sequence number of the audited read; the reason is read back from that event.
READINGS_KEPT = 5


class ReasonNeeded(ValidationFailed):
    """An officer opens a school's case: they must state why (none given and none in force)."""

    def __init__(self) -> None:
        super().__init__(_("State why you need to open the confidential content."))


@dataclass
class CaseFields:
    """The sealed fields of a case in clear, as a form sends them or a reader sees them; never
    stored, logged or audited in clear (intake calls it CaseContent)."""

    harmed_name: str = ""
    harmed_contact: str = ""
    guardian_name: str = ""
    guardian_contact: str = ""
    perpetrator_names: str = ""
    narrative: str = ""
    informant_name: str = ""
    informant_contact: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class PersonView:
    """A person of the case with their sealed fields in clear (the confidential page)."""

    person: CasePerson
    name: str = ""
    contact: str = ""
    guardian_name: str = ""
    guardian_contact: str = ""


@dataclass
class HoldView:
    """A legal hold with its reasons in clear (the confidential page)."""

    hold: LegalHold
    reason: str = ""
    release_reason: str = ""


@dataclass
class NoteView:
    id: int
    author: str
    created_at: object
    body: str
    corrects_id: int | None


@dataclass
class CaseContent(CaseFields):
    """What the confidential page shows: the sealed fields (as CaseFields), the notes, the
    attachments' names and the steps' details, all in clear; never stored, logged or audited.
    ``reason`` is the one the read was audited with; ``readings`` what the browser session
    keeps of the officer's stated reasons (see READINGS_KEPT)."""

    people: list[PersonView] = field(default_factory=list)
    notes: list[NoteView] = field(default_factory=list)
    files: list[tuple[CaseAttachment, str]] = field(default_factory=list)
    steps: list[CaseStep] = field(default_factory=list)
    step_details: dict[int, str] = field(default_factory=dict)
    holds: list[HoldView] = field(default_factory=list)
    reason: str = ""
    readings: dict = field(default_factory=dict)

    def as_fields(self) -> CaseFields:
        """Only the case's sealed fields (what an edit form is filled with)."""
        return CaseFields(**{f.name: getattr(self, f.name) for f in fields(CaseFields)})


def data_key(case: Case) -> bytes:
    """The case's data key, unwrapped with the keyring (raises once it was destroyed)."""
    return envelope.unwrap_data_key(keyring(), case.wrapped_key, case.public_id)


def _ad(case: Case, table: str, record_id: str, name: str) -> bytes:
    return envelope.field_ad(case.public_id, table, record_id, name)


def _person_ad(case: Case, person: CasePerson, name: str) -> bytes:
    """The associated data a person's field is sealed with: its own, or for a row migrated
    from the case's columns (0012) and not yet resealed, the case's column it came from. Only
    the row the migration made from those columns (the first of its position) opens that way:
    a legacy mark copied onto another row does not make a blob moved there open as its own."""
    legacy = domain.LEGACY_FIELDS.get(person.legacy_field or "")
    migrated_row = person.legacy_field == person.position and person.ordinal == 1
    if legacy is not None and migrated_row and name in legacy:
        return _ad(case, "cases", case.public_id, legacy[name])
    return _ad(case, "case_persons", person.uid, name)


def _open_people(dek: bytes, case: Case) -> list[PersonView]:
    return [
        PersonView(
            p,
            **{
                name: envelope.open_text(dek, getattr(p, name), _person_ad(case, p, name))
                for name in domain.PERSON_FIELDS
            },
        )
        for p in case.people
    ]


def _require_content_access(actor: User, case: Case) -> None:
    if not can_read_content(actor, case):
        raise Forbidden(_("You may see this case's details but not its confidential content."))
    if case.key_destroyed_at is not None:  # crypto-shredded: a clear answer, not a 500
        raise ValidationFailed(_("This case's content was destroyed."))


# Opening -----------------------------------------------------------------------------------


def audit_read(session: Session, actor: User, case: Case, reason: str) -> AuditEvent:
    """The audit event of one read of a case's confidential content (its reason kept)."""
    return record(
        session,
        actor,
        "case.view_confidential",
        unit=case.unit,
        object_type="cases",
        object_id=str(case.id),
        object_ref=case.reference,
        reason=reason,
    )


def open_content(
    session: Session,
    actor: User,
    case: Case,
    reason: str | None = None,
    readings: dict | None = None,
) -> CaseContent:
    """Check, audit and decrypt a case's content for ``actor``: every read is one
    ``case.view_confidential`` event with its reason.

    The school's focal points open it without a reason. An officer states one (``reason``), or
    reads again under the reason they stated earlier in this browser session (``readings``,
    kept by the view), unless who may see the case changed since; otherwise ReasonNeeded.
    Forbidden for a person who may see the case but not its content."""
    _require_content_access(actor, case)
    stated = (reason or "").strip()
    readings = _current(readings)
    if stated:
        if not can_handle(actor, case) and len(stated) < REASON_MIN:
            raise ReasonNeeded()
    elif not can_handle(actor, case):
        stated = reason_in_force(session, actor, case, readings) or ""
        if not stated:
            raise ReasonNeeded()
        reason = None  # read again under the reason in force: the window is not extended
    content = _decrypt(session, case)
    event = audit_read(session, actor, case, stated)
    if reason and reason.strip():
        readings[case.public_id] = [int(time.time()) + settings().session_idle_seconds, event.seq]
        readings = dict(sorted(readings.items(), key=lambda kv: kv[1][0])[-READINGS_KEPT:])
    content.reason, content.readings = stated, readings
    return content


def open_person(
    session: Session, actor: User, case: Case, person: CasePerson, reason: str
) -> PersonView:
    """One person's own sealed fields (name, contact, guardian's name and contact), for a
    request from that person (services.privacy.request_export): checked like any read, audited
    as one ``case.view_confidential`` event with ``reason``; nothing else of the case (the
    narrative, notes, files, other people) is decrypted."""
    _require_content_access(actor, case)
    if person.case_id != case.id:
        raise NotFound()
    dek = data_key(case)
    view = PersonView(
        person,
        **{
            name: envelope.open_text(dek, getattr(person, name), _person_ad(case, person, name))
            for name in domain.PERSON_FIELDS
        },
    )
    record(
        session,
        actor,
        "case.view_confidential",
        unit=case.unit,
        object_type="cases",
        object_id=str(case.id),
        object_ref=case.reference,
        changes={"person": person.uid, "fields": list(domain.PERSON_FIELDS)},
        reason=reason,
    )
    return view


def _current(readings: dict | None) -> dict:
    """The readings still in force (the browser session may hold expired ones)."""
    now = time.time()
    return {
        k: v
        for k, v in (readings or {}).items()
        if isinstance(v, list | tuple) and len(v) == 2 and v[0] > now
    }


def reason_in_force(session: Session, actor: User, case: Case, readings: dict | None) -> str | None:
    """The reason ``actor`` stated for reading ``case`` in this browser session, while it is in
    force: within the idle time, and no exclusion added or lifted on the case since."""
    entry = _current(readings).get(case.public_id)
    if not entry:
        return None
    event = session.scalar(select(AuditEvent).where(AuditEvent.seq == entry[1]))
    if (
        event is None
        or event.actor_id != actor.id
        or event.action != "case.view_confidential"
        or event.object_ref != case.reference
    ):
        return None
    # Who may see the case changed since (an exclusion, or one lifted): state it again.
    changed = session.scalar(
        select(AuditEvent.seq)
        .where(
            AuditEvent.object_ref == case.reference,
            AuditEvent.seq > event.seq,
            AuditEvent.action.in_(("case.exclude", "case.exclusion_lift")),
        )
        .limit(1)
    )
    if changed is not None:
        return None
    from caseapp.services.audit.sealed_text import open_reason

    return open_reason(session, event) or None  # the reader's own, sealed in the trail


def _decrypt(session: Session, case: Case) -> CaseContent:
    dek = data_key(case)
    content = CaseContent()
    for name in domain.CONFIDENTIAL_FIELDS:
        setattr(
            content,
            name,
            envelope.open_text(dek, getattr(case, name), _ad(case, "cases", case.public_id, name)),
        )
    content.people = _open_people(dek, case)
    _first_people(content)
    informant = session.scalar(select(CaseInformant).where(CaseInformant.case_id == case.id))
    if informant is not None:
        content.informant_name = envelope.open_text(
            dek, informant.name, _ad(case, "case_informants", informant.uid, "name")
        )
        content.informant_contact = envelope.open_text(
            dek, informant.contact, _ad(case, "case_informants", informant.uid, "contact")
        )
    rows = session.execute(
        select(CaseNote, User.full_name)
        .outerjoin(User, CaseNote.author_id == User.id)
        .where(CaseNote.case_id == case.id)
        .order_by(CaseNote.id)
    ).all()
    content.notes = [
        NoteView(
            n.id,
            name or "",
            n.created_at,
            envelope.open_text(dek, n.body, _ad(case, "case_notes", n.uid, "body")),
            n.corrects_id,
        )
        for n, name in rows
    ]
    files = session.scalars(
        select(CaseAttachment).where(CaseAttachment.case_id == case.id).order_by(CaseAttachment.id)
    )
    content.files = [
        (a, envelope.open_text(dek, a.filename, _ad(case, "case_attachments", a.uid, "filename")))
        for a in files
    ]
    content.steps = list(
        session.scalars(
            select(CaseStep)
            .where(CaseStep.case_id == case.id)
            .order_by(CaseStep.created_at, CaseStep.id)
        )
    )
    content.step_details = {
        s.id: envelope.open_text(dek, s.details, _ad(case, "case_steps", s.uid, "details"))
        for s in content.steps
    }
    content.holds = [
        HoldView(
            h,
            envelope.open_text(dek, h.reason, _ad(case, "legal_holds", str(h.id), "reason")),
            envelope.open_text(
                dek, h.release_reason, _ad(case, "legal_holds", str(h.id), "release_reason")
            ),
        )
        for h in session.scalars(
            select(LegalHold).where(LegalHold.case_id == case.id).order_by(LegalHold.id.desc())
        )
    ]
    return content


def _first_people(content: CaseContent) -> None:
    """The intake form's fields from the people: the first person harmed, the names of the
    alleged perpetrators one per line (as a reader of one person per case expects)."""
    current = [v for v in content.people if not v.person.withdrawn]
    harmed = next((v for v in current if v.person.harmed), None)
    if harmed is not None:
        content.harmed_name, content.harmed_contact = harmed.name, harmed.contact
        content.guardian_name, content.guardian_contact = (
            harmed.guardian_name,
            harmed.guardian_contact,
        )
    content.perpetrator_names = "\n".join(v.name for v in current if not v.person.harmed and v.name)


# Attachments -------------------------------------------------------------------------------


class AttachmentFileMissing(NotFound):
    """The row of an attachment exists but its sealed file is not in the attachment folder (or
    cannot be read): restored without the folder, say. Carries ids only, for the log."""

    def __init__(self, attachment: CaseAttachment) -> None:
        super().__init__(
            _(
                "The file of this attachment is missing from the server. Your "
                "administrator has been told; nothing else is affected."
            )
        )
        self.attachment_id = attachment.id
        self.case_id = attachment.case_id
        self.storage_name = attachment.storage_name


def open_attachment(
    session: Session, actor: User, case: Case, uid: str, reason: str = ""
) -> tuple[str, str, int, Iterator[bytes]]:
    """(file name, type, size, plaintext chunks); every download is audited.

    The sealed file is opened before anything is audited or returned, so a missing file is
    an AttachmentFileMissing here, never an error half-way through a streamed response. Its
    download is not audited: nothing was read, and an `attachment.download` event would tell
    auditors the person had the file (the caller logs the attempt for the operators)."""
    _require_content_access(actor, case)
    reason = (reason or "").strip()
    if not can_handle(actor, case) and len(reason) < REASON_MIN:
        raise ReasonNeeded()
    attachment = session.scalar(
        select(CaseAttachment).where(CaseAttachment.case_id == case.id, CaseAttachment.uid == uid)
    )
    if attachment is None:
        raise NotFound()
    try:
        # Closed by the chunks below, or on the way out if anything here fails.
        handle = open(settings().attachment_dir / attachment.storage_name, "rb")  # noqa: SIM115
    except OSError:
        raise AttachmentFileMissing(attachment) from None
    try:
        dek = data_key(case)
        name = envelope.open_text(
            dek, attachment.filename, _ad(case, "case_attachments", attachment.uid, "filename")
        )
        ad = _ad(case, "case_attachments", attachment.uid, "content")
        record(
            session,
            actor,
            "attachment.download",
            unit=case.unit,
            object_type="case_attachments",
            object_id=str(attachment.id),
            object_ref=case.reference,
            reason=reason,
            case=case,
        )
    except BaseException:
        handle.close()
        raise

    def chunks() -> Iterator[bytes]:
        with handle:
            yield from envelope.open_file(dek, handle, ad)

    return name, attachment.content_type, attachment.size, chunks()


# Sealing -----------------------------------------------------------------------------------


class Sealer:
    """The case key for the services that write content: it seals new values and compares or
    extends sealed ones, but never hands a value back in clear."""

    def __init__(self, case: Case, dek: bytes | None = None) -> None:
        self._case = case
        self._dek = dek if dek is not None else data_key(case)

    def seal(self, table: str, record_id: str, name: str, value: str | None) -> bytes | None:
        return envelope.seal_text(self._dek, value, _ad(self._case, table, record_id, name))

    def seal_required(self, table: str, record_id: str, name: str, value: str) -> bytes:
        """Seal a value the caller has checked is not empty (a NOT NULL column)."""
        sealed = self.seal(table, record_id, name, value)
        if sealed is None:
            raise ValueError(f"{table}.{name} must not be empty")
        return sealed

    def reseal(
        self, obj: object, attr: str, table: str, record_id: str, name: str, value: str
    ) -> bool:
        """Seal ``value`` into ``obj.attr`` if it differs from what is sealed there; True when
        it changed (so the audit event can say "changed" without either value)."""
        ad = _ad(self._case, table, record_id, name)
        if value == envelope.open_text(self._dek, getattr(obj, attr), ad):
            return False
        setattr(obj, attr, envelope.seal_text(self._dek, value, ad))
        return True

    def adopt_person(self, person: CasePerson) -> bool:
        """Reseal a migrated person's fields with their own associated data (they were sealed
        as columns of the case); True when there was anything to do."""
        if not person.legacy_field:
            return False
        for name in domain.PERSON_FIELDS:
            value = envelope.open_text(
                self._dek, getattr(person, name), _person_ad(self._case, person, name)
            )
            setattr(
                person,
                name,
                envelope.seal_text(
                    self._dek, value, _ad(self._case, "case_persons", person.uid, name)
                ),
            )
        person.legacy_field = None
        return True

    def append(
        self, blob: bytes | None, table: str, record_id: str, name: str, addition: str
    ) -> bytes | None:
        """The sealed text of ``blob`` with ``addition`` appended as a new paragraph."""
        ad = _ad(self._case, table, record_id, name)
        old = envelope.open_text(self._dek, blob, ad)
        return envelope.seal_text(self._dek, f"{old}\n\n{addition}" if old else addition, ad)

    def seal_file(
        self,
        src: envelope.Readable,
        dst: BinaryIO,
        table: str,
        record_id: str,
        name: str,
        limit: int,
    ) -> int:
        return envelope.seal_file(
            self._dek, src, dst, _ad(self._case, table, record_id, name), limit
        )


def sealer(case: Case, dek: bytes | None = None) -> Sealer:
    """The sealer of a case: ``dek`` for a case being created (its key not yet wrapped)."""
    return Sealer(case, dek)
