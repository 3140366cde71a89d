"""A legacy district office of 2020 with three primary schools, two communes of 1 July 2025, and
cases before and after that day: the world of the re-organisation tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from caseapp.models import Case, Unit, User
from caseapp.runtime import keyring
from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case
from tests.factories import make_unit, make_user

REFORM_DAY = date(2025, 7, 1)
SCHOOLS = ("LD-S1", "LD-S2", "LD-S3")
# (school, day received): three cases before the reform, two after.
CASE_DAYS = (
    ("LD-S1", date(2025, 3, 10)),
    ("LD-S2", date(2025, 4, 1)),
    ("LD-S3", date(2025, 5, 5)),
    ("LD-S1", date(2025, 9, 1)),
    ("LD-S3", date(2025, 12, 1)),
)
ROWS = (
    "Mã trường,Mã đơn vị cấp trên mới,Từ ngày\n"
    "LD-S1,CM-1,01/07/2025\n"
    "LD-S2,CM-1,01/07/2025\n"
    "LD-S3,CM-2,2025-07-01\n"
)


@dataclass
class Legacy:
    district: Unit
    communes: tuple[Unit, Unit]
    schools: dict[str, Unit]
    focal: User


def legacy_world(db, world, with_cases: bool = True) -> Legacy:
    province = db.get(Unit, world.units["PRV"])
    start = date(2020, 1, 1)
    district = make_unit(db, province, "LD", "district", "Phòng Giáo dục cũ", valid_from=start)
    schools = {
        code: make_unit(
            db, district, code, "school", f"Trường Tiểu học {code}", start, level="primary"
        )
        for code in SCHOOLS
    }
    communes = (
        make_unit(db, province, "CM-1", "commune", "Xã Một", REFORM_DAY, local_type="commune"),
        make_unit(db, province, "CM-2", "commune", "Phường Hai", REFORM_DAY, local_type="ward"),
    )
    person = make_user(
        db, keyring(), "focal.ld", district, [("focal_point", s) for s in schools.values()]
    )
    focal = db.get(User, person.id)
    db.flush()
    legacy = Legacy(district, communes, schools, focal)
    if with_cases:
        for code, day in CASE_DAYS:
            if day < REFORM_DAY:
                new_case(db, legacy, code, day)
    return legacy


def new_case(db, legacy: Legacy, code: str, day: date) -> Case:
    details = CaseDetails(
        received_on=day,
        received_via="in_person",
        reporter_kind="teacher",
        setting="in_school",
        violence_types=["physical"],
        child=True,
        harmed_sex="female",
        harmed_age_band="11-14",
        harmed_role="pupil",
        perpetrator_sex="male",
        perpetrator_age_band="11-14",
        perpetrator_relationship="pupil_peer",
        risk_level="medium",
    )
    return create_case(
        db, legacy.focal, legacy.schools[code], details, CaseContent(harmed_name=f"Em {code}")
    )


def cases_after(db, legacy: Legacy) -> None:
    for code, day in CASE_DAYS:
        if day >= REFORM_DAY:
            new_case(db, legacy, code, day)
