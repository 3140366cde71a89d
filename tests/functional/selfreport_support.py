"""Self-reports written straight into the database for the tests that count them (reports,
retention): no seal, no receipt code unless asked; audited like a report arriving."""

from __future__ import annotations

import uuid
from datetime import date

from caseapp.models import Unit
from caseapp.models.selfreports import SelfReport
from caseapp.services.audit.trail import record


def add_self_report(
    db,
    school: Unit,
    received_on: date,
    status: str = "new",
    first_reply_on: date | None = None,
    closed_on: date | None = None,
    case_id: int | None = None,
    receipt_hash: str | None = None,
) -> SelfReport:
    report = SelfReport(
        uid=str(uuid.uuid4()),
        school_id=school.id,
        routed_unit_id=school.id,
        route="school",
        status=status,
        received_on=received_on,
        who_hurt="me",
        who_did="pupil",
        what="hit",
        happened_when="today",
        happened_where="in_school",
        wrapped_key=None,
        details=None,
        first_reply_on=first_reply_on,
        closed_on=closed_on,
        case_id=case_id,
        receipt_hash=receipt_hash,
    )
    db.add(report)
    db.flush()
    record(db, None, "selfreport.test_data", report, unit=school, day_only=True)
    return report
