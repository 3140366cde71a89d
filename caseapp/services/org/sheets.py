"""Tables uploaded by administrators (XLSX or CSV) and the templates to fill in.

``read_table`` turns an uploaded file into numbered rows of text keyed by column; ``template``
writes the workbook an administrator downloads. Used by the imports of units and accounts and
by the reform file."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO, NoReturn

from flask_babel import gettext as _

from caseapp.errors import ValidationFailed
from caseapp.security.spreadsheet import inert_text

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
# A workbook is a zip: what it unpacks to is bounded too (a few kilobytes can declare gigabytes
# of cells), and so are the rows and columns read (empty ones included) and a cell's length.
MAX_UNPACKED = 32 * 1024 * 1024
MAX_SHEET_ROWS = 2 * MAX_ROWS
MAX_COLUMNS = 40
MAX_CELL = 1000
GUIDE_SHEET = "Hướng dẫn"
# Control characters a cell must not hold (tab and line breaks inside a cell are spaces).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


@dataclass(frozen=True)
class Column:
    """One column of a table: ``key`` in the row dicts, ``heading`` as the template writes it
    (Vietnamese), ``aliases`` other headings accepted (English, short forms)."""

    key: str
    heading: str
    aliases: tuple[str, ...] = ()
    required: bool = True


def fold(text: str) -> str:
    """``text`` for comparison: lower case, without diacritics (đ as d), single spaces."""
    text = unicodedata.normalize("NFKD", str(text or "")).replace("đ", "d").replace("Đ", "d")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.lower().replace("_", " ").split())


def _refuse(message: str) -> NoReturn:
    raise ValidationFailed(message)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _unpacked_size(data: bytes) -> int:
    """What the workbook's parts declare they unpack to (zipfile never yields more)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        _refuse(_("The file could not be read: save it as an Excel workbook (.xlsx) or CSV."))


def _xlsx_rows(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    if _unpacked_size(data) > MAX_UNPACKED:
        _refuse(_("The workbook is too large once unpacked: split it into smaller files."))
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
        _refuse(_("The file could not be read: save it as an Excel workbook (.xlsx) or CSV."))
    try:
        sheet = book.worksheets[0]
        declared = sheet.max_row if isinstance(sheet.max_row, int) else 0
        if declared > MAX_SHEET_ROWS:
            _refuse(_("The file has more than %(n)d rows.", n=MAX_ROWS))
        rows: list[list[str]] = []
        filled = 0
        for row in sheet.iter_rows(max_row=MAX_SHEET_ROWS, max_col=MAX_COLUMNS, values_only=True):
            cells = [_cell_text(v) for v in row]
            if any(len(cell) > MAX_CELL for cell in cells):
                _refuse(
                    _(
                        "Line %(line)d has a cell longer than %(n)d characters.",
                        line=len(rows) + 1,
                        n=MAX_CELL,
                    )
                )
            if any(cells):
                filled += 1
                if filled > MAX_ROWS + 1:
                    _refuse(_("The file has more than %(n)d rows.", n=MAX_ROWS))
            rows.append(cells if any(cells) else [])
        if len(rows) >= MAX_SHEET_ROWS:  # more lines, empty or not, than a table may have
            _refuse(_("The file has more than %(n)d rows.", n=MAX_ROWS))
        return rows
    except (KeyError, ValueError, TypeError, IndexError, zipfile.BadZipFile):
        _refuse(_("The file could not be read: save it as an Excel workbook (.xlsx) or CSV."))
    finally:
        book.close()


def _csv_rows(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        _refuse(_("The file is not UTF-8 text: save the CSV as “CSV UTF-8”, or upload the .xlsx."))
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows: list[list[str]] = []
        for row in reader:
            if len(rows) > MAX_ROWS + 1:
                _refuse(_("The file has more than %(n)d rows.", n=MAX_ROWS))
            rows.append([cell.strip() for cell in row])
        return rows
    except csv.Error:
        _refuse(_("The file could not be read: save it as an Excel workbook (.xlsx) or CSV."))


def file_bytes(source: bytes | BinaryIO) -> bytes:
    """The content of an upload (bytes, or a stream read up to one byte past the limit, which
    read_table then refuses)."""
    if isinstance(source, bytes):
        return source
    return source.read(MAX_BYTES + 1)


def read_table(
    data: bytes, filename: str, columns: Sequence[Column]
) -> list[tuple[int, dict[str, str]]]:
    """The rows of an uploaded table, as (line number, {column key: text}).

    ``filename`` ending in .xlsx: the first sheet of the workbook; anything else: CSV (UTF-8,
    with or without BOM, separated by "," or ";"). Line 1 holds the headings, matched to
    ``columns`` ignoring case, spaces and diacritics (the heading or an alias); the first row of
    data is line 2, as the spreadsheet numbers it. Values are stripped text ("" when empty;
    dates as YYYY-MM-DD); empty rows are skipped. Raises a translated ValidationFailed for a
    file that cannot be read, over 10 MB or 20,000 rows, a missing, unknown or repeated
    heading, or a cell holding control characters."""
    if len(data) > MAX_BYTES:
        _refuse(_("The file is larger than %(n)d MB.", n=MAX_BYTES // (1024 * 1024)))
    if not data.strip():
        _refuse(_("The file is empty."))
    is_xlsx = (filename or "").lower().endswith((".xlsx", ".xlsm")) or data[:2] == b"PK"
    rows = _xlsx_rows(data) if is_xlsx else _csv_rows(data)
    if not any(any(row) for row in rows):
        _refuse(_("The file is empty."))
    if not any(rows[0]):
        _refuse(_("The headings must be on the first line."))
    known: dict[str, Column] = {}
    for column in columns:
        for name in (column.heading, column.key, *column.aliases):
            known[fold(name)] = column
    positions: dict[int, Column] = {}
    seen: set[str] = set()
    for index, heading in enumerate(rows[0]):
        if not heading:
            continue
        found = known.get(fold(heading))
        if found is None:
            _refuse(
                _(
                    "Unknown column “%(name)s”. The columns are: %(names)s.",
                    name=heading[:60],
                    names=", ".join(c.heading for c in columns),
                )
            )
        if found.key in seen:
            _refuse(_("The column “%(name)s” appears twice.", name=found.heading))
        seen.add(found.key)
        positions[index] = found
    missing = [c.heading for c in columns if c.required and c.key not in seen]
    if missing:
        _refuse(_("Missing column(s): %(names)s.", names=", ".join(missing)))
    if sum(1 for row in rows[1:] if any(row)) > MAX_ROWS:
        _refuse(_("The file has more than %(n)d rows.", n=MAX_ROWS))
    result: list[tuple[int, dict[str, str]]] = []
    for number, row in enumerate(rows[1:], start=2):
        values = {c.key: "" for c in columns}
        for index, column in positions.items():
            if index < len(row):
                text = row[index].replace("\t", " ").replace("\r\n", " ").replace("\n", " ")
                if _CONTROL.search(text):
                    _refuse(
                        _(
                            "Line %(line)d, column “%(name)s”: the cell holds characters that "
                            "are not allowed.",
                            line=number,
                            name=column.heading,
                        )
                    )
                values[column.key] = text.strip()
        if any(values.values()):
            result.append((number, values))
    return result


def template(
    columns: Sequence[Column],
    samples: Sequence[Mapping[str, object]],
    notes: Sequence[tuple[str, str]],
) -> bytes:
    """An XLSX to fill in: the first sheet has the headings and ``samples`` (dicts by column
    key), the sheet "Hướng dẫn" the ``notes`` (title, text). Every text cell is inert (a
    spreadsheet shows it and never runs it as a formula)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)  # a new workbook has one worksheet
    sheet.title = _("Data")[:31]
    sheet.append([inert_text(c.heading) for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for sample in samples:
        sheet.append([inert_text(sample.get(c.key, "")) for c in columns])
    for index, column in enumerate(columns):
        sheet.column_dimensions[get_column_letter(index + 1)].width = max(
            14, len(column.heading) + 4
        )
    sheet.freeze_panes = "A2"
    guide = book.create_sheet(GUIDE_SHEET)
    guide.append([inert_text(_("Column")), inert_text(_("What to write"))])
    for cell in guide[1]:
        cell.font = Font(bold=True)
    for title, text in notes:
        guide.append([inert_text(title), inert_text(text)])
    guide.column_dimensions["A"].width = 32
    guide.column_dimensions["B"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# What an import found, line by line ---------------------------------------------------------

ACTIONS = ("create", "update", "unchanged", "error")


@dataclass(frozen=True)
class LineResult:
    """One line of an imported file: what it does (create, update, unchanged, error), and for
    an error the column at fault (its heading) and why."""

    line: int
    action: str
    key: str = ""  # the unit code or user name the line is about
    column: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ImportReport:
    """The lines of a checked (or applied) file, in file order, and the file's SHA-256."""

    lines: tuple[LineResult, ...]
    sha256: str
    applied: bool = False

    @property
    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(ACTIONS, 0)
        for line in self.lines:
            found[line.action] += 1
        return found

    @property
    def errors(self) -> list[LineResult]:
        return [line for line in self.lines if line.action == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


__all__ = [
    "Column",
    "ImportReport",
    "LineResult",
    "MAX_BYTES",
    "MAX_ROWS",
    "file_bytes",
    "fold",
    "read_table",
    "template",
]
