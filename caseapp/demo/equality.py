"""The gender-equality work of the demo schools: each school's plan (saved by its focal point,
approved by its head) and its statistics by sex for the last two report periods."""

from __future__ import annotations

import json
import random

from sqlalchemy.orm import Session

from caseapp.models import Unit, User
from caseapp.models.equality import UnitStatistics
from caseapp.services.audit.trail import record
from caseapp.services.equality import figures, plans
from caseapp.services.reports.periods import default_period, periods_of

PLAN_TEXT = (
    "Lồng ghép mục tiêu bình đẳng giới vào kế hoạch năm học: tăng tỷ lệ nữ trong đội ngũ cán bộ"
    " quản lý, truyền thông về bình đẳng giới và phòng, chống bạo lực trên cơ sở giới cho học"
    " sinh, tập huấn cho giáo viên và nhân viên."
)
PLAN_TARGETS = [
    ("Tỷ lệ nữ trong đội ngũ cán bộ quản lý", "women_managers_share", 40),
    ("Số học sinh được truyền thông về bình đẳng giới", "pupils_reached", 300),
    ("Số giáo viên, nhân viên được tập huấn", "staff_trained", 20),
]


def seed_equality(session: Session, teams: list[tuple[Unit, User, User]]) -> None:
    """``teams``: (school, its focal point, its head). Plans of the current year and of the
    year of the period being reported now; statistics of that year's two periods."""
    reported = default_period()
    years = sorted({plans.current_year(), reported.date_to.year})
    targets = [plans.TargetInput(*line) for line in PLAN_TARGETS]
    for school, focal, head in teams:
        for year in years:
            plan = plans.save_plan(session, focal, school, year, PLAN_TEXT, targets, 0)
            plans.approve_plan(session, head, plan, plan.version)
        rng = random.Random(school.code)
        for period in periods_of(reported.date_to.year):
            row = UnitStatistics(
                unit=school,
                period_key=period.key,
                figures=json.dumps(_figures(rng, school.level)),
                updated_by_id=focal.id,
            )
            session.add(row)
            record(session, focal, "statistics.save", row, unit=school)
    session.flush()


def _figures(rng: random.Random, level: str | None) -> dict[str, int]:
    """Figures whose totals add up, for a school of ``level``."""
    made: dict[str, int] = {}
    spans = {"teachers": ((18, 40), (4, 14)), "managers": ((1, 3), (1, 3))}
    for sex, side in (("female", 0), ("male", 1)):
        for row in figures.STAFF_ROWS:
            low, high = spans.get(row, ((2, 6), (2, 6)))[side]
            made[f"{row}_{sex}"] = rng.randint(low, high)
        made[f"staff_total_{sex}"] = sum(made[f"{row}_{sex}"] for row in figures.STAFF_ROWS)
        made[f"party_members_{sex}"] = rng.randint(0, made[f"staff_total_{sex}"] // 2)
        for grade in figures.grades_for(level):
            made[f"{grade}_{sex}"] = rng.randint(30, 110)
        pupils = sum(made[f"{grade}_{sex}"] for grade in figures.grades_for(level))
        made[f"pupils_total_{sex}"] = pupils
        made[f"dropouts_{sex}"] = rng.randint(0, 3)
        made[f"reached_{sex}"] = rng.randint(pupils // 3, pupils)
    made["women_leaders"] = rng.randint(made["managers_female"], made["managers_female"] + 2)
    return {key: made[key] for key in figures.keys_for(level)}
