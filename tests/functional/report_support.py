"""Hand-counted report data: cases, steps, transitions and activities in the first half of 2020
(a period nothing else in the suite uses), written with the services the screens call.

The counts each test expects are worked out by hand from the table below, not by the code
under test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from caseapp.models import CaseTransition, Unit, User
from caseapp.services.audit.trail import record
from caseapp.services.cases import records as case_records
from caseapp.services.cases import steps as step_service
from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case
from caseapp.services.cases.steps import StepInput
from caseapp.services.org import referrals
from caseapp.services.reports import activities
from caseapp.services.reports.activities import ActivityInput
from tests.functional.selfreport_support import add_self_report

PERIOD = (date(2020, 1, 1), date(2020, 6, 30))
# Self-reports from the schools' public pages: (school, received, status, first reply).
# Replies after 0, 2 and 5 days at SCH-A; none yet at SCH-B; SCH-C's came in July.
SELF_REPORTS = (
    ("SCH-A", date(2020, 2, 10), "accepted", date(2020, 2, 10)),
    ("SCH-A", date(2020, 3, 2), "closed", date(2020, 3, 4)),
    ("SCH-A", date(2020, 4, 1), "spam", date(2020, 4, 6)),
    ("SCH-B", date(2020, 5, 20), "new", None),
    ("SCH-C", date(2020, 7, 3), "merged", date(2020, 7, 4)),
)
SCHOOL_FOCAL = {"SCH-A": "focal_a", "SCH-B": "focal_b", "SCH-C": "focal_c"}
ADULT_BANDS = ("18-24", "25-59", "60+")


@dataclass(frozen=True)
class Spec:
    key: str
    school: str
    received_on: date
    types: tuple[str, ...]
    sex: str
    age: str
    role: str
    perp_sex: str
    perp_rel: str
    perp_count: int = 1


CASES = (
    Spec(
        "A1",
        "SCH-A",
        date(2020, 1, 6),
        ("physical", "psychological"),
        "female",
        "11-14",
        "pupil",
        "male",
        "pupil_peer",
        2,
    ),
    Spec(
        "A2",
        "SCH-A",
        date(2020, 2, 3),
        ("physical",),
        "male",
        "11-14",
        "pupil",
        "male",
        "pupil_peer",
    ),
    Spec(
        "A3",
        "SCH-A",
        date(2020, 3, 2),
        ("sexual_harassment",),
        "female",
        "15-17",
        "pupil",
        "male",
        "teacher",
    ),
    Spec(
        "A4",
        "SCH-A",
        date(2020, 4, 6),
        ("psychological",),
        "female",
        "25-59",
        "teacher",
        "female",
        "family_member",
        3,
    ),
    Spec(
        "B1",
        "SCH-B",
        date(2020, 2, 10),
        ("cyber", "psychological"),
        "male",
        "15-17",
        "pupil",
        "other",
        "pupil_peer",
        2,
    ),
    Spec(
        "B2",
        "SCH-B",
        date(2020, 5, 4),
        ("physical",),
        "not_recorded",
        "6-10",
        "pupil",
        "male",
        "stranger",
    ),
    Spec(
        "C1",
        "SCH-C",
        date(2020, 3, 16),
        ("neglect",),
        "female",
        "6-10",
        "pupil",
        "female",
        "family_member",
    ),
    # The last day of the period counts.
    Spec(
        "C2",
        "SCH-C",
        date(2020, 6, 30),
        ("physical",),
        "male",
        "11-14",
        "pupil",
        "male",
        "pupil_peer",
    ),
    # Outside the period, a day after it and a day before it: never counted.
    Spec(
        "X1",
        "SCH-A",
        date(2020, 7, 1),
        ("rape",),
        "female",
        "15-17",
        "pupil",
        "male",
        "stranger",
        4,
    ),
    Spec(
        "X2",
        "SCH-A",
        date(2019, 12, 31),
        ("physical",),
        "male",
        "11-14",
        "pupil",
        "male",
        "pupil_peer",
        5,
    ),
)


def user(db, world, name: str) -> User:
    return db.get(User, world[name].id)


def unit(db, world, code: str) -> Unit:
    return db.get(Unit, world.units[code])


def new_case(db, world, spec: Spec):
    details = CaseDetails(
        received_on=spec.received_on,
        received_via="in_person",
        reporter_kind="teacher",
        setting="in_school",
        violence_types=list(spec.types),
        child=spec.age not in ADULT_BANDS,
        harmed_sex=spec.sex,
        harmed_age_band=spec.age,
        harmed_role=spec.role,
        perpetrator_sex=spec.perp_sex,
        perpetrator_age_band="11-14" if spec.perp_rel == "pupil_peer" else "25-59",
        perpetrator_relationship=spec.perp_rel,
        risk_level="medium",
        perpetrator_count=spec.perp_count,
    )
    return create_case(
        db,
        user(db, world, SCHOOL_FOCAL[spec.school]),
        unit(db, world, spec.school),
        details,
        CaseContent(harmed_name=f"Người {spec.key}"),
    )


def _at(year, month, day, hour) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# The status path of some cases, at fixed instants (UTC). Vietnam is UTC+7: 20:00 UTC on
# 1 March is 03:00 on 2 March there, and 18:00 UTC on 30 June is already 1 July.
PATHS = {
    "A1": [
        ("verifying", _at(2020, 1, 7, 3)),
        ("supporting", _at(2020, 1, 9, 3)),
        ("monitoring", _at(2020, 1, 15, 3)),
        ("closure_requested", _at(2020, 2, 25, 3)),
        ("closed", _at(2020, 3, 1, 20)),
    ],
    "A2": [
        ("verifying", _at(2020, 2, 4, 3)),
        ("supporting", _at(2020, 2, 14, 3)),
        ("monitoring", _at(2020, 2, 21, 3)),
        ("closure_requested", _at(2020, 6, 20, 5)),
        ("closed", _at(2020, 6, 30, 18)),
    ],
    "B1": [
        ("verifying", _at(2020, 2, 11, 3)),
        ("supporting", _at(2020, 2, 15, 3)),
        ("monitoring", _at(2020, 2, 20, 3)),
        ("closure_requested", _at(2020, 4, 10, 3)),
        ("closed", _at(2020, 4, 14, 5)),
    ],
    "C1": [("verifying", _at(2020, 3, 17, 3))],
}


def backdate_transitions(db, actor, case, path) -> None:
    """Transitions at past instants (the service stamps them now); audited like the service."""
    status, rows = case.status, []
    for target, at in path:
        rows.append(
            CaseTransition(
                case_id=case.id, from_status=status, to_status=target, at=at, by_id=actor.id
            )
        )
        status = target
    db.add_all(rows)
    case.status = status
    record(
        db,
        actor,
        "case.transition",
        case,
        unit=case.unit,
        object_ref=case.reference,
        reason="Dữ liệu kiểm thử báo cáo",
        covers=tuple(rows),
    )


def _step(db, actor, case, kind, **fields):
    return step_service.add_step(db, actor, case, StepInput(kind=kind, **fields))


def _finish(db, actor, case, step, **fields):
    db.flush()
    return step_service.complete_step(
        db, actor, case, step, StepInput(kind=step.kind, **fields), step.version
    )


def build_period_data(db, world) -> dict:
    """Every case of CASES with its steps and transitions, and the activities; committed
    (inside the test's rolled-back transaction). Returns the cases by key."""
    cases = {spec.key: new_case(db, world, spec) for spec in CASES}
    db.flush()
    fa, fb, fc = (user(db, world, n) for n in ("focal_a", "focal_b", "focal_c"))
    # Verification: A1 in 2 days, A2 in 10, A3 in 20, B1 in 4; C1 only after the period.
    _step(
        db,
        fa,
        cases["A1"],
        "verification",
        method="interview",
        finding="substantiated",
        done_on=date(2020, 1, 8),
    )
    open_a2 = _step(db, fa, cases["A2"], "verification", method="interview")
    _finish(db, fa, cases["A2"], open_a2, finding="not_substantiated", done_on=date(2020, 2, 13))
    _step(
        db,
        fa,
        cases["A3"],
        "verification",
        method="witness_statement",
        finding="inconclusive",
        done_on=date(2020, 3, 22),
    )
    _step(
        db,
        fb,
        cases["B1"],
        "verification",
        method="interview",
        finding="substantiated",
        done_on=date(2020, 2, 14),
    )
    open_c1 = _step(db, fc, cases["C1"], "verification", method="site_visit")
    _finish(db, fc, cases["C1"], open_c1, finding="substantiated", done_on=date(2020, 7, 10))
    _step(
        db,
        fa,
        cases["X1"],
        "verification",
        method="interview",
        finding="substantiated",
        done_on=date(2020, 7, 2),
    )
    # Support: A1 counselling and a safety plan, A2 counselling; A3 counselling only planned
    # and a referral accepted; B1 medical care given after the period.
    for case, service, done in (
        ("A1", "counselling", date(2020, 1, 10)),
        ("A1", "safety_plan", date(2020, 1, 12)),
        ("A2", "counselling", date(2020, 2, 20)),
    ):
        _step(db, fa, cases[case], "support", service=service, status="provided", done_on=done)
    _step(db, fa, cases["A3"], "support", service="counselling", status="planned")
    _step(
        db,
        fb,
        cases["B1"],
        "support",
        service="medical_care",
        status="provided",
        done_on=date(2020, 7, 5),
    )
    contact = referrals.create_contact(
        db, None, unit(db, world, "D1"), "Tổng đài 111", "hotline", "111", ""
    )
    for party in ("person_harmed", "guardian"):
        case_records.record_consent(db, fa, cases["A3"], party, "referral", date(2020, 3, 3))
    referral = _step(db, fa, cases["A3"], "referral", contact_id=contact.id)
    _finish(db, fa, cases["A3"], referral, status="accepted", done_on=date(2020, 3, 20))
    for key, path in PATHS.items():
        backdate_transitions(db, user(db, world, "officer_p"), cases[key], path)
    for who, code, held_on, kind, counts in (
        ("focal_a", "SCH-A", date(2020, 3, 10), "training", (10, 12, 1)),
        ("focal_a", "SCH-A", date(2020, 5, 5), "training", (5, 5, 0)),
        ("officer_d1", "D1", date(2020, 6, 1), "communication", (20, 15, 2)),
        ("focal_c", "SCH-C", date(2020, 6, 15), "action_month_june", (30, 28, 0)),
        ("focal_a", "SCH-A", date(2020, 8, 1), "training", (100, 100, 0)),
    ):
        activities.create(
            db,
            user(db, world, who),
            unit(db, world, code),
            ActivityInput(
                held_on=held_on,
                kind=kind,
                audience="pupils",
                title=f"Hoạt động {held_on}",
                participants_female=counts[0],
                participants_male=counts[1],
                participants_other=counts[2],
            ),
        )
    for code, received_on, status, replied in SELF_REPORTS:
        add_self_report(db, unit(db, world, code), received_on, status, first_reply_on=replied)
    db.commit()
    return cases


def frozen_snapshot(db, school: Unit, period, data: dict, by: User, at: datetime | None = None):
    """A submitted report of ``school`` holding ``data`` as is (an old format, a work report),
    hashed as a submission hashes it; committed with its audit event."""
    import hashlib
    import json

    from caseapp.models import ReportSnapshot

    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    snap = ReportSnapshot(
        unit_id=school.id,
        period_key=period.key,
        date_from=period.date_from,
        date_to=period.date_to,
        due_on=period.due_on,
        data=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        submitted_by_id=by.id,
        **({"submitted_at": at} if at is not None else {}),
    )
    db.add(snap)
    record(db, None, "report.submit", snap, unit=school, changes={"period": period.key})
    db.commit()
    return snap
