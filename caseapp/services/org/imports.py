"""Importing units from a table (XLSX or CSV): a dry run that reports every line, then the
import itself, all or nothing.

A line names a unit by its code and its parent by the parent's code: an existing unit, or a
line earlier or later in the same file (created first: the lines are taken parent before
child; a cycle is an error). A code that exists already under the same parent is updated when
its name or traits differ and left alone otherwise, so running the same file twice changes
nothing; under another parent it is an error (moving units is the reorganisation's job)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, BinaryIO, cast

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.errors import ValidationFailed
from caseapp.labels import local_type_names, ownership_names, school_level_names, unit_kind_names
from caseapp.models import Unit
from caseapp.models.units import (
    LOCAL_TYPES,
    OWNERSHIPS,
    PARENT_KINDS,
    SCHOOL_LEVELS,
    UNIT_CODE_PATTERN,
)
from caseapp.security.authz import covers
from caseapp.services.audit.trail import record
from caseapp.services.org import units as unit_service
from caseapp.services.org.sheets import (
    Column,
    ImportReport,
    LineResult,
    file_bytes,
    fold,
    read_table,
    template,
)

if TYPE_CHECKING:
    from caseapp.models import User

COLUMNS = (
    Column("code", "Mã đơn vị", ("unit code", "code")),
    Column("name", "Tên đơn vị", ("unit name", "name")),
    Column("kind", "Loại đơn vị", ("kind", "unit kind")),
    Column("local_type", "Loại xã/phường", ("commune type", "local type"), required=False),
    Column("level", "Cấp học", ("school level", "level"), required=False),
    Column("ownership", "Loại hình", ("ownership",), required=False),
    Column("parent", "Mã đơn vị cấp trên", ("parent code", "parent")),
    Column("valid_from", "Ngày bắt đầu", ("from", "valid from", "start date"), required=False),
)
HEADING = {c.key: c.heading for c in COLUMNS}

# Common ways of writing the values, besides the codes and the names of caseapp/labels.py.
_KIND_WORDS = {
    "ministry": ("bo", "bo giao duc", "bo gd&dt"),
    "province": ("tinh", "so", "so giao duc", "so gd&dt", "so giao duc va dao tao"),
    "district": ("huyen", "phong giao duc", "phong gd&dt"),
    "commune": ("xa", "phuong", "dac khu", "xa/phuong", "ubnd xa", "xa phuong"),
    "school": ("truong", "truong hoc", "co so giao duc"),
}
_LOCAL_TYPE_WORDS = {"commune": ("xa",), "ward": ("phuong",), "special_zone": ("dac khu",)}
_LEVEL_WORDS = {
    "preschool": ("mam non", "mau giao", "nha tre"),
    "primary": ("tieu hoc", "th"),
    "lower_secondary": ("trung hoc co so", "thcs"),
    "upper_secondary": ("trung hoc pho thong", "thpt"),
    "multi_level": ("lien cap", "nhieu cap hoc", "pho thong nhieu cap"),
    "continuing_education": (
        "giao duc thuong xuyen",
        "gdtx",
        "trung tam gdtx",
        "trung tam giao duc thuong xuyen",
        "gdnn-gdtx",
    ),
    "boarding_ethnic": ("dan toc noi tru", "pt dtnt", "ptdtnt", "noi tru"),
}
_OWNERSHIP_WORDS = {
    "public": ("cong lap",),
    "private": ("ngoai cong lap", "tu thuc", "dan lap", "tu"),
}


def value_table(
    codes: Iterable[str],
    names: Callable[[], dict[str, str]],
    words: Mapping[str, tuple[str, ...]],
) -> dict[str, str]:
    """{folded way of writing: code}: the codes, their names in Vietnamese and English, and
    the common words of ``words``."""
    table: dict[str, str] = {}
    for code, spellings in words.items():
        for spelling in spellings:
            table[fold(spelling)] = code
    for locale in ("en", "vi"):
        with force_locale(locale):
            for code, name in names().items():
                table[fold(name)] = code
    for code in codes:
        table[fold(code)] = code
    return table


def parse_day(text: str) -> date | None:
    """A date written YYYY-MM-DD or DD/MM/YYYY (also with - or .); None when not one."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
            year, month, day = (int(p) for p in text.split("-"))
            return date(year, month, day)
        found = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
        if found:
            return date(int(found[3]), int(found[2]), int(found[1]))
    except ValueError:
        return None
    return None


@dataclass
class _Line:
    """One line of the file, its values read; ``problem`` = (column key, reason)."""

    line: int
    code: str
    name: str
    kind: str
    traits: unit_service.UnitTraits
    parent_code: str
    valid_from: date | None
    problem: tuple[str, str] | None = None
    action: str = ""
    existing: Unit | None = None
    parent_unit: Unit | None = None  # the existing unit above (None: a line of the file)
    # The traits as the file gives them (empty ones None); ``traits`` completes them.
    given: unit_service.UnitTraits = field(default_factory=unit_service.UnitTraits)


@dataclass(frozen=True)
class _Planned:
    """A unit the file creates, as check_place sees a parent (its kind)."""

    kind: str
    is_open: bool = True


class _Problem(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _read_line(number: int, row: dict[str, str], tables: dict[str, dict[str, str]]) -> _Line:
    line = _Line(
        number, row["code"].strip().upper(), row["name"].strip(), "", _no_traits(), "", None
    )
    line.parent_code = row["parent"].strip().upper()
    try:
        line.kind = _pick(row, "kind", tables["kind"], required=True)
        local_type = _pick(row, "local_type", tables["local_type"])
        if line.kind == "commune" and not local_type:
            # "Xã", "Phường", "Đặc khu" as the kind say the local type too.
            local_type = tables["local_type"].get(fold(row["kind"]), "")
        level = _pick(row, "level", tables["level"])
        ownership = _pick(row, "ownership", tables["ownership"])
        line.traits = line.given = unit_service.UnitTraits(
            level=level or None, ownership=ownership or None, local_type=local_type or None
        )
        if row["valid_from"]:
            line.valid_from = parse_day(row["valid_from"])
            if line.valid_from is None:
                raise _Problem(
                    "valid_from", _("Write the date as DD/MM/YYYY (for example 01/09/2025).")
                )
        if not line.parent_code:
            raise _Problem("parent", _("Give the code of the unit above this one."))
        try:
            unit_service._check_fields(line.code, line.name, line.kind)
        except ValidationFailed as exc:
            column = "code" if not re.match(UNIT_CODE_PATTERN, line.code) else "name"
            raise _Problem(column, exc.message) from None
        try:
            line.traits = unit_service._traits(line.kind, line.name, line.traits)
        except ValidationFailed as exc:
            raise _Problem("level", exc.message) from None
    except _Problem as problem:
        line.problem = (problem.column, problem.reason)
    return line


def _no_traits() -> unit_service.UnitTraits:
    return unit_service.UnitTraits()


def _pick(row: dict[str, str], key: str, table: dict[str, str], required: bool = False) -> str:
    text = row[key].strip()
    if not text:
        if required:
            raise _Problem(key, _("This value is required."))
        return ""
    found = table.get(fold(text))
    if found is None:
        raise _Problem(
            key,
            _(
                "“%(value)s” is not a value of this column; see the sheet “Hướng dẫn” of the "
                "template.",
                value=text[:40],
            ),
        )
    return found


def _tables() -> dict[str, dict[str, str]]:
    return {
        "kind": value_table(PARENT_KINDS, unit_kind_names, _KIND_WORDS),
        "local_type": value_table(LOCAL_TYPES, local_type_names, _LOCAL_TYPE_WORDS),
        "level": value_table(SCHOOL_LEVELS, school_level_names, _LEVEL_WORDS),
        "ownership": value_table(OWNERSHIPS, ownership_names, _OWNERSHIP_WORDS),
    }


def _existing(session: Session, codes: set[str]) -> dict[str, Unit]:
    """The units of ``codes``, by code, in a few queries (never one per line)."""
    found: dict[str, Unit] = {}
    ordered = sorted(c for c in codes if c)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        for unit in session.scalars(select(Unit).where(Unit.code.in_(chunk))):
            found[unit.code] = unit
    return found


def _keep_current(unit: Unit, line: _Line) -> bool:
    """An existing unit's line: a trait the file leaves empty keeps the unit's value (not one
    guessed from the name). False when the traits given are refused (the line's problem)."""
    try:
        line.traits = unit_service._traits(
            line.kind, line.name, line.given, current=unit if unit.kind == line.kind else None
        )
    except ValidationFailed as exc:
        line.problem = ("level", exc.message)
        return False
    return True


def _differs(unit: Unit, line: _Line) -> bool:
    traits = line.traits
    return (
        unit.name != line.name
        or unit.kind != line.kind
        or (traits.level or None) != unit.level
        or (traits.ownership or None) != unit.ownership
        or (traits.local_type or None) != unit.local_type
    )


def _plan(session: Session, actor: User, rows: list[tuple[int, dict[str, str]]]) -> list[_Line]:
    """Every line read and checked, in file order; the order to create them in is the order
    of ``_order``."""
    tables = _tables()
    lines = [_read_line(number, row, tables) for number, row in rows]
    units = _existing(session, {ln.code for ln in lines} | {ln.parent_code for ln in lines})
    first_of: dict[str, _Line] = {}
    for line in lines:
        if line.problem is None and line.code in first_of:
            line.problem = (
                "code",
                _(
                    "The code %(code)s is already on line %(line)d.",
                    code=line.code,
                    line=first_of[line.code].line,
                ),
            )
        first_of.setdefault(line.code, line)
    in_file = first_of
    today = local_today()
    for line in _order(lines, in_file):
        if line.problem is not None:
            continue
        parent_line = in_file.get(line.parent_code) if line.parent_code not in units else None
        parent: Unit | _Planned | None
        if line.parent_code in units:
            parent = line.parent_unit = units[line.parent_code]
            if not covers(actor, "admin.units", parent):
                line.problem = (
                    "parent",
                    _("No unit with the code %(code)s within your units.", code=line.parent_code),
                )
                continue
            if not parent.is_open:
                line.problem = ("parent", _("A closed unit cannot receive new units."))
                continue
        elif parent_line is not None:
            if parent_line.problem is not None:
                line.problem = (
                    "parent",
                    _("The unit above (line %(line)d) has an error.", line=parent_line.line),
                )
                continue
            parent = _Planned(parent_line.kind)
        else:
            line.problem = (
                "parent",
                _("No unit with the code %(code)s within your units.", code=line.parent_code),
            )
            continue
        existing = units.get(line.code)
        if existing is not None:
            line.existing = existing
            if not covers(actor, "admin.units", existing):
                line.problem = (
                    "code",
                    _("The unit code %(code)s is already used.", code=line.code),
                )
            elif line.parent_unit is None or existing.parent_id != line.parent_unit.id:
                line.problem = (
                    "parent",
                    _(
                        "The unit %(code)s already sits under another unit: move it with the "
                        "reorganisation of units, not with an import.",
                        code=line.code,
                    ),
                )
            elif not _keep_current(existing, line):
                pass  # the line's problem says why
            elif not _differs(existing, line):
                line.action = "unchanged"
            else:
                try:
                    if line.kind != existing.kind or line.traits.level != existing.level:
                        unit_service.check_place(
                            line.kind, line.parent_unit, level=line.traits.level
                        )
                    line.action = "update"
                except ValidationFailed as exc:
                    line.problem = ("kind", exc.message)
            continue
        try:
            unit_service.check_place(
                line.kind,
                cast(Unit, parent),
                level=line.traits.level,
                on=line.valid_from or today,
            )
        except ValidationFailed as exc:
            line.problem = ("parent", exc.message)
            continue
        line.action = "create"
    return lines


def _order(lines: list[_Line], in_file: dict[str, _Line]) -> list[_Line]:
    """The lines, each after the line of its parent when the parent is in the file; the lines
    of a cycle get an error (and, through it, the lines below them)."""
    done: list[_Line] = []
    state: dict[int, str] = {}
    for start in lines:
        stack: list[_Line] = []
        current: _Line | None = start
        while current is not None and id(current) not in state:
            state[id(current)] = "visiting"
            stack.append(current)
            current = in_file.get(current.parent_code)
        if current is not None and state[id(current)] == "visiting":
            for member in stack[stack.index(current) :]:
                if member.problem is None:
                    member.problem = (
                        "parent",
                        _(
                            "Line %(line)d is in a cycle: each of its units is above another.",
                            line=member.line,
                        ),
                    )
        for member in reversed(stack):
            state[id(member)] = "done"
            done.append(member)
    return done


def _report(lines: list[_Line], sha256: str, applied: bool = False) -> ImportReport:
    results = []
    for line in lines:
        if line.problem is not None:
            column, reason = line.problem
            results.append(LineResult(line.line, "error", line.code, HEADING[column], reason))
        else:
            results.append(LineResult(line.line, line.action, line.code))
    return ImportReport(tuple(results), sha256, applied)


def check(session: Session, actor: User, data: bytes | BinaryIO, filename: str) -> ImportReport:
    """The dry run: what importing the file would do, line by line. Changes nothing."""
    data = file_bytes(data)
    rows = read_table(data, filename, COLUMNS)
    return _report(_plan(session, actor, rows), hashlib.sha256(data).hexdigest())


def apply(session: Session, actor: User, data: bytes | BinaryIO, filename: str) -> ImportReport:
    """Import the file: checked again; with any error nothing is written (the report says
    why); otherwise every unit is created or updated, each audited (unit.create, unit.update),
    with one summary event ``import.units``."""
    data = file_bytes(data)
    rows = read_table(data, filename, COLUMNS)
    sha256 = hashlib.sha256(data).hexdigest()
    lines = _plan(session, actor, rows)
    report = _report(lines, sha256)
    if not report.ok:
        return report
    # Every event flushes its own unit; the code look-ups need not flush the others first.
    with session.no_autoflush:
        _write(session, actor, lines)
    counts = report.counts
    record(
        session,
        actor,
        "import.units",
        unit=_top(actor),
        object_type="units",
        object_ref=filename[:100],
        changes={"file_sha256": sha256, "lines": len(lines), **counts},
    )
    return ImportReport(report.lines, sha256, applied=True)


def _write(session: Session, actor: User, lines: list[_Line]) -> None:
    """The units of a checked file created (parents first) or updated."""
    in_file = {ln.code: ln for ln in lines}
    made: dict[str, Unit] = {}
    for line in _order(lines, in_file):
        if line.action == "create":
            parent = made.get(line.parent_code) or line.parent_unit
            if parent is None:  # checked by _plan moments ago
                raise ValidationFailed(
                    _("The unit above line %(line)d is missing.", line=line.line)
                )
            made[line.code] = unit_service.create_unit(
                session,
                actor,
                parent,
                line.code,
                line.name,
                line.kind,
                line.valid_from,
                line.traits,
            )
        elif line.action == "update" and line.existing is not None:
            unit_service.update_unit(
                session,
                actor,
                line.existing,
                line.name,
                line.kind,
                line.existing.version,
                line.traits,
            )


def _top(actor: User) -> Unit | None:
    """The unit an import is filed under: the actor's highest administrative unit."""
    units = [g.unit for g in actor.active_grants if g.role == "admin"]
    return min(units, key=lambda u: len(u.path)) if units else actor.unit


def template_rows() -> list[dict[str, object]]:
    """The sample lines of the template."""
    return [
        {
            "code": "X-HOAAN",
            "name": "UBND xã Hòa An",
            "kind": "Xã",
            "local_type": "Xã",
            "parent": "SO-GD",
            "valid_from": "01/07/2025",
        },
        {
            "code": "TH-HOAAN",
            "name": "Trường Tiểu học Hòa An",
            "kind": "Trường",
            "level": "Tiểu học",
            "ownership": "Công lập",
            "parent": "X-HOAAN",
            "valid_from": "01/09/2025",
        },
        {
            "code": "THPT-LQD",
            "name": "Trường THPT Lê Quý Đôn",
            "kind": "Trường",
            "level": "THPT",
            "ownership": "Công lập",
            "parent": "SO-GD",
        },
    ]


def template_notes() -> list[tuple[str, str]]:
    """The sheet "Hướng dẫn": what each column takes."""

    def names(table: dict[str, str]) -> str:
        return "; ".join(f"{name} ({code})" for code, name in table.items())

    return [
        (HEADING["code"], _("2 to 20 capital letters, digits, - or _; unique.")),
        (HEADING["name"], _("The full name, as on official papers.")),
        (HEADING["kind"], names(unit_kind_names())),
        (HEADING["local_type"], names(local_type_names()) + " — " + _("communes only.")),
        (HEADING["level"], names(school_level_names()) + " — " + _("schools only.")),
        (HEADING["ownership"], names(ownership_names()) + " — " + _("schools only.")),
        (
            HEADING["parent"],
            _(
                "The code of the unit above: an existing unit within your units, or a unit "
                "on another line of the file. Upper-secondary schools and continuing-education "
                "centres sit under the province; the other schools under a commune or ward."
            ),
        ),
        (
            HEADING["valid_from"],
            _("DD/MM/YYYY; empty: today. Only used when the unit is created."),
        ),
        (
            _("Running the file again"),
            _(
                "A unit that exists already under the same unit above is updated (name, kind, "
                "level, ownership) or left as it is: nothing is ever created twice."
            ),
        ),
    ]


def template_file() -> bytes:
    """The XLSX template to fill in (headings, sample lines, the sheet "Hướng dẫn")."""
    return template(COLUMNS, template_rows(), template_notes())


__all__ = [
    "template_file",
    "COLUMNS",
    "apply",
    "check",
    "parse_day",
    "template_notes",
    "template_rows",
    "value_table",
]
