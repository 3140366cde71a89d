"""Deciding a self-report: accept it as a new case, merge it into an existing case, close it
with a message to the reporter, or mark it as spam.

Each decision is taken on the form of one version of the report (a stale form is a Conflict,
nothing changed) and writes one event of its own about the report; the case it creates or adds
to keeps its own events (``case.create``, ``note.add``, ``attachment.add``), as any case does.
What is carried over is re-sealed under the case's key through the case services: ciphertext
never moves from the report's key to the case's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.db import utcnow
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import Case, Grant, User
from caseapp.models import cases as domain
from caseapp.models.selfreports import (
    MESSAGE_MAX,
    WHAT_HAPPENED,
    SelfReport,
    SelfReportMessage,
    SelfReportPhoto,
)
from caseapp.security.authz import roles_with
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.cases import intake
from caseapp.services.cases import records as case_records
from caseapp.services.cases.access import administrators, can_read_content, visible_cases
from caseapp.services.selfreports import handling
from caseapp.services.selfreports.seal import ReportSeal

# Who did it, as the relationship of an alleged perpetrator of the case.
RELATIONSHIP_OF = {
    "pupil": "pupil_peer",
    "teacher_staff": "teacher",
    "family": "family_member",
    "someone_else": "other",
    "not_said": "other",
}
PHOTO_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@dataclass
class AcceptFacts:
    """What the officer completes on the accept form (the rest comes from the report)."""

    violence_types: list[str]
    setting: str
    reporter_kind: str
    risk_level: str
    harmed_sex: str = "not_recorded"
    harmed_age_band: str = ""
    harmed_role: str = "pupil"
    child: bool = True
    perpetrator_sex: str = "not_recorded"
    perpetrator_age_band: str = ""
    perpetrator_relationship: str = "other"
    serious_risk_to_child: bool = False


def accept_defaults(report: SelfReport) -> AcceptFacts:
    """The accept form as it opens: what the report says, in the case's terms; what it cannot
    say is left for the officer to choose (an empty value)."""
    types = sorted({WHAT_HAPPENED[w] for w in report.what_kinds if w in WHAT_HAPPENED})
    return AcceptFacts(
        violence_types=types,
        setting=report.happened_where if report.happened_where in domain.SETTINGS else "",
        reporter_kind="person_harmed" if report.who_hurt == "me" else "anonymous",
        risk_level="immediate" if report.danger else "",
        perpetrator_relationship=RELATIONSHIP_OF.get(report.who_did, "other"),
        serious_risk_to_child=report.danger,
    )


def _decidable(report: SelfReport, version: int) -> None:
    if report.version != version:
        raise Conflict(_("Someone else changed this report after you opened it."))
    if not report.is_open:
        raise ValidationFailed(_("This report was already decided."))


def _decided(report: SelfReport, actor: User, status: str) -> None:
    report.status = status
    report.decided_at = utcnow()
    report.decided_by_id = actor.id
    report.due_at = None  # the time of receipt is not kept beyond the decision


class _ChunkReader:
    """A stream over an iterator of byte chunks (a photo being re-sealed)."""

    def __init__(self, chunks) -> None:
        self._chunks, self._buffer = iter(chunks), b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if n < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def _carry_photos(session: Session, actor: User, report: SelfReport, case: Case) -> int:
    """Each photo of the report becomes an attachment of the case (its own event), sealed
    under the case's key; returns how many."""
    photos = list(
        session.scalars(
            select(SelfReportPhoto)
            .where(SelfReportPhoto.report_id == report.id)
            .order_by(SelfReportPhoto.id)
        )
    )
    day = report.received_on.strftime("%d-%m-%Y")
    for n, photo in enumerate(photos, start=1):
        ext = PHOTO_EXTENSIONS.get(photo.content_type, "img")
        case_records.add_attachment(
            session,
            actor,
            case,
            f"tu-bao-cao-{day}-anh-{n}.{ext}",
            photo.content_type,
            _ChunkReader(handling.photo_chunks(report, photo)),  # type: ignore[arg-type]
        )
    return len(photos)


def school_side_readers(session: Session, report: SelfReport) -> list[User]:
    """The people a case from a report naming school staff would reach only through the school:
    accounts (active or suspended) with an unrevoked grant of a role reading cases at the
    school or at a unit below the one the report was routed to, and none at that unit or above
    it. Accepting such a report excludes them from the new case (the reporter chose not to be
    read by the school's staff first). Empty for any other route."""
    if report.route != "staff_named" or report.routed_unit_id == report.school_id:
        return []
    reading = roles_with("case.read")
    school_path = [int(p) for p in report.school.path.strip("/").split("/")]
    routed_path = [int(p) for p in report.routed_unit.path.strip("/").split("/")]
    below = [u for u in school_path if u not in routed_path]
    if not below:
        return []

    def granted(units: list[int]):
        return select(Grant.user_id).where(
            Grant.role.in_(reading), Grant.revoked_at.is_(None), Grant.unit_id.in_(units)
        )

    return list(
        session.scalars(
            select(User)
            .where(
                User.id.in_(granted(below)),
                User.id.not_in(granted(routed_path)),
                User.id.not_in(administrators()),
            )
            .order_by(User.full_name, User.id)
        )
    )


def _exclude_school_side(
    session: Session, actor: User, report: SelfReport, case: Case, keep: set[int]
) -> int:
    """Exclude from ``case`` everyone school_side_readers() names, but those in ``keep`` (the
    officer unticked them: a trusted focal point). Each is one ``case.exclude`` event of the
    exclusion service; lifting one later takes the usual second person."""
    excluded = 0
    reason = _("Self-report naming school staff")
    for person in school_side_readers(session, report):
        if person.id in keep:
            continue
        case_records.exclude_person(session, actor, case, person.id, reason)
        excluded += 1
    return excluded


def accept_as_case(
    session: Session,
    actor: User,
    report: SelfReport,
    facts: AcceptFacts,
    version: int,
    keep: set[int] | frozenset[int] = frozenset(),
) -> Case:
    """Record a new case at the report's school from ``report``: received via "self_report"
    on the day the report came, the reporter's words and choices as its narrative, their
    name and contact as the informant's, the photos as attachments; a report saying someone
    is in danger hands its 12-hour clock (started at receipt) to the case.

    A report naming school staff (routed to the office above) is not handed to the school:
    in the same transaction everyone who would see the case only through the school is
    excluded from it (school_side_readers), but the people in ``keep``."""
    _decidable(report, version)
    if not facts.violence_types:
        raise ValidationFailed(_("Choose at least one kind of violence."))
    if not facts.harmed_age_band or not facts.perpetrator_age_band:
        raise ValidationFailed(_("Choose an answer in every list. Nothing was saved."))
    seal = ReportSeal(report)
    details = seal.open("details", report.details)
    danger_clock = report.due_at if report.danger else None
    case = intake.create_case(
        session,
        actor,
        report.school,
        intake.CaseDetails(
            received_on=report.received_on,
            received_via="self_report",
            reporter_kind=facts.reporter_kind,
            setting=facts.setting,
            violence_types=facts.violence_types,
            risk_level=facts.risk_level,
            serious_risk_to_child=facts.serious_risk_to_child,
            child=facts.child,
            harmed_sex=facts.harmed_sex,
            harmed_age_band=facts.harmed_age_band,
            harmed_role=facts.harmed_role,
            perpetrator_sex=facts.perpetrator_sex,
            perpetrator_age_band=facts.perpetrator_age_band,
            perpetrator_relationship=facts.perpetrator_relationship,
        ),
        intake.CaseContent(
            narrative=handling.summary_text(report, details),
            informant_name=seal.open("reporter_name", report.reporter_name),
            informant_contact=seal.open("reporter_contact", report.reporter_contact),
        ),
        intervention_due_at=danger_clock,
    )
    photos = _carry_photos(session, actor, report, case)
    _exclude_school_side(session, actor, report, case, set(keep))
    report.case_id = case.id
    _decided(report, actor, "accepted")
    record(
        session,
        actor,
        "selfreport.accept",
        report,
        unit=report.routed_unit,
        object_ref=case.reference,
        changes=changes_of(report) | {"photos": photos},
        case=case,
    )
    return case


def case_to_merge_into(session: Session, actor: User, reference: str) -> Case:
    """The case named by ``reference`` if ``actor`` may add to it and read its content;
    otherwise NotFound (whether it exists does not leak)."""
    reference = (reference or "").strip().upper()
    if not reference or len(reference) > 40:
        raise NotFound(_("No case with this reference that you may add to."))
    case = session.scalar(visible_cases(actor, "case.change").where(Case.reference == reference))
    if case is None or not can_read_content(actor, case) or case.key_destroyed_at is not None:
        raise NotFound(_("No case with this reference that you may add to."))
    return case


def merge_into_case(
    session: Session, actor: User, report: SelfReport, reference: str, version: int
) -> Case:
    """Add ``report`` to the case ``reference`` (an open one: a closed case is refused, nothing
    changed): its words and choices as a sealed note of the case, its photos as attachments;
    the conversation goes on in the case."""
    _decidable(report, version)
    case = case_to_merge_into(session, actor, reference)
    if case.status == "closed":
        # A closed case would close the report at once (its receipt code could even fall
        # due at the next retention run) and tell the reporter "closed" the day they wrote.
        raise ValidationFailed(
            _(
                "This case is closed: nothing was added. Reopen the case first, "
                "or accept the report as a new case."
            )
        )
    details = ReportSeal(report).open("details", report.details)
    intro = _("Self-report received %(day)s:", day=report.received_on.strftime("%d/%m/%Y"))
    case_records.add_note(
        session, actor, case, f"{intro}\n{handling.summary_text(report, details)}"
    )
    photos = _carry_photos(session, actor, report, case)
    report.case_id = case.id
    _decided(report, actor, "merged")
    record(
        session,
        actor,
        "selfreport.merge",
        report,
        unit=report.routed_unit,
        object_ref=case.reference,
        changes=changes_of(report) | {"photos": photos},
        case=case,
    )
    return case


def staff_message(
    session: Session, actor: User, report: SelfReport, body: str
) -> SelfReportMessage:
    """A message of the school side to the reporter, sealed under the report's key (not yet
    audited: the caller's event covers it)."""
    body = (body or "").strip()
    if not body or len(body) > MESSAGE_MAX:
        raise ValidationFailed(
            _("A message needs some text (at most %(n)d characters).", n=MESSAGE_MAX)
        )
    message = SelfReportMessage(
        uid=str(uuid.uuid4()),
        report_id=report.id,
        direction="staff",
        author_id=actor.id,
        sent_on=local_today(),
        staff_sent_at=utcnow(),
    )
    message.body = ReportSeal(report).seal_message(message.uid, body)
    if report.first_reply_on is None:
        report.first_reply_on = message.sent_on
    session.add(message)
    return message


def close_report(
    session: Session, actor: User, report: SelfReport, message: str, version: int
) -> SelfReport:
    """Close ``report`` with a message to the reporter (required: they are told why)."""
    _decidable(report, version)
    sent = staff_message(session, actor, report, message)
    _decided(report, actor, "closed")
    report.closed_on = local_today()
    record(
        session,
        actor,
        "selfreport.close",
        report,
        unit=report.routed_unit,
        changes=changes_of(report) | {"message": "changed"},
        covers=(sent,),
    )
    return report


def mark_spam(session: Session, actor: User, report: SelfReport, version: int) -> SelfReport:
    """Mark ``report`` as spam: closed without a message, counted apart (inbox.spam_counts)."""
    _decidable(report, version)
    _decided(report, actor, "spam")
    report.closed_on = local_today()
    record(session, actor, "selfreport.spam", report, unit=report.routed_unit)
    return report
