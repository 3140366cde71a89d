"""The conversation with a self-reporter on the school side: a reply from the report's page or
the case's, and the conversations of the reports linked to a case, read on the case's
confidential page (decrypted and audited in one call, like its notes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.errors import Forbidden, ValidationFailed
from caseapp.models import Case, User
from caseapp.models.selfreports import SelfReport, SelfReportMessage  # noqa: F401
from caseapp.services.audit.trail import record
from caseapp.services.cases.access import can_read_content
from caseapp.services.selfreports.decisions import staff_message
from caseapp.services.selfreports.handling import (
    MessageView,
    case_reference,
    content_destroyed,
    messages_of,
)
from caseapp.services.selfreports.seal import ReportSeal


def may_reply(actor: User, report: SelfReport) -> bool:
    """A reply goes out while the report is open, or once it is part of a case whose content
    ``actor`` may read; never to a report marked as spam."""
    if report.status == "spam" or content_destroyed(report):
        return False
    if report.is_open:
        return True
    return report.case is not None and can_read_content(actor, report.case)


def send_reply(session: Session, actor: User, report: SelfReport, body: str) -> SelfReportMessage:
    """Send ``body`` to the reporter (sealed under the report's key); they read it with their
    receipt code. The first reply sets the report's first-reply day (for the statistics)."""
    if report.status == "spam":
        raise ValidationFailed(_("A report marked as spam gets no reply."))
    if content_destroyed(report):
        raise ValidationFailed(_("This report's content was destroyed: no more replies."))
    if not may_reply(actor, report):
        raise Forbidden(_("This report is closed: no more replies can be sent."))
    message = staff_message(session, actor, report, body)
    record(
        session,
        actor,
        "selfreport.reply",
        message,
        unit=report.routed_unit,
        changes={"body": "changed", "report": report.uid},
        object_ref=case_reference(report),
        covers=(report,),
        case=report.case_id,
    )
    return message


@dataclass
class CaseConversation:
    """One report linked to a case, and its messages in clear."""

    report: SelfReport
    messages: list[MessageView] = field(default_factory=list)


def linked_reports(session: Session, case: Case) -> list[SelfReport]:
    return list(
        session.scalars(
            select(SelfReport).where(SelfReport.case_id == case.id).order_by(SelfReport.id)
        )
    )


def open_for_case(
    session: Session, actor: User, case: Case, reason: str = ""
) -> list[CaseConversation]:
    """The conversations of the reports accepted or merged into ``case``, for someone who may
    read its content (Forbidden otherwise); one ``selfreport.read`` event for all of them,
    with the reason the case was opened under. Nothing (and no event) when none is linked."""
    if not can_read_content(actor, case):
        raise Forbidden(_("You may see this case's details but not its confidential content."))
    reports = linked_reports(session, case)
    if not reports:
        return []
    out = [
        CaseConversation(r, [] if content_destroyed(r) else messages_of(session, r, ReportSeal(r)))
        for r in reports
    ]
    count = sum(len(c.messages) for c in out)
    record(
        session,
        actor,
        "selfreport.read",
        unit=case.unit,
        object_type="cases",
        object_id=str(case.id),
        object_ref=case.reference,
        changes={"reports": [r.uid for r in reports], "messages": count},
        reason=reason,
        case=case,
    )
    return out


def report_to_answer(session: Session, actor: User, uid: str) -> SelfReport:
    """The report ``actor`` answers: one they may see (inbox.get_report), or one linked to a
    case whose content they may read (the reply form of the case's page). NotFound otherwise."""
    from caseapp.errors import NotFound
    from caseapp.services.cases.access import visible_cases
    from caseapp.services.selfreports.inbox import get_report

    try:
        return get_report(session, actor, uid)
    except NotFound:
        pass
    report = session.scalar(
        select(SelfReport)
        .join(Case, Case.id == SelfReport.case_id)
        .where(
            SelfReport.uid == uid,
            Case.id.in_(visible_cases(actor).with_only_columns(Case.id)),
        )
    )
    if report is None or report.case is None or not can_read_content(actor, report.case):
        raise NotFound()
    return report
