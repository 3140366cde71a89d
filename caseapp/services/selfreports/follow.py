"""What the holder of a receipt code sees and does: the report found by its code (throttled,
and a blocked guess answers as a wrong one), its status in plain words, the conversation, and
a new message with photos from the reporter.

The reporter reading their own report is not audited (it is no one else's read, and an event
would tell when they looked); their new message is, with the day only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.errors import ValidationFailed
from caseapp.models.selfreports import (
    MESSAGE_MAX,
    SelfReport,
    SelfReportMessage,
    SelfReportPhoto,
)
from caseapp.models.steps import CaseTransition
from caseapp.services.audit.trail import record
from caseapp.services.privacy import periods
from caseapp.services.privacy.retention import add_period, closure_day
from caseapp.services.selfreports import photos as photo_store
from caseapp.services.selfreports import routing, seal, throttle

MESSAGE_RECEIVED = "selfreport.message_received"
# The four words a reporter sees (models.selfreports.REPORT_STATUSES and the case's status
# folded into them). A report marked as spam reads "closed": its sender learns nothing.
PUBLIC_STATUSES = ("received", "looking", "help", "closed")
_CASE_STATUS = {
    "new": "looking",
    "verifying": "looking",
    "supporting": "help",
    "monitoring": "help",
    "closure_requested": "help",
    "reopened": "looking",
    "closed": "closed",
}


class ReportClosed(ValidationFailed):
    """The report is closed (or its code expired): no new message."""


@dataclass(frozen=True)
class Line:
    """One message as the reporter sees it: who wrote it (``mine``), the day, the text."""

    mine: bool
    sent_on: date
    text: str
    photos: int


def public_status(report: SelfReport) -> str:
    """One of PUBLIC_STATUSES: from the report's status and, once it became (or joined) a
    case, from the case's."""
    if report.status in ("closed", "spam"):
        return "closed"
    if report.status == "new":
        return "received"
    if report.status == "seen":
        return "looking"
    if report.case is not None:
        return _CASE_STATUS.get(report.case.status, "looking")
    return "looking"


def closed_on(session: Session, report: SelfReport) -> date | None:
    """The day the report, or the case it became, was closed (None while open)."""
    if report.status in ("closed", "spam"):
        return report.closed_on or local_today()
    case = report.case
    if case is not None and case.status == "closed":
        at = session.scalar(
            select(func.max(CaseTransition.at)).where(
                CaseTransition.case_id == case.id, CaseTransition.to_status == "closed"
            )
        )
        return closure_day(at) if at is not None else local_today()
    return None


def expired(session: Session, report: SelfReport) -> bool:
    """True once the report was closed longer ago than the period "retention_receipts"."""
    day = closed_on(session, report)
    if day is None:
        return False
    period = periods.get(session, "retention_receipts")
    return local_today() > add_period(day, period.amount, period.unit)


# What a typed text that is no code at all is looked up as: no receipt code is this (codes are
# 16 digits), and the lookup runs the same statement as for a real guess.
_NO_CODE = "no-code"


def find_by_code(session: Session, typed: str, address: str) -> SelfReport | None:
    """The report of a typed code, or None: for a code that is not one, unknown, expired, or
    typed while this address (or everyone) is blocked from guessing. The caller answers all of
    them alike. A wrong code and a blocked guess run the same statements in the same order
    (normalise, hash, look up, read the counters, count a miss), blocked or not decided only
    at the end: neither the page nor its timing tells them apart. The view commits."""
    code = seal.normalise_code(typed)
    report = session.scalar(
        select(SelfReport).where(SelfReport.receipt_hash.in_(seal.receipt_hashes(code or _NO_CODE)))
    )
    blocked = throttle.guessing_blocked(session, address)
    if blocked or report is None:
        throttle.count_wrong_code(session, address)
        return None
    if expired(session, report):
        throttle.count_wrong_code(session, address)
        return None
    return report


def conversation(report: SelfReport) -> list[Line]:
    """The messages of both sides in the order they were written, with the day only."""
    sealer = seal.ReportSeal(report)
    counts: dict[int, int] = {}
    for photo in report.photos:
        if photo.message_id is not None:
            counts[photo.message_id] = counts.get(photo.message_id, 0) + 1
    return [
        Line(
            mine=m.direction == "reporter",
            sent_on=m.sent_on,
            text=sealer.open_message(m.uid, m.body),
            photos=counts.get(m.id, 0),
        )
        for m in report.messages
    ]


def add_message(
    session: Session,
    report: SelfReport,
    body: str,
    uploads: list[photo_store.Upload],
    *,
    address: str,
) -> tuple[SelfReportMessage, list[SelfReportPhoto]]:
    """A message (and up to PHOTOS_MAX photos) from the reporter, sealed under the report's
    key, with the day only. Refused when the report is closed or its code expired, and past
    the limits of throttle.take_message_slot (``address`` is counted, never stored). Returns the
    message and its photos (their sealed files are written: the caller discards them when the
    commit fails)."""
    closed = report.status in ("closed", "spam") or report.wrapped_key is None
    if closed or closed_on(session, report) is not None:
        raise ReportClosed(
            _("This report is closed, so no new messages can be added. In danger? Call 111.")
        )
    body = (body or "").replace("\x00", "").strip()
    if not body:
        raise ValidationFailed(_("Please write your message."))
    if len(body) > MESSAGE_MAX:
        raise ValidationFailed(_("A message can be at most %(n)d characters.", n=MESSAGE_MAX))
    given = photo_store.check_count(uploads)
    throttle.take_message_slot(session, report.id, address, len(given))  # MessagesThrottled
    cleaned = [photo_store.clean_jpeg(u.data) for u in given]
    today = local_today()
    sealer = seal.ReportSeal(report)
    message = SelfReportMessage(
        uid=str(uuid.uuid4()),
        report_id=report.id,
        direction="reporter",
        author_id=None,
        sent_on=today,
        staff_sent_at=None,
    )
    message.body = sealer.seal_message(message.uid, body)
    session.add(message)
    session.flush()  # the message's id, for its photos
    stored = photo_store.store_photos(report, sealer, cleaned, today, message_id=message.id)
    try:
        for photo in stored:
            photo.report_id = report.id
            session.add(photo)
        record(
            session,
            None,
            MESSAGE_RECEIVED,
            message,
            unit=report.routed_unit,
            changes={"photos": len(stored)},
            # Once the report is part of a case, the message shows in the case's timeline
            # (as the staff's replies do: conversation.send_reply).
            object_ref=report.case.reference if report.case is not None else "",
            covers=tuple(stored),
            day_only=True,
        )
        routing.announce_message(session, report)  # once per report and day, names nobody
    except BaseException:
        photo_store.discard(stored)
        raise
    return message, stored


def report_by_uid(session: Session, uid: str) -> SelfReport | None:
    """The report a (signed) reply token names."""
    return session.scalar(select(SelfReport).where(SelfReport.uid == uid))


@dataclass(frozen=True)
class FollowView:
    """Everything the follow page shows of one report."""

    school_name: str
    received_on: date
    status: str
    lines: list[Line]
    open_for_messages: bool
    destroyed: bool = False  # the report's key was destroyed: its messages are gone


def view_of(session: Session, report: SelfReport) -> FollowView:
    destroyed = report.wrapped_key is None
    return FollowView(
        school_name=report.school.name,
        received_on=report.received_on,
        status=public_status(report),
        lines=[] if destroyed else conversation(report),
        open_for_messages=not destroyed and closed_on(session, report) is None,
        destroyed=destroyed,
    )
