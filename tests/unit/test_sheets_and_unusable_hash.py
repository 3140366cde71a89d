"""Uploaded tables (services/org/sheets.py) and the unusable password hash of an account whose
person has not yet set a password (security/passwords.py)."""

from __future__ import annotations

import io
import time
from datetime import date, datetime

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask_babel import Babel
from openpyxl import Workbook

from caseapp.errors import ValidationFailed
from caseapp.security import passwords
from caseapp.services.org import sheets
from caseapp.services.org.sheets import Column, read_table

COLUMNS = (
    Column("school", "Mã trường", ("school code",)),
    Column("parent", "Mã đơn vị cấp trên mới", ("new parent code",)),
    Column("from", "Từ ngày", ("from",), required=False),
)


@pytest.fixture(autouse=True)
def _babel():
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        yield


def _xlsx(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_csv_with_bom_and_semicolons_headings_without_diacritics():
    data = "\ufeffMA TRUONG;ma don vi cap tren moi;Tu ngay\nS1;X1;01/07/2025\n\n S2 ;X2;\n"
    rows = read_table(data.encode(), "reform.csv", COLUMNS)
    assert rows == [
        (2, {"school": "S1", "parent": "X1", "from": "01/07/2025"}),
        (4, {"school": "S2", "parent": "X2", "from": ""}),
    ]


def test_xlsx_first_sheet_dates_and_whole_numbers_as_text():
    data = _xlsx([["School code", "New parent code", "From"], [12345, "X1", datetime(2025, 7, 1)]])
    assert read_table(data, "f.xlsx", COLUMNS) == [
        (2, {"school": "12345", "parent": "X1", "from": date(2025, 7, 1).isoformat()})
    ]


def test_optional_column_may_be_absent():
    rows = read_table("Mã trường,Mã đơn vị cấp trên mới\nS1,X1\n".encode(), "f.csv", COLUMNS)
    assert rows == [(2, {"school": "S1", "parent": "X1", "from": ""})]


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (b"", "f.csv", "empty"),
        ("Mã trường\nS1\n".encode(), "f.csv", "Missing column"),
        ("Mã trường,Mã đơn vị cấp trên mới,Lạ\nS1,X1,?\n".encode(), "f.csv", "Unknown column"),
        ("Mã trường,Mã trường,Mã đơn vị cấp trên mới\n".encode(), "f.csv", "twice"),
        ("Mã trường,Mã đơn vị cấp trên mới\nS\x07,X1\n".encode(), "f.csv", "Line 2"),
        (b"\xff\xfe\x00M", "f.csv", "UTF-8"),
        (b"PK\x03\x04broken", "f.xlsx", "could not be read"),
        (b"x" * (sheets.MAX_BYTES + 1), "f.csv", "larger than 10 MB"),
    ],
)
def test_refusals_are_clear(data, name, says):
    with pytest.raises(ValidationFailed) as refused:
        read_table(data, name, COLUMNS)
    assert says in refused.value.message


def test_more_than_20000_rows_is_refused():
    body = "Mã trường,Mã đơn vị cấp trên mới\n" + "S,X\n" * (sheets.MAX_ROWS + 1)
    with pytest.raises(ValidationFailed) as refused:
        read_table(body.encode(), "f.csv", COLUMNS)
    assert "20000" in refused.value.message


FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_unusable_hash_matches_nothing_and_costs_no_argon2_to_make():
    first, second = passwords.unusable_hash(), passwords.unusable_hash()
    assert first.startswith("!") and first != second and passwords.is_unusable(first)
    for guess in ("", "!", first, first[1:], "password"):
        assert passwords.verify_password(FAST, first, guess) is False
    assert passwords.needs_rehash(FAST, first) is False
    real = passwords.hash_password(FAST, "một mật khẩu đủ dài")
    assert not passwords.is_unusable(real)
    assert passwords.verify_password(FAST, real, "một mật khẩu đủ dài")


def test_unusable_hash_is_answered_after_the_same_argon2_work():
    slow = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    real = passwords.hash_password(slow, "một mật khẩu đủ dài")
    unusable = passwords.unusable_hash()
    passwords.verify_password(slow, unusable, "warm the dummy hash")

    def spent(stored: str) -> float:
        start = time.perf_counter()
        for _ in range(3):
            passwords.verify_password(slow, stored, "sai mật khẩu")
        return time.perf_counter() - start

    wrong, none = spent(real), spent(unusable)
    assert none > wrong * 0.5, (wrong, none)
