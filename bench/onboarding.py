"""Benchmark onboarding without a shell: a province imports 1,000 schools and 3,000 accounts.

    .venv/bin/python bench/onboarding.py [--database-url URL] [--schools 1000] [--accounts 3000]

Fills a fresh database (SQLite file in a temp dir unless --database-url names an EMPTY one)
with a province and 100 communes, two administrators of the province, then through the Flask
test client (the screens an administrator uses, CSRF included):

- POST /admin/import/units/check and /admin/import/units with an XLSX of the schools
  (upper-secondary schools and continuing-education centres under the province, the others
  under the communes);
- POST /admin/import/accounts/check and /admin/import/accounts with an XLSX of the accounts
  (focal points and officers of the schools): the part-1 letters;
- POST /admin/approvals/<batch>/approve by the second administrator: every grant and the part-2
  letters.

Prints the time of each step and "total < 60 s: PASS" or "FAIL" (exit status 1 on FAIL).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openpyxl import Workbook  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.common import PASSWORD, empty_app, signed_in_client  # noqa: E402
from caseapp.db import get_session  # noqa: E402
from caseapp.models import ApprovalRequest, Grant, Unit, User  # noqa: E402
from caseapp.services.accounts import users  # noqa: E402
from caseapp.services.org import units  # noqa: E402
from caseapp.services.org.units import UnitTraits  # noqa: E402
from tests.factories import csrf_from  # noqa: E402

LIMIT_S = 60.0
COMMUNES = 100
LOWER_LEVELS = ("Mầm non", "Tiểu học", "THCS")
UNIT_HEADINGS = [
    "Mã đơn vị",
    "Tên đơn vị",
    "Loại đơn vị",
    "Loại xã/phường",
    "Cấp học",
    "Loại hình",
    "Mã đơn vị cấp trên",
    "Ngày bắt đầu",
]
ACCOUNT_HEADINGS = [
    "Tên đăng nhập",
    "Họ và tên",
    "Email",
    "Mã đơn vị",
    "Vai trò",
    "Mã đơn vị của vai trò",
]


def seed(app) -> tuple[int, int]:
    """A province with COMMUNES communes and two administrators of the province."""
    with app.app_context():
        s = get_session()
        province = units.create_unit(
            s, None, None, "OB-P", "Sở Giáo dục và Đào tạo Bench", "province"
        )
        for i in range(1, COMMUNES + 1):
            units.create_unit(
                s,
                None,
                province,
                f"OB-X{i:03d}",
                f"UBND {'phường' if i % 3 == 0 else 'xã'} Bench {i}",
                "commune",
                traits=UnitTraits(local_type="ward" if i % 3 == 0 else "commune"),
            )
        admins = []
        for name in ("admin.one", "admin.two"):
            admin, _ = users.create_user(s, None, name, f"Admin {name}", "", province, PASSWORD)
            users.grant_role(s, None, admin, "admin", province)
            admins.append(admin)
        s.commit()
        return admins[0].id, admins[1].id


def _xlsx(headings: list[str], rows: list[list[str]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(headings)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def school_rows(n: int) -> list[list[str]]:
    """One in ten an upper-secondary school or continuing-education centre under the
    province; the others preschools, primary and lower-secondary schools under a commune."""
    rows = []
    for i in range(1, n + 1):
        code = f"OB-S{i:04d}"
        if i % 10 == 0:
            level = "THPT" if i % 20 else "GDTX"
            rows.append(
                [code, f"Trường {level} Bench {i}", "Trường", "", level, "Công lập", "OB-P", ""]
            )
        else:
            level = LOWER_LEVELS[i % 3]
            commune = f"OB-X{(i % COMMUNES) + 1:03d}"
            rows.append(
                [code, f"Trường {level} Bench {i}", "Trường", "", level, "Công lập", commune, ""]
            )
    return rows


def account_rows(n: int, schools: int) -> list[list[str]]:
    rows = []
    for i in range(1, n + 1):
        school = f"OB-S{(i % schools) + 1:04d}"
        role = "Cán bộ quản lý" if i % 3 == 0 else "Cán bộ đầu mối"
        rows.append(
            [
                f"bench.user{i:05d}",
                f"Người Dùng Bench {i}",
                f"user{i}@bench.example",
                school,
                role,
                "",
            ]
        )
    return rows


def post_file(client, url: str, content: bytes, name: str) -> tuple[float, str, int]:
    token = csrf_from(client.get("/__no_such_page__").get_data(as_text=True))
    start = time.perf_counter()
    response = client.post(url, data={"csrf_token": token, "file": (io.BytesIO(content), name)})
    spent = time.perf_counter() - start
    return spent, response.get_data(as_text=True), response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=None, help="an EMPTY database (default: SQLite in a temp dir)"
    )
    parser.add_argument("--schools", type=int, default=1_000)
    parser.add_argument("--accounts", type=int, default=3_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-onboarding-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = empty_app(url, tmp)
    requester, approver = seed(app)
    schools = _xlsx(UNIT_HEADINGS, school_rows(args.schools))
    accounts = _xlsx(ACCOUNT_HEADINGS, account_rows(args.accounts, args.schools))
    first = signed_in_client(app, requester)
    second = signed_in_client(app, approver)
    print(f"database: {app.extensions['caseapp.engine'].dialect.name}")
    print(
        f"files: {args.schools} schools ({len(schools) // 1024} KB), "
        f"{args.accounts} accounts ({len(accounts) // 1024} KB)"
    )

    steps: list[tuple[str, float]] = []
    failed: list[str] = []

    def step(label: str, client, path: str, content: bytes, name: str, expect: str) -> str:
        spent, page, status = post_file(client, path, content, name)
        steps.append((label, spent))
        if status != 200 or expect not in page:
            failed.append(f"{label}: status {status}")
        return page

    step(
        "units: check", first, "/admin/import/units/check", schools, "schools.xlsx", "import-report"
    )
    step("units: import", first, "/admin/import/units", schools, "schools.xlsx", "import-report")
    step(
        "accounts: check",
        first,
        "/admin/import/accounts/check",
        accounts,
        "accounts.xlsx",
        "import-report",
    )
    page = step(
        "accounts: import (part-1 letters)",
        first,
        "/admin/import/accounts",
        accounts,
        "accounts.xlsx",
        "import-summary",
    )
    part1 = len(re.findall(r'class="letter-code"', page))

    with app.app_context():
        s = get_session()
        batch = s.scalar(select(ApprovalRequest).where(ApprovalRequest.kind == "batch"))
        batch_id, version = (batch.id, batch.version) if batch is not None else (0, 0)
    token = csrf_from(second.get("/__no_such_page__").get_data(as_text=True))
    start = time.perf_counter()
    response = second.post(
        f"/admin/approvals/{batch_id}/approve", data={"csrf_token": token, "version": str(version)}
    )
    steps.append(("batch approval (grants, part-2 letters)", time.perf_counter() - start))
    part2 = len(re.findall(r'class="letter-code"', response.get_data(as_text=True)))
    if response.status_code != 200:
        failed.append(f"approval: status {response.status_code}")

    with app.app_context():
        s = get_session()
        made_units = s.scalar(select(func.count()).select_from(Unit).where(Unit.kind == "school"))
        made_users = s.scalar(select(func.count()).select_from(User)) - 2
        grants = s.scalar(
            select(func.count())
            .select_from(Grant)
            .where(Grant.role.in_(("focal_point", "officer")))
        )
    for label, spent in steps:
        print(f"{label:<45} {spent:8.2f} s")
    total = sum(spent for _label, spent in steps)
    print(
        f"schools {made_units}, accounts {made_users}, grants {grants}, "
        f"letters part 1: {part1}, part 2: {part2}"
    )
    ok = (
        not failed
        and total < LIMIT_S
        and made_units == args.schools
        and made_users == args.accounts
        and grants == args.accounts
        and part1 == part2 == args.accounts
    )
    for problem in failed:
        print(f"problem: {problem}")
    print(f"total {total:.2f} s")
    print(f"total < {LIMIT_S:.0f} s: {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
