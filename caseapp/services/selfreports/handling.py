"""Opening a self-report on the school side: its sealed details, the reporter's name and contact,
the conversation and the photos, decrypted for one person and audited in the same call.

The first time someone who handles reports opens a new one, it becomes "seen" (the clock of
escalation stops); that change and the read are one ``selfreport.read`` event."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.errors import NotFound
from caseapp.labels import selfreport_staff_names
from caseapp.models import User
from caseapp.models.selfreports import SelfReport, SelfReportMessage, SelfReportPhoto
from caseapp.runtime import settings
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.selfreports.seal import ReportSeal


@dataclass
class MessageView:
    """One message of the conversation in clear (never stored, logged or audited)."""

    uid: str
    direction: str
    author: str
    sent_on: date
    sent_at: datetime | None
    body: str


@dataclass
class ReportView:
    """What the report page shows: the report, its sealed fields in clear, the conversation
    and its photos (their ids and types only; a photo is streamed by open_photo)."""

    report: SelfReport
    details: str = ""
    name: str = ""
    contact: str = ""
    messages: list[MessageView] = field(default_factory=list)
    photos: list[SelfReportPhoto] = field(default_factory=list)
    destroyed: bool = False  # its key was destroyed: nothing of its content can be read


def content_destroyed(report: SelfReport) -> bool:
    """True once the report's key was destroyed (with its case's content, or by the retention
    run after it closed on its own): its sealed fields, messages and photos are unreadable."""
    return report.wrapped_key is None


def photo_path(photo: SelfReportPhoto) -> Path:
    """Where the sealed file of a report's photo lies (the attachment store)."""
    return settings().attachment_dir / photo.storage_name


def case_reference(report: SelfReport) -> str:
    """The reference of the case a report became part of ("" before): its events then show in
    that case's timeline."""
    return report.case.reference if report.case is not None else ""


def messages_of(session: Session, report: SelfReport, seal: ReportSeal) -> list[MessageView]:
    """The conversation of ``report`` in clear, oldest first. Private to the audited readers of
    this package (open_report, conversation.open_for_case)."""
    rows = session.execute(
        select(SelfReportMessage, User.full_name)
        .outerjoin(User, User.id == SelfReportMessage.author_id)
        .where(SelfReportMessage.report_id == report.id)
        .order_by(SelfReportMessage.id)
    ).all()
    return [
        MessageView(
            m.uid,
            m.direction,
            name or "",
            m.sent_on,
            m.staff_sent_at,
            seal.open_message(m.uid, m.body),
        )
        for m, name in rows
    ]


def open_report(session: Session, actor: User, report: SelfReport) -> ReportView:
    """Decrypt ``report`` for ``actor`` (who found it through inbox.get_report) and audit the
    read. A new report becomes "seen" by ``actor``: the same event carries that change."""
    if content_destroyed(report):
        view = ReportView(report, destroyed=True)
    else:
        seal = ReportSeal(report)
        view = ReportView(
            report,
            details=seal.open("details", report.details),
            name=seal.open("reporter_name", report.reporter_name),
            contact=seal.open("reporter_contact", report.reporter_contact),
            messages=messages_of(session, report, seal),
            photos=list(
                session.scalars(
                    select(SelfReportPhoto)
                    .where(SelfReportPhoto.report_id == report.id)
                    .order_by(SelfReportPhoto.id)
                )
            ),
        )
    if report.status == "new":
        report.status = "seen"
        report.seen_at = utcnow()
        report.seen_by_id = actor.id
    record(
        session,
        actor,
        "selfreport.read",
        report,
        unit=report.routed_unit,
        changes=changes_of(report),
        object_ref=case_reference(report),
        case=report.case_id,
    )
    return view


def open_photo(
    session: Session, actor: User, report: SelfReport, photo_uid: str
) -> tuple[str, int, Iterator[bytes]]:
    """(type, size, plaintext chunks) of one photo of ``report``; every download is audited.
    The sealed file is opened before anything is audited (a missing file is a 404)."""
    photo = session.scalar(
        select(SelfReportPhoto).where(
            SelfReportPhoto.report_id == report.id, SelfReportPhoto.uid == photo_uid
        )
    )
    if photo is None or content_destroyed(report):
        raise NotFound()
    try:
        handle = open(photo_path(photo), "rb")  # noqa: SIM115 - closed by the chunks below
    except OSError:
        raise NotFound(_("The file of this photo is missing from the server.")) from None
    try:
        seal = ReportSeal(report)
        record(
            session,
            actor,
            "selfreport.photo_download",
            unit=report.routed_unit,
            object_type="self_report_photos",
            object_id=str(photo.id),
            object_ref=case_reference(report),
            case=report.case_id,
        )
    except BaseException:
        handle.close()
        raise

    def chunks() -> Iterator[bytes]:
        with handle:
            yield from seal.open_photo(photo.uid, handle)

    return photo.content_type, photo.size, chunks()


def photo_chunks(report: SelfReport, photo: SelfReportPhoto) -> Iterator[bytes]:
    """The plaintext of a photo for re-sealing it under a case's key (decisions.py): the
    caller's event (accept, merge) accounts for it."""
    seal = ReportSeal(report)
    with open(photo_path(photo), "rb") as handle:
        yield from seal.open_photo(photo.uid, handle)


def choices_in_words(report: SelfReport) -> list[tuple[str, str]]:
    """The reporter's choices as (question, answer) lines, in the reader's language."""
    names = selfreport_staff_names()
    what = ", ".join(names["what"].get(w, w) for w in report.what_kinds) or "—"
    return [
        (_("Who was hurt"), names["who_hurt"].get(report.who_hurt, report.who_hurt)),
        (_("What happened"), what),
        (_("When"), names["when"].get(report.happened_when, report.happened_when)),
        (_("Where"), names["where"].get(report.happened_where, report.happened_where)),
        (_("Who did it"), names["who_did"].get(report.who_did, report.who_did)),
        (_("Someone may be in danger"), _("Yes") if report.danger else _("No")),
    ]


def summary_text(report: SelfReport, details: str) -> str:
    """The reporter's words and choices as one text (a case's narrative, or a note)."""
    lines = [f"{q}: {a}" for q, a in choices_in_words(report)]
    return "\n".join([details.strip(), "", *lines]).strip()
