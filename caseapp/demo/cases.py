"""Demo cases: a few hundred realistic cases across the demo schools, in every state, with
Vietnamese names and narratives generated here (no real person is described)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.services.audit.trail import record
from caseapp.services.cases import intake as cases

if TYPE_CHECKING:
    from caseapp.models import User

FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
]
MIDDLE_F = ["Thị", "Ngọc", "Thanh", "Thu", "Minh", "Bảo"]
MIDDLE_M = ["Văn", "Minh", "Đức", "Hữu", "Quang", "Thành"]
GIVEN_F = [
    "An",
    "Châu",
    "Giang",
    "Hà",
    "Hạnh",
    "Hoa",
    "Lan",
    "Linh",
    "Mai",
    "Ngân",
    "Nhung",
    "Thảo",
    "Thu",
    "Trang",
    "Vy",
    "Yến",
]
GIVEN_M = [
    "Bình",
    "Dũng",
    "Hải",
    "Hiếu",
    "Hùng",
    "Huy",
    "Khánh",
    "Long",
    "Nam",
    "Phong",
    "Phúc",
    "Quân",
    "Tâm",
    "Trung",
    "Tuấn",
]
STORIES = {
    "physical": "Trong giờ ra chơi, em bị {p} xô ngã và đánh vào lưng, có vết bầm ở tay.",
    "psychological": "Em thường xuyên bị {p} chế giễu, đe dọa và cô lập trước lớp.",
    "sexual_harassment": "Em kể rằng {p} nhiều lần nhắn tin và có lời nói mang tính gạ gẫm.",
    "sexual_assault": "Em cho biết đã bị {p} động chạm vào cơ thể trái ý muốn sau giờ học.",
    "rape": "Gia đình báo tin em bị xâm hại nghiêm trọng; đã đưa em đến trạm y tế.",
    "economic": "Em bị {p} ép đưa tiền ăn sáng hằng ngày, nếu không sẽ bị đánh.",
    "forced_marriage": "Gia đình đang ép em nghỉ học để kết hôn khi chưa đủ tuổi.",
    "neglect": "Em thường đến lớp trong tình trạng đói, không được chăm sóc, cha mẹ đi làm xa.",
    "cyber": "Hình ảnh của em bị {p} đăng lên mạng xã hội kèm lời lẽ xúc phạm.",
}
RELATION_BY_TYPE = {
    "forced_marriage": "family_member",
    "neglect": "family_member",
    "rape": "stranger",
    "sexual_harassment": "school_staff",
}
STATUS_WEIGHTS = [
    ("new", 8),
    ("verifying", 14),
    ("supporting", 14),
    ("monitoring", 20),
    ("closure_requested", 6),
    ("closed", 38),
]


def _name(rng: random.Random, female: bool) -> str:
    middle = rng.choice(MIDDLE_F if female else MIDDLE_M)
    given = rng.choice(GIVEN_F if female else GIVEN_M)
    return f"{rng.choice(FAMILY)} {middle} {given}"


def _phone(rng: random.Random) -> str:
    return "09" + "".join(str(rng.randint(0, 9)) for _ in range(8))


PATH = ("new", "verifying", "supporting", "monitoring", "closure_requested", "closed")


def _day(case, today: date, offset: int) -> date:
    return min(case.received_on + timedelta(days=offset), today)


def _classmates(rng: random.Random, band: str, age: int) -> list:
    """One or two more pupils harmed in the same incident (group bullying, a fight)."""
    from caseapp.services.cases.people import PersonInput

    more = []
    for _ in range(rng.choice([1, 1, 2])):
        female = rng.random() < 0.55
        more.append(
            PersonInput(
                position="harmed",
                sex="female" if female else "male",
                age_band=band,
                age_years=age,
                role="pupil",
                child=age < 16,
                name=_name(rng, female),
            )
        )
    return more


def _copy_step(step, person_id: int):
    """The same step given to one person harmed."""
    from caseapp.models import CaseStep

    return CaseStep(
        kind=step.kind,
        service=step.service,
        status=step.status,
        due_on=step.due_on,
        done_on=step.done_on,
        situation=step.situation,
        person_id=person_id,
    )


def _walk(session: Session, rng: random.Random, user: User, case, status: str, today: date) -> None:
    """Give the case the steps and transitions that lead to ``status``, as the workflow would
    have (seed data only: dates are set in the past, the officer's approval is implied)."""
    import uuid

    from caseapp.models import CaseStep, CaseTransition

    reached = PATH.index(status)
    steps = []
    if reached >= 1:
        done = reached >= 2 or rng.random() < 0.4
        steps.append(
            CaseStep(
                kind="verification",
                method=rng.choice(
                    ["interview", "witness_statement", "document_review", "site_visit"]
                ),
                finding=rng.choice(["substantiated"] * 4 + ["inconclusive"]) if done else None,
                due_on=case.verification_due_on,
                done_on=_day(case, today, rng.randint(1, 8)) if done else None,
            )
        )
    if reached >= 2 or (reached == 1 and case.urgent):
        provided = reached >= 3 or rng.random() < 0.5
        steps.append(
            CaseStep(
                kind="support",
                service=rng.choice(
                    [
                        "counselling",
                        "counselling",
                        "safety_plan",
                        "medical_care",
                        "academic_support",
                    ]
                ),
                status="provided" if provided else "planned",
                due_on=case.support_due_on,
                done_on=_day(case, today, rng.randint(1, 6)) if provided else None,
            )
        )
    if reached == 3:
        steps.append(CaseStep(kind="follow_up", due_on=today + timedelta(days=rng.randint(-5, 25))))
    if reached >= 4:
        steps.append(
            CaseStep(
                kind="follow_up",
                due_on=_day(case, today, 40),
                done_on=_day(case, today, 40),
                situation="safe",
            )
        )
    # Support and follow-up are given to each person harmed (a fight may hurt several).
    harmed = [person.id for person in case.harmed_people]
    steps = [step for step in steps if step.kind == "verification"] + [
        _copy_step(step, person_id)
        for step in steps
        if step.kind != "verification"
        for person_id in harmed
    ]
    for step in steps:
        step.uid, step.case_id, step.created_by_id = str(uuid.uuid4()), case.id, user.id
    transitions = [
        CaseTransition(
            case_id=case.id,
            from_status=PATH[i],
            to_status=PATH[i + 1],
            by_id=user.id,
            at=datetime.combine(_day(case, today, 2 + 10 * i), datetime.min.time(), tzinfo=UTC),
            closure_reason="resolved" if PATH[i + 1] == "closure_requested" else None,
        )
        for i in range(reached)
    ]
    session.add_all([*steps, *transitions])
    if reached:
        old = case.status
        case.status = status
        if reached >= 4:
            case.closure_requested_by_id, case.closure_reason = user.id, "resolved"
        record(
            session,
            None,
            "case.transition",
            case,
            unit=case.unit,
            object_ref=case.reference,
            changes={"status": [old, status]},
            reason="demo data",
            covers=tuple(steps + transitions),
        )


def seed_cases(session: Session, focal_points: list, count: int = 300, seed: int = 2026) -> int:
    """``focal_points``: (user, school) pairs; cases are spread over the last two years."""
    rng = random.Random(seed)
    today = local_today()
    repeaters = [_name(rng, False) for _ in range(4)]  # alleged perpetrators in several cases
    days = sorted(rng.randint(0, 720) for _ in range(count))
    made = 0
    for back in reversed(days):
        user, school = rng.choice(focal_points)
        received = today - timedelta(days=back)
        types = rng.sample(list(STORIES), k=rng.choice([1, 1, 1, 2]))
        female = rng.random() < 0.58
        band = rng.choice(["6-10", "11-14", "11-14", "15-17"])
        age = {
            "6-10": rng.randint(6, 10),
            "11-14": rng.randint(11, 14),
            "15-17": rng.randint(15, 17),
        }[band]
        perp_female = rng.random() < 0.25
        perp = rng.choice(repeaters) if rng.random() < 0.08 else _name(rng, perp_female)
        relationship = RELATION_BY_TYPE.get(
            types[0],
            rng.choice(
                ["pupil_peer", "pupil_peer", "pupil_peer", "teacher", "family_member", "stranger"]
            ),
        )
        risk = rng.choices(["low", "medium", "high", "immediate"], [35, 40, 18, 7])[0]
        details = cases.CaseDetails(
            received_on=received,
            received_via=rng.choice(
                ["in_person", "phone", "hotline", "suggestion_box", "referral"]
            ),
            reporter_kind=rng.choice(["person_harmed", "parent_guardian", "teacher", "peer"]),
            setting=rng.choice(["in_school", "in_school", "to_from_school", "home", "online"]),
            violence_types=types,
            child=age < 16,
            harmed_sex="female" if female else "male",
            harmed_age_band=band,
            harmed_age_years=age,
            harmed_role="pupil",
            harmed_disability=rng.choice(["no", "no", "no", "yes", "unknown"]),
            harmed_ethnic_minority=rng.choice(["no", "no", "yes", "unknown"]),
            perpetrator_count=rng.choice([1, 1, 1, 2, 3]),
            perpetrator_sex="female" if perp_female else "male",
            perpetrator_age_band="25-59"
            if relationship in ("teacher", "school_staff", "family_member")
            else band,
            perpetrator_relationship=relationship,
            risk_level=risk,
            incident_on=received - timedelta(days=rng.randint(0, 10)),
            incident_date_approximate=rng.random() < 0.3,
            serious_risk_to_child=risk == "high" and rng.random() < 0.3,
            more_people=_classmates(rng, band, age) if rng.random() < 0.1 else [],
        )
        harmed = _name(rng, female)
        guardian = _name(rng, rng.random() < 0.6)
        content = cases.CaseContent(
            harmed_name=harmed,
            harmed_contact=f"Lớp {rng.randint(1, 12)}A{rng.randint(1, 6)}",
            guardian_name=guardian,
            guardian_contact=_phone(rng),
            perpetrator_names=perp,
            narrative=" ".join(STORIES[t].format(p=perp) for t in types),
            informant_name=_name(rng, rng.random() < 0.7) if rng.random() < 0.6 else "",
            informant_contact=_phone(rng) if rng.random() < 0.5 else "",
        )
        case = cases.create_case(session, user, school, details, content)
        status = rng.choices([s for s, _ in STATUS_WEIGHTS], [w for _, w in STATUS_WEIGHTS])[0]
        if back < 20 and status in ("closed", "closure_requested", "monitoring"):
            status = "verifying"
        elif back > 45 and status in ("new", "verifying", "supporting"):
            status = rng.choice(["monitoring", "closed", "closed", "verifying"])
        _walk(session, rng, user, case, status, today)
        made += 1
        if made % 50 == 0:
            session.flush()
    return made
