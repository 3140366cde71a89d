"""Closed cases of given dates for the retention tests (closed through a transition row dated
as the workflow would have written it, audited)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from caseapp.models import CaseTransition, Unit, User
from caseapp.services.audit.trail import record
from caseapp.services.cases import intake as cases
from tests.functional.case_attack_support import case_details

FOCAL_OF = {"SCH-A": "focal_a", "SCH-B": "focal_b", "SCH-C": "focal_c"}
# An adult harmed (19): the case falls due by the adults' rule alone.
ADULT = {"child": False, "harmed_age_band": "18-24", "harmed_age_years": 19, "harmed_role": "other"}


def closed_case(db, world, received: date, closed: date | None, school: str = "SCH-A", **details):
    """A case of ``school`` received on ``received`` and closed on ``closed`` (noon in Hanoi);
    None leaves it open."""
    focal = db.get(User, world[FOCAL_OF[school]].id)
    unit = db.get(Unit, world.units[school])
    made = cases.create_case(
        db,
        focal,
        unit,
        case_details(received_on=received, **details),
        cases.CaseContent(harmed_name="Lê Thị Thu", narrative="Em bị bạn xô ngã."),
    )
    if closed is not None:
        step = CaseTransition(
            case_id=made.id,
            from_status="closure_requested",
            to_status="closed",
            by_id=focal.id,
            at=datetime.combine(closed, time(5), tzinfo=UTC),
        )
        db.add(step)
        old, made.status = made.status, "closed"
        record(
            db,
            None,
            "case.transition",
            made,
            unit=unit,
            object_ref=made.reference,
            changes={"status": [old, "closed"]},
            covers=(step,),
        )
    db.commit()
    return made
