"""A report sent from the public page of a school: checked, sealed under a fresh key at once,
routed, audited with the day only, and announced to the people it waits for.

Nothing of the reporter's device is kept: no address, user agent or time of day (the report
carries the day it arrived; its clock ``due_at`` is the routing deadline, emptied once the
report is decided). The receipt code is returned once and kept only as a keyed hash."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.errors import NotFound, ValidationFailed
from caseapp.models import Unit
from caseapp.models.selfreports import (
    CONTACT_MAX,
    DETAILS_MAX,
    NAME_MAX,
    WHAT_HAPPENED,
    WHEN_CHOICES,
    WHERE_CHOICES,
    WHO_DID,
    WHO_HURT,
    SelfReport,
)
from caseapp.security.envelope import normalise_name
from caseapp.services.audit.trail import record
from caseapp.services.selfreports import photos as photo_store
from caseapp.services.selfreports import routing, seal, throttle
from caseapp.services.selfreports.throttle import ReportsThrottled

__all__ = ["ReportInput", "ReportsThrottled", "check", "find_schools", "school_by_code", "submit"]

RECEIVED = "selfreport.received"
SEARCH_LIMIT = 20
# A typed school name is searched for when it has at least this many letters.
SEARCH_MIN = 2


@dataclass
class ReportInput:
    """What the reporter chose and typed, as the form sends it (unchecked)."""

    who_hurt: str = ""
    what: list[str] = field(default_factory=list)
    happened_when: str = ""
    happened_where: str = ""
    who_did: str = ""
    danger: str = ""
    details: str = ""
    name: str = ""
    contact: str = ""
    ask_office: bool = False


def school_by_code(session: Session, code: str) -> Unit:
    """The open school of this code, else NotFound (any other unit too: reports go to schools)."""
    today = local_today()
    school = session.scalar(
        select(Unit).where(
            Unit.code == (code or "").strip()[:50],
            Unit.kind == "school",
            or_(Unit.valid_to.is_(None), Unit.valid_to > today),
        )
    )
    if school is None:
        raise NotFound()
    return school


# Vietnamese letters with diacritics (both cases), and each one folded as normalise_name
# folds it: translate() with them, then lower(), is normalise_name in SQL for a name in NFC.
_ACCENTED = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
_ACCENTED += _ACCENTED.upper()
_FOLDED = "".join(normalise_name(ch) for ch in _ACCENTED)


def find_schools(session: Session, typed: str) -> list[Unit]:
    """Open schools whose name holds every typed word, diacritics and case folded; at most
    SEARCH_LIMIT, by name. The database folds and filters (translate and lower, in
    PostgreSQL and SQLite alike): a search never loads every school."""
    # A NUL parts words (no name holds one, and PostgreSQL refuses it in a parameter).
    words = normalise_name(typed[:100].replace("\x00", " ")).split()
    if sum(len(w) for w in words) < SEARCH_MIN:
        return []
    today = local_today()
    folded = func.lower(func.translate(Unit.name, _ACCENTED, _FOLDED))
    return list(
        session.scalars(
            select(Unit)
            .where(
                Unit.kind == "school",
                or_(Unit.valid_to.is_(None), Unit.valid_to > today),
                *(folded.contains(w, autoescape=True) for w in words[:10]),
            )
            .order_by(Unit.name)
            .limit(SEARCH_LIMIT)
        )
    )


def _clean(value: str, limit: int, message: str) -> str:
    value = (value or "").replace("\x00", "").strip()
    if len(value) > limit:
        raise ValidationFailed(message)
    return value


def check(data: ReportInput) -> ReportInput:
    """The input with its choices checked and its texts trimmed; ValidationFailed with a clear
    message otherwise (nothing stored)."""
    if data.who_hurt not in WHO_HURT:
        raise ValidationFailed(_("Please say who was hurt: you, or someone else."))
    what = [w for w in dict.fromkeys(data.what) if w]
    if any(w not in WHAT_HAPPENED for w in what):
        raise ValidationFailed(_("Please choose what happened from the list."))
    details = _clean(
        data.details,
        DETAILS_MAX,
        _("Please write at most %(n)d characters about what happened.", n=DETAILS_MAX),
    )
    if not what and not details:
        raise ValidationFailed(_("Please choose what happened, or write a few words about it."))
    when = data.happened_when or "not_sure"
    where = data.happened_where or "not_sure"
    if when not in WHEN_CHOICES or where not in WHERE_CHOICES:
        raise ValidationFailed(_("Please choose when and where from the list."))
    who_did = data.who_did or "not_said"
    if who_did not in WHO_DID:
        raise ValidationFailed(_("Please choose who did it from the list, or leave it empty."))
    if data.danger not in ("", "yes", "no"):
        raise ValidationFailed(_("Please answer yes or no: is someone in danger now?"))
    name = _clean(data.name, NAME_MAX, _("A name can be at most %(n)d characters.", n=NAME_MAX))
    contact = _clean(
        data.contact,
        CONTACT_MAX,
        _("A way to contact you can be at most %(n)d characters.", n=CONTACT_MAX),
    )
    return ReportInput(
        who_hurt=data.who_hurt,
        what=what,
        happened_when=when,
        happened_where=where,
        who_did=who_did,
        danger=data.danger,
        details=details,
        name=name,
        contact=contact,
        ask_office=bool(data.ask_office),
    )


def submit(
    session: Session,
    school_code: str,
    data: ReportInput,
    uploads: list[photo_store.Upload],
    address: str,
) -> tuple[SelfReport, str]:
    """Store a new report and return it with its receipt code (shown once, never stored).

    ``address`` only counts against the per-address limit (ReportsThrottled past it, nothing
    stored); it is never stored. The view commits; but when photos come with the report, the
    address's count is committed before they are decoded, so a report refused for a bad photo
    keeps its slot (one address cannot have photos decoded without end)."""
    school = school_by_code(session, school_code)
    data = check(data)
    given = photo_store.check_count(uploads)
    # Counted before the photos are decoded, so a flood costs little, and kept once decoding
    # starts: a refused photo does not give the slot back.
    if not throttle.take_report_slot(session, address):
        raise ReportsThrottled(_("Too many reports were sent from this connection."))
    if given:
        session.commit()
    cleaned = [photo_store.clean_jpeg(u.data) for u in given]
    today = local_today()
    routed, route = routing.route_for(school, data.who_did, data.ask_office)
    danger = data.danger == "yes"
    report = SelfReport(
        uid=str(uuid.uuid4()),
        school_id=school.id,
        school=school,
        routed_unit_id=routed.id,
        routed_unit=routed,
        route=route,
        status="new",
        received_on=today,
        danger=danger,
        who_hurt=data.who_hurt,
        who_did=data.who_did,
        what=",".join(data.what),
        happened_when=data.happened_when,
        happened_where=data.happened_where,
        due_at=routing.due_at_receipt(danger),
    )
    key = seal.new_report_key(report)
    sealer = seal.ReportSeal(report, key)
    report.details = sealer.seal("details", data.details)
    report.reporter_name = sealer.seal("reporter_name", data.name)
    report.reporter_contact = sealer.seal("reporter_contact", data.contact)
    code = _unique_code(session, report)
    stored = photo_store.store_photos(report, sealer, cleaned, today)
    report.photos.extend(stored)
    try:
        session.add(report)
        record(
            session,
            None,
            RECEIVED,
            report,
            unit=routed,
            changes={
                "route": route,
                "danger": danger,
                "photos": len(stored),
                "contact_given": bool(data.contact),
            },
            covers=tuple(stored),
            day_only=True,
        )
        routing.announce(session, report)
    except BaseException:
        photo_store.discard(stored)
        raise
    return report, code


def _unique_code(session: Session, report: SelfReport) -> str:
    """A new code whose hash no report holds (a clash among 10^16 codes is astronomically rare;
    the loop also covers the uniqueness of the column)."""
    for _attempt in range(5):
        code = seal.new_receipt_code()
        hashes = seal.receipt_hashes(code)
        with session.no_autoflush:
            taken = session.scalar(
                select(SelfReport.id).where(SelfReport.receipt_hash.in_(hashes)).limit(1)
            )
        if taken is None:
            report.receipt_hash = seal.receipt_hash(code)
            return code
    raise IntegrityError("receipt code", None, Exception("no free receipt code"))
