"""Onboarding without a shell (issue 12, part 3): units and accounts imported from a table,
with a dry run, all or nothing, idempotent, in scope, and the accounts in the enrolment-code
flow approved as one batch by a second administrator.

World: PRV > D1 (SCH-A, SCH-B), D2 (SCH-C); admins admin.p (PRV), admin.d1, admin.d2."""

from __future__ import annotations

import csv
import io
import json
import re

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, update

from caseapp.clock import local_today
from caseapp.models import ApprovalRequest, AuditEvent, EnrolmentCode, Grant, Unit, User
from caseapp.security import passwords
from tests.factories import Visitor
from tests.functional.admin_support import audit_head, events_after

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


def _csv(headings, rows, delimiter=",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(headings)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx(headings, rows) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headings)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _post(visitor, url, content: bytes, name: str, **fields):
    return visitor.post(url, {"file": (io.BytesIO(content), name), **fields})


def _units(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Unit))


def _errors(html: str) -> list[tuple[str, str, str]]:
    table = html.split('id="import-errors"', 1)
    if len(table) < 2:
        return []
    body = table[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">(\d+)</th><td>(.*?)</td><td>(.*?)</td></tr>', body)
    return [(a, b, c) for a, b, c in rows]


SCHOOLS_BAD = [
    # line 2: a school under a commune created on line 4 (later in the file)
    ["TH-MOI", "Trường Tiểu học Mới", "Trường", "", "Tiểu học", "Công lập", "X-MOI", ""],
    # line 3: an upper-secondary school under a commune: refused (it sits under the province)
    ["THPT-SAI", "Trường THPT Sai Chỗ", "Trường", "", "THPT", "Công lập", "D1", ""],
    # line 4: the new commune, under the province
    ["X-MOI", "UBND xã Mới", "Xã", "", "", "", "PRV", "01/07/2025"],
    # line 5: an unknown level
    ["TH-LA", "Trường Lạ", "Trường", "", "Đại học", "", "X-MOI", ""],
    # line 6: a duplicate code
    ["X-MOI", "UBND xã Mới lần hai", "Xã", "", "", "", "PRV", ""],
]


def test_units_dry_run_reports_lines_then_import_and_rerun_is_idempotent(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    before = _units(db)
    start = audit_head(db)
    r = _post(admin, "/admin/import/units/check", _csv(UNIT_HEADINGS, SCHOOLS_BAD), "u.csv")
    assert r.status_code == 200
    errors = _errors(r.get_data(as_text=True))
    assert [e[0] for e in errors] == ["3", "5", "6"], errors
    assert errors[0][1] == "Mã đơn vị cấp trên" and "Upper-secondary" in errors[0][2]
    assert errors[1][1] == "Cấp học"
    assert errors[2][1] == "Mã đơn vị" and "line 4" in errors[2][2]
    assert _units(db) == before and events_after(db, start) == []

    # The import itself refuses the same file: nothing at all is written.
    r = _post(admin, "/admin/import/units", _csv(UNIT_HEADINGS, SCHOOLS_BAD), "u.csv")
    assert r.status_code == 400
    assert _units(db) == before and events_after(db, start) == []

    fixed = [
        SCHOOLS_BAD[0],
        ["THPT-DUNG", "Trường THPT Đúng Chỗ", "Trường", "", "THPT", "Công lập", "PRV", ""],
        SCHOOLS_BAD[2],
    ]
    content = _xlsx(UNIT_HEADINGS, fixed)
    r = _post(admin, "/admin/import/units", content, "u.xlsx")
    assert r.status_code == 200, r.get_data(as_text=True)[:3000]
    assert _units(db) == before + 3
    school = db.scalar(select(Unit).where(Unit.code == "TH-MOI"))
    commune = db.scalar(select(Unit).where(Unit.code == "X-MOI"))
    assert school.parent_id == commune.id and school.level == "primary"
    assert school.ownership == "public" and commune.local_type == "commune"
    assert school.path.startswith(commune.path)
    actions = sorted(e.action for e in events_after(db, start))
    assert actions == ["import.units", "unit.create", "unit.create", "unit.create"]
    summary = next(e for e in events_after(db, start) if e.action == "import.units")
    assert json.loads(summary.changes)["create"] == 3
    assert len(json.loads(summary.changes)["file_sha256"]) == 64

    # Run again: nothing created twice, every line "unchanged".
    start = audit_head(db)
    r = _post(admin, "/admin/import/units", content, "u.xlsx")
    assert r.status_code == 200
    assert _units(db) == before + 3
    assert [e.action for e in events_after(db, start)] == ["import.units"]
    assert "Unchanged: 3" in r.get_data(as_text=True)

    # A new name updates; another parent is refused (moving is the reorganisation's job).
    renamed = [[*fixed[0][:1], "Trường Tiểu học Mới Đổi Tên", *fixed[0][2:]]]
    r = _post(admin, "/admin/import/units", _csv(UNIT_HEADINGS, renamed, ";"), "u.csv")
    assert r.status_code == 200
    db.expire_all()
    assert db.get(Unit, school.id).name == "Trường Tiểu học Mới Đổi Tên"
    moved = [[*fixed[0][:6], "D1", ""]]
    r = _post(admin, "/admin/import/units/check", _csv(UNIT_HEADINGS, moved), "u.csv")
    assert _errors(r.get_data(as_text=True))[0][:2] == ("2", "Mã đơn vị cấp trên")


def test_a_cycle_is_an_error(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    rows = [
        ["X-VONG1", "Xã Vòng 1", "Xã", "", "", "", "X-VONG2", ""],
        ["X-VONG2", "Xã Vòng 2", "Xã", "", "", "", "X-VONG1", ""],
        ["TH-DUOI", "Trường dưới", "Trường", "", "Tiểu học", "", "X-VONG1", ""],
    ]
    r = _post(admin, "/admin/import/units/check", _csv(UNIT_HEADINGS, rows), "u.csv")
    assert [e[0] for e in _errors(r.get_data(as_text=True))] == ["2", "3", "4"]


def test_scope_attack_a_commune_admin_cannot_import_under_another_commune(app, db, world):
    admin = Visitor(app, db, world["admin_d1"], lang="en")
    before = _units(db)
    start = audit_head(db)
    rows = [["TH-XAM", "Trường Xâm Nhập", "Trường", "", "Tiểu học", "", "D2", ""]]
    for url in ("/admin/import/units/check", "/admin/import/units"):
        r = _post(admin, url, _csv(UNIT_HEADINGS, rows), "u.csv")
        errors = _errors(r.get_data(as_text=True))
        assert errors and errors[0][1] == "Mã đơn vị cấp trên"
        assert "within your units" in errors[0][2]
    assert _units(db) == before and events_after(db, start) == []
    # An existing unit elsewhere is not updated either (nor said to exist under another).
    rows = [["SCH-C", "Trường C đổi tên", "Trường", "", "Tiểu học", "", "D2", ""]]
    r = _post(admin, "/admin/import/units", _csv(UNIT_HEADINGS, rows), "u.csv")
    assert r.status_code == 400
    db.expire_all()
    assert db.scalar(select(Unit.name).where(Unit.code == "SCH-C")) == "Trường C"


def test_missing_csrf_is_refused(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    rows = [["X-CSRF", "Xã CSRF", "Xã", "", "", "", "PRV", ""]]
    before = _units(db)
    for url in ("/admin/import/units", "/admin/import/accounts"):
        r = admin.post(url, {"file": (io.BytesIO(_csv(UNIT_HEADINGS, rows)), "u.csv")}, csrf=False)
        assert r.status_code == 400
    assert _units(db) == before


def test_unreadable_and_wrong_files_are_refused_clearly(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    r = _post(admin, "/admin/import/units/check", b"PK\x03\x04 not a workbook", "u.xlsx")
    assert r.status_code == 400 and "could not be read" in r.get_data(as_text=True)
    r = _post(admin, "/admin/import/units/check", _csv(["Mã đơn vị", "Tên"], [["A", "B"]]), "u.csv")
    assert r.status_code == 400 and "Unknown column" in r.get_data(as_text=True)
    r = _post(
        admin,
        "/admin/import/units/check",
        _csv(UNIT_HEADINGS, [["X-CTL", "Xã\x01", "Xã", "", "", "", "PRV", ""]]),
        "u.csv",
    )
    assert r.status_code == 400 and "Line 2" in r.get_data(as_text=True)
    r = _post(admin, "/admin/import/units/check", b"M\xe3 \xf0\xf4n v\xec,T\xean\n", "u.csv")
    assert r.status_code == 400


def test_templates_are_inert_workbooks_with_vietnamese_headings(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    for kind, headings in (("units", UNIT_HEADINGS), ("accounts", ACCOUNT_HEADINGS)):
        r = admin.get(f"/admin/import/{kind}/template.xlsx")
        assert r.status_code == 200
        assert "attachment" in r.headers["Content-Disposition"]
        book = load_workbook(io.BytesIO(r.data))
        data, guide = book.worksheets
        assert [c.value for c in data[1]] == headings
        assert data.max_row >= 2  # a sample line
        assert guide.title == "Hướng dẫn"
        for sheet in (data, guide):
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (kind, cell.coordinate, cell.value)
    # The notes list "-" values and names beginning with "=" or "+" inert (a leading ').
    from caseapp.services.org.sheets import Column, template

    content = template([Column("a", "=cmd|' /C calc'!A0")], [{"a": "+SUM(1,2)"}], [("@x", "-2+3")])
    book = load_workbook(io.BytesIO(content))
    values = [c.value for s in book.worksheets for row in s.iter_rows() for c in row]
    assert "'=cmd|' /C calc'!A0" in values and "'+SUM(1,2)" in values and "'@x" in values
    assert all(not str(v).startswith(("=", "+", "@")) for v in values if v)
    assert all(c.data_type != "f" for s in book.worksheets for row in s.iter_rows() for c in row)


ACCOUNTS = [
    ["nguyen.an", "Nguyễn Văn An", "an@example.vn", "SCH-A", "Cán bộ đầu mối", ""],
    ["tran.binh", "Trần Thị Bình", "", "SCH-B", "focal_point", ""],
    ["le.cuong", "Lê Văn Cường", "", "D1", "Cán bộ quản lý", "D1"],
]


def _batch(db) -> ApprovalRequest:
    db.expire_all()
    return db.scalar(
        select(ApprovalRequest)
        .where(ApprovalRequest.kind == "batch")
        .order_by(ApprovalRequest.id.desc())
        .limit(1)
    )


def _letters(html: str) -> list[tuple[str, str]]:
    users = re.findall(r"<dt>User name</dt><dd><code>([a-z0-9._-]+)</code></dd>", html)
    codes = re.findall(r'class="letter-code"><code>([A-Z0-9-]+)</code>', html)
    return list(zip(users, codes, strict=True))


def _import_accounts(app, db, world, rows=ACCOUNTS, who="admin_d1"):
    admin = Visitor(app, db, world[who], lang="en")
    return admin, _post(admin, "/admin/import/accounts", _csv(ACCOUNT_HEADINGS, rows), "a.csv")


def test_accounts_dry_run_then_batch_approved_by_a_second_admin_and_enrolment(app, db, world):
    admin = Visitor(app, db, world["admin_d1"], lang="en")
    bad = [
        *ACCOUNTS,
        ["Bad Name", "X", "", "SCH-A", "focal_point", ""],  # line 5
        ["quan.tri", "Quản Trị", "", "SCH-A", "Quản trị viên", ""],  # line 6: admin
        ["xa.la", "Người Xa Lạ", "", "SCH-C", "focal_point", ""],  # line 7: out of scope
        ["nguyen.an", "Trùng", "", "SCH-A", "focal_point", ""],  # line 8: duplicate
        ["focal.a", "Focal A", "", "SCH-B", "focal_point", ""],  # line 9: taken elsewhere
    ]
    users_before = db.scalar(select(func.count()).select_from(User))
    start = audit_head(db)
    r = _post(admin, "/admin/import/accounts/check", _csv(ACCOUNT_HEADINGS, bad), "a.csv")
    errors = _errors(r.get_data(as_text=True))
    assert [(e[0], e[1]) for e in errors] == [
        ("5", "Tên đăng nhập"),
        ("6", "Vai trò"),
        ("7", "Mã đơn vị"),
        ("8", "Tên đăng nhập"),
        ("9", "Tên đăng nhập"),
    ], errors
    assert "separate request" in errors[1][2]
    assert events_after(db, start) == []
    assert db.scalar(select(func.count()).select_from(User)) == users_before

    r = _post(admin, "/admin/import/accounts", _csv(ACCOUNT_HEADINGS, ACCOUNTS), "a.csv")
    assert r.status_code == 200, r.get_data(as_text=True)[:3000]
    page = r.get_data(as_text=True)
    part1 = dict(_letters(page))
    # ordered by unit then name; the unit on each letter; never a password
    assert list(part1) == ["le.cuong", "nguyen.an", "tran.binh"]
    assert "Phòng Giáo dục D1 (D1)" in page and "Trường A (SCH-A)" in page
    batch = _batch(db)
    assert batch.status == "pending" and batch.unit_id == world.units["D1"]
    events = events_after(db, start)
    actions = sorted(e.action for e in events)
    assert actions == sorted(
        ["approval.request", "import.accounts"]
        + ["user.create"] * 3
        + ["auth.enrolment_issued"] * 3
    )
    for e in events:
        if e.action in ("user.create", "auth.enrolment_issued"):
            changes = json.loads(e.changes)
            assert changes["batch"] == batch.id and changes["line"] in (2, 3, 4)
    db.expire_all()
    new = {u.username: u for u in db.scalars(select(User).where(User.username.in_(part1)))}
    assert all(passwords.is_unusable(u.password_hash) for u in new.values())
    assert not any(_grants_of(db, u.id) for u in new.values())

    # Account page: "in batch #id"; approval page: counts and lines.
    r = admin.get(f"/admin/users/{new['nguyen.an'].id}")
    assert f"In batch #{batch.id}" in r.get_data(as_text=True)
    # The requester cannot approve their own batch.
    r = admin.post(f"/admin/approvals/{batch.id}/approve", {"version": str(batch.version)})
    assert r.status_code == 403
    assert _batch(db).status == "pending"

    approver = Visitor(app, db, world["admin_p"], lang="en")
    assert "Import of accounts: 3 lines" in approver.get("/admin/approvals").get_data(as_text=True)
    page = approver.get(f"/admin/approvals/{batch.id}").get_data(as_text=True)
    assert 'id="batch-lines"' in page and "New accounts: 3" in page
    r = approver.post(f"/admin/approvals/{batch.id}/approve", {"version": str(batch.version)})
    assert r.status_code == 200, r.get_data(as_text=True)[:3000]
    part2 = dict(_letters(r.get_data(as_text=True)))
    assert list(part2) == ["le.cuong", "nguyen.an", "tran.binh"]
    assert _batch(db).status == "approved"
    assert _grants_of(db, new["nguyen.an"].id) == {("focal_point", "SCH-A")}
    assert _grants_of(db, new["le.cuong"].id) == {("officer", "D1")}
    # Part 2 released: still no password (an unusable hash, no argon2 until the code is used).
    db.expire_all()
    assert passwords.is_unusable(db.get(User, new["tran.binh"].id).password_hash)

    # The person enrols with both halves at /login/code.
    person = Visitor(app, lang="en", token_from="/login/code")
    r = person.post(
        "/login/code",
        {
            "username": "nguyen.an",
            "first_half": part1["nguyen.an"],
            "second_half": part2["nguyen.an"],
            "new_password": "một mật khẩu mới đủ dài 2026",
            "repeat": "một mật khẩu mới đủ dài 2026",
        },
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/login/enrol")
    db.expire_all()
    used = db.scalar(select(EnrolmentCode).where(EnrolmentCode.user_id == new["nguyen.an"].id))
    assert used.used_at is not None

    # Re-run: nothing created twice, every line unchanged.
    start = audit_head(db)
    _, r = _import_accounts(app, db, world)
    assert r.status_code == 200
    assert "Imported: 0 new accounts, 0 updated, 3 unchanged." in r.get_data(as_text=True)
    assert [e.action for e in events_after(db, start)] == ["import.accounts"]


def _grants_of(db, user_id) -> set[tuple[str, str]]:
    db.expire_all()
    return {
        (g.role, g.unit.code)
        for g in db.scalars(
            select(Grant).where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
        )
    }


def test_rejecting_a_batch_withdraws_the_codes_and_a_rerun_asks_again(app, db, world):
    _, r = _import_accounts(app, db, world)
    assert r.status_code == 200
    batch = _batch(db)
    approver = Visitor(app, db, world["admin_p"], lang="en")
    r = approver.post(
        f"/admin/approvals/{batch.id}/reject",
        {"note": "Sai danh sách", "version": str(batch.version)},
    )
    assert r.status_code == 302
    db.expire_all()
    ids = [
        u.id for u in db.scalars(select(User).where(User.username.in_(["nguyen.an", "tran.binh"])))
    ]
    codes = list(db.scalars(select(EnrolmentCode).where(EnrolmentCode.user_id.in_(ids))))
    assert codes and all(c.revoked_at is not None for c in codes)
    # The file again: the accounts exist, so nothing is created twice; they are asked again
    # with new codes in a new batch.
    _, r = _import_accounts(app, db, world)
    assert r.status_code == 200
    assert len(_letters(r.get_data(as_text=True))) == 3
    again = _batch(db)
    assert again.id != batch.id and len(json.loads(again.payload)["lines"]) == 3
    assert (
        db.scalar(select(func.count()).select_from(User).where(User.username == "nguyen.an")) == 1
    )


def test_an_account_of_the_batch_cannot_approve_it(app, db, world):
    # admin.d2 imports officer.p's future colleague... and a line for admin.p itself is
    # outside admin.d2's units; an account in the batch is barred from deciding it.
    from caseapp.services.accounts import approvals

    _, r = _import_accounts(app, db, world)
    batch = _batch(db)
    db.expire_all()
    someone = db.scalar(select(User).where(User.username == "le.cuong"))
    assert someone.id in approvals.batch_user_ids(batch)
    assert someone.id not in approvals.deciders(db, [batch]).ids_for(batch)
    assert world["admin_d1"].id not in approvals.deciders(db, [batch]).ids_for(batch)
    assert world["admin_p"].id in approvals.deciders(db, [batch]).ids_for(batch)


def test_sign_in_with_an_imported_account_fails_like_a_wrong_password(app, db, world):
    _import_accounts(app, db, world)
    db.expire_all()
    events_before = audit_head(db)
    person = Visitor(app, lang="en", token_from="/login")
    r = person.post("/login", {"username": "nguyen.an", "password": "!"})
    wrong = person.post("/login", {"username": "focal.a", "password": "sai mật khẩu"})
    assert r.status_code == wrong.status_code
    actions = [e.action for e in events_after(db, events_before)]
    assert actions.count("auth.login_failed") == 2
    assert db.scalar(select(func.count()).select_from(AuditEvent)) > 0


def test_the_approval_page_of_a_large_batch_is_paginated(app, db, world):
    rows = [[f"nguoi.{i:03d}", f"Người Số {i}", "", "SCH-A", "focal_point", ""] for i in range(205)]
    _, r = _import_accounts(app, db, world, rows)
    assert r.status_code == 200
    batch = _batch(db)
    approver = Visitor(app, db, world["admin_p"], lang="en")
    first = approver.get(f"/admin/approvals/{batch.id}").get_data(as_text=True)
    assert "page 1 of 2" in first and "New accounts: 205" in first
    assert first.count('<tr><th scope="row">') == 200
    second = approver.get(f"/admin/approvals/{batch.id}?page=2").get_data(as_text=True)
    assert second.count('<tr><th scope="row">') == 5 and "nguoi.204" in second


def test_a_trait_left_empty_keeps_the_units_value_on_a_rerun(app, db, world):
    """SCH-A (a primary school by its name) set to a multi-level school by hand: a file that
    names it without a level leaves the level alone."""
    from caseapp.services.org import units as unit_service

    school = db.get(Unit, world.units["SCH-A"])
    unit_service.update_unit(
        db,
        None,
        school,
        school.name,
        "school",
        school.version,
        unit_service.UnitTraits(level="multi_level", ownership="private"),
    )
    db.commit()
    admin = Visitor(app, db, world["admin_p"], lang="en")
    rows = [["SCH-A", school.name, "Trường", "", "", "", "D1", ""]]
    r = _post(admin, "/admin/import/units", _csv(UNIT_HEADINGS, rows), "u.csv")
    assert "Unchanged: 1" in r.get_data(as_text=True)
    db.expire_all()
    assert (db.get(Unit, school.id).level, db.get(Unit, school.id).ownership) == (
        "multi_level",
        "private",
    )


def test_a_batch_left_to_expire_is_asked_again_with_new_codes(app, db, world):
    from datetime import timedelta

    from caseapp.db import utcnow

    _import_accounts(app, db, world)
    batch = _batch(db)
    db.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == batch.id)
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    db.commit()
    db.expire_all()
    old = {
        c.id for c in db.scalars(select(EnrolmentCode).where(EnrolmentCode.approval_id == batch.id))
    }
    _, r = _import_accounts(app, db, world)
    assert r.status_code == 200 and len(_letters(r.get_data(as_text=True))) == 3
    again = _batch(db)
    assert again.id != batch.id
    assert all(line["new"] for line in json.loads(again.payload)["lines"])
    db.expire_all()
    # The expired batch's codes (part 1 only, never completed) stop working.
    assert all(db.get(EnrolmentCode, i).revoked_at is not None for i in old)


def test_a_line_whose_school_left_the_requesters_units_stops_the_approval(app, db, world):
    """admin.d1 asks for accounts at SCH-A and SCH-B; SCH-A then moves to D2. The batch still
    belongs to D1, but admin.d1 no longer administers SCH-A: the province's admin cannot
    approve it (409), nothing is granted."""
    from caseapp.services.org.units import move_unit

    rows = [
        ["mot.a", "Một A", "", "SCH-A", "focal_point", ""],
        ["hai.b", "Hai B", "", "SCH-B", "focal_point", ""],
    ]
    _, r = _import_accounts(app, db, world, rows=rows)
    assert r.status_code == 200
    batch = _batch(db)
    school = db.get(Unit, world.units["SCH-A"])
    move_unit(db, None, school, db.get(Unit, world.units["D2"]), local_today(), school.version)
    db.commit()
    grants_before = db.scalar(select(func.count()).select_from(Grant))
    approver = Visitor(app, db, world["admin_p"], lang="en")
    r = approver.post(f"/admin/approvals/{batch.id}/approve", {"version": str(batch.version)})
    assert r.status_code == 409
    assert "no longer administers" in r.get_data(as_text=True)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Grant)) == grants_before
    assert db.get(ApprovalRequest, batch.id).status == "pending"
