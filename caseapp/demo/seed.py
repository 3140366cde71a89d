"""Demo data: a province of 2026 (its Department, wards, communes and a special zone, schools of
every level), the district offices the reform of 1 July 2025 dissolved, an account for every
role."""

from __future__ import annotations

import itertools
import json
import os
import secrets
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import User
from caseapp.runtime import keyring, settings
from caseapp.security import totp
from caseapp.security.crypto import associated_data, seal_with_keyring
from caseapp.services.accounts import users
from caseapp.services.audit.trail import record
from caseapp.services.org import referral_defaults, referrals, units

PROVINCE = ("QT", "Sở Giáo dục và Đào tạo tỉnh Quảng Trị", "province")
SINCE = date(2020, 1, 1)
# The district education offices of before the two-tier local government, with their
# preschool, primary and lower-secondary schools; dissolved by the reform of 1 July 2025.
DISTRICTS = [
    (
        "QT-DH",
        "Phòng Giáo dục và Đào tạo thành phố Đông Hà",
        [
            ("DH-MNHS", "Trường Mầm non Hoa Sen", "preschool"),
            ("DH-THNTMK", "Trường Tiểu học Nguyễn Thị Minh Khai", "primary"),
            ("DH-THCSNT", "Trường THCS Nguyễn Trãi", "lower_secondary"),
        ],
    ),
    (
        "QT-VL",
        "Phòng Giáo dục và Đào tạo huyện Vĩnh Linh",
        [
            ("VL-MNCT", "Trường Mầm non Cửa Tùng", "preschool"),
            ("VL-THHX", "Trường Tiểu học Hồ Xá", "primary"),
            ("VL-THCSVT", "Trường THCS Vĩnh Tú", "lower_secondary"),
        ],
    ),
]
# Under the Department itself since 2020: upper-secondary schools, a continuing-education
# centre, the provincial boarding school for ethnic minorities.
PROVINCIAL_SCHOOLS = [
    ("DH-THPTLQD", "Trường THPT Lê Quý Đôn", "upper_secondary"),
    ("VL-THPTVL", "Trường THPT Vĩnh Linh", "upper_secondary"),
    ("QT-GDTX", "Trung tâm GDNN-GDTX thành phố Đông Hà", "continuing_education"),
    ("QT-PTDTNT", "Trường Phổ thông Dân tộc nội trú tỉnh Quảng Trị", "boarding_ethnic"),
]
REFORM_DAY = date(2025, 7, 1)
# The wards, communes and special zone of the two-tier organisation (from 1 July 2025).
COMMUNES = [
    ("QT-PDH", "Phường Đông Hà", "ward"),
    ("QT-PNDH", "Phường Nam Đông Hà", "ward"),
    ("QT-XVL", "Xã Vĩnh Linh", "commune"),
    ("QT-XCT", "Xã Cửa Tùng", "commune"),
    ("QT-DKCC", "Đặc khu Cồn Cỏ", "special_zone"),
]
# Schools opened under the new units after the reform (one of them private).
NEW_SCHOOLS = [
    ("QT-PNDH", "NDH-THTT", "Trường Tiểu học tư thục Ánh Dương", "primary", "private"),
    ("QT-DKCC", "CC-THCS", "Trường TH và THCS Cồn Cỏ", "multi_level", "public"),
]
NEW_SCHOOLS_FROM = date(2025, 9, 5)
# The reform of 1 July 2025: each school of a dissolved office and its new ward or commune.
REFORM = [
    ("DH-MNHS", "QT-PNDH"),
    ("DH-THNTMK", "QT-PDH"),
    ("DH-THCSNT", "QT-PDH"),
    ("VL-MNCT", "QT-XCT"),
    ("VL-THHX", "QT-XVL"),
    ("VL-THCSVT", "QT-XVL"),
]
# Officers of a ward and of a commune (their Culture and Society offices).
LOCAL_OFFICERS = [
    ("canbo.qt-pdh", "Trương Văn Định", "QT-PDH"),
    ("canbo.qt-xvl", "Lê Thị Hồng Nhung", "QT-XVL"),
]
FOCAL_NAMES = [
    "Nguyễn Thị Lan",
    "Trần Văn Hùng",
    "Lê Thị Hoa",
    "Phạm Minh Tuấn",
    "Hoàng Thị Mai",
    "Võ Văn Nam",
    "Đặng Thị Thu",
    "Bùi Quang Huy",
    "Hồ Thị Ngọc",
    "Dương Văn Phúc",
    "Lý Thị Yến",
    "Ngô Đức Long",
]
# Heads of the schools and of the ward and commune offices (they approve their unit's plan).
HEAD_NAMES = [
    "Phan Thị Hạnh",
    "Nguyễn Văn Thành",
    "Trần Thị Bích",
    "Lê Quang Vinh",
    "Đỗ Thị Hương",
    "Huỳnh Văn Lộc",
    "Mai Thị Kim",
    "Trịnh Công Sơn",
    "Cao Thị Loan",
    "Vũ Đình Khôi",
]
REFERRALS = [
    ("hotline", "Tổng đài quốc gia bảo vệ trẻ em 111", "111", "Toàn quốc"),
    (
        "social_protection",
        "Trung tâm Công tác xã hội tỉnh Quảng Trị",
        "0233 3852 111",
        "Đông Hà, Quảng Trị",
    ),
]


def _account(
    session: Session, username: str, full_name: str, unit, grants, keep: list | None = None
) -> dict:
    password = "-".join(secrets.token_urlsafe(4) for _ in range(4)) + secrets.token_hex(2)
    user, _ = users.create_user(session, None, username, full_name, "", unit, password)
    secret = totp.new_secret()
    user.totp_secret = seal_with_keyring(
        keyring(), secret, associated_data("users", user.id, "totp_secret")
    )
    user.totp_enrolled_at = utcnow()
    record(session, None, "auth.second_factor_enrolled", user, unit=unit)
    for role, grant_unit in grants:
        users.grant_role(session, None, user, role, grant_unit)
    if keep is not None:
        keep.append((user, unit))
    return {
        "username": user.username,
        "password": password,
        "totp_secret": totp.to_base32(secret),
        "grants": [{"role": r, "unit": u.code} for r, u in grants],
    }


def seed(session: Session, case_count: int = 300) -> Path:
    """The demo province of 2026: cases of the last two years recorded as they came, the
    reform of 1 July 2025 applied with history afterwards (reports of the periods before it
    still roll up through the dissolved district offices)."""
    from caseapp.demo.cases import seed_cases
    from caseapp.demo.equality import seed_equality
    from caseapp.demo.retention import OLD_CASES, seed_old_cases

    focal_points: list = []
    accounts: list[dict] = []
    names = iter(FOCAL_NAMES)
    head_names = itertools.cycle(HEAD_NAMES)
    teams: list = []  # (school, its focal point, its head): the schools given a plan

    def school_with_focal_point(parent, code, name, level, ownership="public", since=SINCE):
        school = units.create_unit(
            session,
            None,
            parent,
            code,
            name,
            "school",
            valid_from=since,
            traits=units.UnitTraits(level=level, ownership=ownership),
        )
        accounts.append(
            _account(
                session,
                f"daumoi.{code.lower()}",
                next(names),
                school,
                [("focal_point", school)],
                keep=focal_points if since < REFORM_DAY else None,
            )
        )
        team: list = []
        accounts.append(
            _account(
                session,
                f"hieutruong.{code.lower()}",
                next(head_names),
                school,
                [("head", school)],
                keep=team,
            )
        )
        teams.append((school, accounts[-2]["username"], team[0][0]))
        return school

    province = units.create_unit(session, None, None, *PROVINCE, valid_from=SINCE)
    for d_code, d_name, schools in DISTRICTS:
        district = units.create_unit(
            session, None, province, d_code, d_name, "district", valid_from=SINCE
        )
        for s_code, s_name, level in schools:
            school_with_focal_point(district, s_code, s_name, level)
    for s_code, s_name, level in PROVINCIAL_SCHOOLS:
        school_with_focal_point(province, s_code, s_name, level)
    locals_ = {}
    for c_code, c_name, local_type in COMMUNES:
        locals_[c_code] = units.create_unit(
            session,
            None,
            province,
            c_code,
            c_name,
            "commune",
            valid_from=REFORM_DAY,
            traits=units.UnitTraits(local_type=local_type),
        )
        accounts.append(
            _account(
                session,
                f"truongphong.{c_code.lower()}",
                next(head_names),
                locals_[c_code],
                [("head", locals_[c_code])],
            )
        )
        # Its police, health station and People's Committee, as the directory's button adds.
        referral_defaults.add_defaults(session, None, locals_[c_code])
    for parent_code, s_code, s_name, level, ownership in NEW_SCHOOLS:
        school_with_focal_point(
            locals_[parent_code], s_code, s_name, level, ownership, since=NEW_SCHOOLS_FROM
        )
    for kind, name, phone, address in REFERRALS:
        referrals.create_contact(session, None, province, name, kind, phone, address)
    referral_defaults.add_defaults(session, None, province)  # nothing the lines above lack
    accounts.append(
        _account(session, "canbo.so", "Phan Thanh Hải", province, [("officer", province)])
    )
    for username, full_name, code in LOCAL_OFFICERS:
        office = locals_[code]
        accounts.append(_account(session, username, full_name, office, [("officer", office)]))
    accounts.append(
        _account(session, "thanhtra.so", "Đỗ Minh Châu", province, [("auditor", province)])
    )
    accounts.append(_account(session, "quantri", "Ngô Quang Vinh", province, [("admin", province)]))
    # A second administrator (of a ward), so that what one administrator asks for (a grant, a
    # sign-in reset, a new account) has someone to approve it.
    ward = locals_["QT-PDH"]
    accounts.append(_account(session, "quantri.pdh", "Nguyễn Văn Khoa", ward, [("admin", ward)]))
    session.flush()
    if case_count:
        # A full demo (100 cases or more) gives a few of them to the retention schedule.
        old = len(OLD_CASES) if case_count >= 100 else 0
        seed_cases(session, focal_points, case_count - old)
        session.flush()
        seed_old_cases(session, focal_points, _known(session, "canbo.so"), SINCE, old)
        session.flush()
    apply_reform(session)
    seed_equality(session, [(school, _known(session, name), head) for school, name, head in teams])
    if case_count:
        from caseapp.demo.unusual import seed_unusual_reads

        accounts.append(seed_unusual_reads(session, _account))
    return _write_credentials(accounts)


def apply_reform(session: Session) -> None:
    """The reform of 1 July 2025, as an administrator would upload it: the schools of the
    district offices move to the wards and communes, the emptied offices close that day."""
    import hashlib

    from caseapp.services.org import reform

    rows = [
        (line, {"school": school, "parent": parent, "from": REFORM_DAY.strftime("%d/%m/%Y")})
        for line, (school, parent) in enumerate(REFORM, start=2)
    ]
    text = "\n".join(f"{r['school']},{r['parent']},{r['from']}" for _line, r in rows)
    checked = reform.plan(session, None, rows, hashlib.sha256(text.encode()).hexdigest())
    assert not checked.problems, checked.problems
    reform.apply(session, None, checked, close_emptied=True)


def _write_credentials(accounts: list[dict]) -> Path:
    path = settings().instance_dir / "demo-credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(accounts, handle, ensure_ascii=False, indent=2)
    os.chmod(path, 0o600)
    return path


def _known(session: Session, username: str) -> User:
    found = demo_user(session, username)
    assert found is not None, username
    return found


def demo_user(session: Session, username: str) -> User | None:
    from sqlalchemy import select

    return session.scalar(select(User).where(User.username == username))
