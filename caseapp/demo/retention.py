"""Demo cases old enough for the retention schedule: closed years ago, so that
`flask --app wsgi retention run --dry-run` on the demo lists some (one of them under a legal
hold), one falls due within the 90 days the retention page looks ahead, and one has a file due
while its content is not."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta

from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.models import User
from caseapp.services.cases import holds, records
from caseapp.services.cases import intake as cases

# (days before today the case was received, age of the pupil harmed, counted as a child,
#  held, with a file). Closed 42 days after it was received (demo.cases._walk). A pupil harmed
#  under 18 makes a minor's case, kept until 18 + 5 years: longer than the demo schools have
#  existed, so the cases due are those of pupils of 18 or 19 (the last year of upper secondary).
OLD_CASES = (
    (6 * 365 + 200, 19, False, False, False),  # an adult's case: closure + 5 years has passed
    (6 * 365 + 100, 18, False, False, False),  # another
    (6 * 365 + 30, 18, False, True, False),  # due, but under a legal hold
    (5 * 365 - 3, 18, False, False, False),  # falls due within the next 90 days
    (
        3 * 365,
        16,
        False,
        False,
        True,
    ),  # a minor's case, its content kept; its file (2 years) is due
)
HOLD_REASON = "Gia đình đang khiếu nại; giữ hồ sơ theo yêu cầu của Thanh tra Sở."


def _details(received: date, age: int, child: bool) -> cases.CaseDetails:
    return cases.CaseDetails(
        received_on=received,
        received_via="in_person",
        reporter_kind="parent_guardian",
        setting="in_school",
        violence_types=["psychological"],
        child=child,
        harmed_sex="female",
        harmed_age_band="15-17" if age < 18 else "18-24",
        harmed_age_years=age,
        harmed_role="pupil",
        harmed_disability="no",
        harmed_ethnic_minority="no",
        perpetrator_count=1,
        perpetrator_sex="male",
        perpetrator_age_band="15-17",
        perpetrator_relationship="pupil_peer",
        risk_level="low",
        incident_on=received,
        incident_date_approximate=False,
        serious_risk_to_child=False,
        more_people=[],
    )


def seed_old_cases(
    session: Session, focal_points: list, officer: User, earliest: date, count: int
) -> int:
    """Up to ``count`` of OLD_CASES at the first school of ``focal_points`` (never received
    before ``earliest``, the schools' opening), walked to closed; the third is held by
    ``officer``."""
    from caseapp.demo.cases import _name, _walk

    rng = random.Random(15)
    today = local_today()
    user, school = focal_points[0]
    made = 0
    for back, age, child, held, with_file in OLD_CASES[:count]:
        received = max(today - timedelta(days=back), earliest + timedelta(days=1))
        content = cases.CaseContent(
            harmed_name=_name(rng, True),
            harmed_contact=f"Lớp {rng.randint(10, 12)}A{rng.randint(1, 6)}",
            perpetrator_names=_name(rng, False),
            narrative="Em thường xuyên bị bạn cùng lớp chế giễu, đe dọa và cô lập trước lớp.",
        )
        case = cases.create_case(session, user, school, _details(received, age, child), content)
        if with_file:
            records.add_attachment(
                session,
                user,
                case,
                "bien-ban-lam-viec.txt",
                "text/plain",
                io.BytesIO("Biên bản làm việc với gia đình.".encode()),
            )
        _walk(session, rng, user, case, "closed", today)
        if held:
            session.flush()
            holds.set_hold(session, officer, case, HOLD_REASON)
        made += 1
    return made
