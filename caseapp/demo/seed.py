"""Demo data: a province, two districts, six schools, an account for every role."""

from __future__ import annotations

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
from caseapp.services.org import referrals, units

PROVINCE = ("QT", "Sở Giáo dục và Đào tạo tỉnh Quảng Trị", "province")
OFFICER_NAMES = {"QT-DH": "Trương Văn Định", "QT-VL": "Lê Thị Hồng Nhung"}
DISTRICTS = [
    (
        "QT-DH",
        "Phòng Giáo dục và Đào tạo thành phố Đông Hà",
        [
            ("DH-THNTMK", "Trường Tiểu học Nguyễn Thị Minh Khai"),
            ("DH-THCSNT", "Trường THCS Nguyễn Trãi"),
            ("DH-THPTLQD", "Trường THPT Lê Quý Đôn"),
        ],
    ),
    (
        "QT-VL",
        "Phòng Giáo dục và Đào tạo huyện Vĩnh Linh",
        [
            ("VL-THHX", "Trường Tiểu học Hồ Xá"),
            ("VL-THCSVT", "Trường THCS Vĩnh Tú"),
            ("VL-THPTVL", "Trường THPT Vĩnh Linh"),
        ],
    ),
]
FOCAL_NAMES = [
    "Nguyễn Thị Lan",
    "Trần Văn Hùng",
    "Lê Thị Hoa",
    "Phạm Minh Tuấn",
    "Hoàng Thị Mai",
    "Võ Văn Nam",
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
    from caseapp.demo.cases import seed_cases

    start = date(2020, 1, 1)
    focal_points: list = []
    province = units.create_unit(session, None, None, *PROVINCE, valid_from=start)
    accounts = []
    school_index = 0
    for d_code, d_name, schools in DISTRICTS:
        district = units.create_unit(
            session, None, province, d_code, d_name, "district", valid_from=start
        )
        accounts.append(
            _account(
                session,
                f"canbo.{d_code.lower()}",
                OFFICER_NAMES[d_code],
                district,
                [("officer", district)],
            )
        )
        for s_code, s_name in schools:
            school = units.create_unit(
                session, None, district, s_code, s_name, "school", valid_from=start
            )
            name = FOCAL_NAMES[school_index]
            school_index += 1
            accounts.append(
                _account(
                    session,
                    f"daumoi.{s_code.lower()}",
                    name,
                    school,
                    [("focal_point", school)],
                    keep=focal_points,
                )
            )
        place = d_name.split("Đào tạo ", 1)[-1]
        referrals.create_contact(
            session, None, district, f"Công an {place}", "police", "113", place
        )
    for kind, name, phone, address in REFERRALS:
        referrals.create_contact(session, None, province, name, kind, phone, address)
    accounts.append(
        _account(session, "canbo.so", "Phan Thanh Hải", province, [("officer", province)])
    )
    accounts.append(
        _account(session, "thanhtra.so", "Đỗ Minh Châu", province, [("auditor", province)])
    )
    accounts.append(_account(session, "quantri", "Ngô Quang Vinh", province, [("admin", province)]))
    # A second administrator (of a district), so that what one administrator asks for (a
    # grant, a sign-in reset, a new account) has someone to approve it.
    dong_ha = units.unit_by_code(session, "QT-DH")
    assert dong_ha is not None
    accounts.append(
        _account(session, "quantri.dh", "Nguyễn Văn Khoa", dong_ha, [("admin", dong_ha)])
    )
    session.flush()
    if case_count:
        from caseapp.demo.unusual import seed_unusual_reads

        seed_cases(session, focal_points, case_count)
        accounts.append(seed_unusual_reads(session, _account))
    return _write_credentials(accounts)


def _write_credentials(accounts: list[dict]) -> Path:
    path = settings().instance_dir / "demo-credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(accounts, handle, ensure_ascii=False, indent=2)
    os.chmod(path, 0o600)
    return path


def demo_user(session: Session, username: str) -> User | None:
    from sqlalchemy import select

    return session.scalar(select(User).where(User.username == username))
