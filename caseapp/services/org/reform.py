"""A re-organisation: many schools move to new parents from a date, read from a spreadsheet
(school code, new parent code, from date). ``plan`` checks every line and lists every change
and every problem by line and column; ``apply`` carries out a plan without problems, all or
nothing: one ``unit.move`` per line, optionally one ``unit.close`` per office left empty, and one
``org.reform`` summary event."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caseapp.clock import check_within_bounds
from caseapp.errors import ValidationFailed
from caseapp.models import Unit, UnitParentHistory
from caseapp.security.authz import covers
from caseapp.services.audit.trail import record
from caseapp.services.org import sheets
from caseapp.services.org.sheets import Column
from caseapp.services.org.units import check_place, close_unit, move_unit, unit_by_code

if TYPE_CHECKING:
    from caseapp.models import User

COLUMNS = (
    Column("school", "Mã trường", ("school code", "ma truong", "school")),
    Column("parent", "Mã đơn vị cấp trên mới", ("new parent code", "new parent", "parent")),
    Column("from", "Từ ngày", ("from", "from date", "tu ngay")),
)
HEADINGS = {c.key: c.heading for c in COLUMNS}


@dataclass(frozen=True)
class Move:
    line: int
    school: Unit
    old_parent: Unit | None
    new_parent: Unit
    on: date


@dataclass(frozen=True)
class Problem:
    line: int
    column: str  # the heading of the column ("" for the whole line)
    reason: str


@dataclass
class ReformPlan:
    moves: list[Move] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # The offices every school of which leaves (closed by apply(close_emptied=True)).
    emptied: list[Unit] = field(default_factory=list)
    sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.moves)

    @property
    def last_day(self) -> date | None:
        return max((m.on for m in self.moves), default=None)


@dataclass(frozen=True)
class ReformDone:
    moved: int
    closed: list[Unit]


# Reading the file ------------------------------------------------------------------------


def read_table(data: bytes, filename: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of the file as (line number as the spreadsheet shows it, {key: text})."""
    return sheets.read_table(data, filename, COLUMNS)


def template() -> bytes:
    """A workbook with the headings, one example line and the sheet "Hướng dẫn"."""
    return sheets.template(
        COLUMNS,
        [{"school": "QT-TH-DONGHA", "parent": "QT-PDH", "from": "01/07/2025"}],
        [
            ("Mã trường", "Mã của trường chuyển sang đơn vị cấp trên mới."),
            ("Mã đơn vị cấp trên mới", "Mã của xã, phường, đặc khu hoặc Sở tiếp nhận."),
            ("Từ ngày", "Ngày bắt đầu trực thuộc đơn vị mới (dd/mm/yyyy)."),
        ],
    )


def _parse_day(text: str) -> date:
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise ValidationFailed(_("Enter a date as dd/mm/yyyy."))


# Planning ----------------------------------------------------------------------------------


def _current_row(session: Session, unit: Unit) -> UnitParentHistory | None:
    return session.scalar(
        select(UnitParentHistory)
        .where(UnitParentHistory.unit_id == unit.id, UnitParentHistory.valid_to.is_(None))
        .order_by(UnitParentHistory.valid_from.desc())
        .limit(1)
    )


def _plan_line(
    session: Session, actor: User | None, line: int, row: dict[str, str], seen: set[int]
) -> Move | list[Problem]:
    problems: list[Problem] = []

    def problem(key: str, reason: str) -> None:
        problems.append(Problem(line, HEADINGS[key], reason))

    school_code = row.get("school", "").strip().upper()
    school = unit_by_code(session, school_code) if school_code else None
    if not school_code:
        problem("school", _("Enter a school code."))
    elif (
        school is None
        or school.kind != "school"
        or (actor is not None and not covers(actor, "admin.units", school))
    ):
        problem(
            "school",
            _("No school with the code %(code)s within your units.", code=school_code[:20]),
        )
        school = None
    elif not school.is_open:
        problem("school", _("This school is closed."))
    elif school.id in seen:
        problem("school", _("This school is already on an earlier line."))
    if school is not None:
        seen.add(school.id)

    parent_code = row.get("parent", "").strip().upper()
    parent = unit_by_code(session, parent_code) if parent_code else None
    if not parent_code:
        problem("parent", _("Enter the code of the new parent unit."))
    elif parent is None or (actor is not None and not covers(actor, "admin.units", parent)):
        problem(
            "parent",
            _("No unit with the code %(code)s within your units.", code=parent_code[:20]),
        )
        parent = None
    elif not parent.is_open:
        problem("parent", _("A closed unit cannot receive new units."))
        parent = None

    on: date | None = None
    try:
        on = _parse_day(row.get("from", ""))
        check_within_bounds(on)
    except ValidationFailed as exc:
        problem("from", exc.message)
        on = None

    if school is not None and parent is not None:
        if school.parent_id == parent.id:
            problem("parent", _("The school already sits under this unit."))
        else:
            try:
                check_place(school.kind, parent, level=school.level, on=on)
            except ValidationFailed as exc:
                problem("parent", exc.message)
    if school is not None and on is not None:
        current = _current_row(session, school)
        if current is not None and not current.opened and on <= current.valid_from:
            problem(
                "from",
                _(
                    "The school sits under its present unit since %(day)s: the new date must "
                    "come after it.",
                    day=current.valid_from.strftime("%d/%m/%Y"),
                ),
            )
        elif on < school.valid_from and not (current is not None and current.opened):
            problem("from", _("A unit cannot move before it opened."))
    if problems or school is None or parent is None or on is None:
        return problems
    return Move(line, school, school.parent, parent, on)


def plan(
    session: Session, actor: User | None, rows: list[tuple[int, dict[str, str]]], sha256: str = ""
) -> ReformPlan:
    """Every change the rows ask for and every problem, by line and column; writes nothing.
    ``actor`` None: the system (the command line), every unit in scope."""
    result = ReformPlan(sha256=sha256)
    seen: set[int] = set()
    for line, row in rows:
        checked = _plan_line(session, actor, line, row, seen)
        if isinstance(checked, Move):
            result.moves.append(checked)
        else:
            result.problems.extend(checked)
    if not rows:
        result.problems.append(Problem(0, "", _("The file has no line to apply.")))
    leaving: dict[int, set[int]] = {}
    for move in result.moves:
        if move.old_parent is not None:
            leaving.setdefault(move.old_parent.id, set()).add(move.school.id)
    arriving = {move.new_parent.id for move in result.moves}
    for parent_id, schools in sorted(leaving.items()):
        if parent_id in arriving:
            continue
        staying = session.scalar(
            select(func.count())
            .select_from(Unit)
            .where(
                Unit.parent_id == parent_id,
                Unit.valid_to.is_(None),
                Unit.id.not_in(schools),
            )
        )
        office = session.get(Unit, parent_id)
        if not staying and office is not None and office.is_open and office.parent_id:
            result.emptied.append(office)
    return result


def plan_file(session: Session, actor: User | None, data: bytes, filename: str) -> ReformPlan:
    """Read the file and plan it (ValidationFailed: the file cannot be read)."""
    rows = read_table(data, filename)
    return plan(session, actor, rows, hashlib.sha256(data).hexdigest())


def apply(
    session: Session, actor: User | None, plan: ReformPlan, close_emptied: bool = False
) -> ReformDone:
    """Carry out ``plan``: every move, then (``close_emptied``) close every office left
    without open units below, on the latest date of the plan. A plan with a problem changes
    nothing; the caller's transaction is all or nothing (a refusal midway: roll back)."""
    if plan.problems:
        raise ValidationFailed(_("The file has problems: nothing was changed."))
    if not plan.moves:
        raise ValidationFailed(_("The file has no line to apply."))
    for move in plan.moves:
        school = session.get(Unit, move.school.id)
        parent = session.get(Unit, move.new_parent.id)
        assert school is not None and parent is not None
        move_unit(session, actor, school, parent, move.on, school.version)  # type: ignore[arg-type]
    closed: list[Unit] = []
    last_day = plan.last_day
    if close_emptied and last_day is not None:
        for office in plan.emptied:
            unit = session.get(Unit, office.id)
            assert unit is not None
            if (
                actor is not None
                and unit.parent is not None
                and not covers(actor, "admin.units", unit.parent)
            ):
                continue  # an office's closing belongs to those above it
            close_unit(session, actor, unit, last_day, unit.version)
            closed.append(unit)
    record(
        session,
        actor,
        "org.reform",
        unit=_common_unit(session, plan),
        object_type="units",
        object_ref="reform",
        changes={
            "sha256": plan.sha256,
            "moved": len(plan.moves),
            "closed": [u.code for u in closed],
            "from": min(m.on for m in plan.moves).isoformat(),
            "to": last_day.isoformat() if last_day else None,
        },
    )
    return ReformDone(len(plan.moves), closed)


def _common_unit(session: Session, plan: ReformPlan) -> Unit | None:
    """The lowest unit above every school and parent of the plan (where the event is filed)."""
    paths = [m.new_parent.path for m in plan.moves] + [
        m.old_parent.path for m in plan.moves if m.old_parent is not None
    ]
    ids = [p.strip("/").split("/") for p in paths]
    common: list[str] = []
    for parts in zip(*ids, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return session.get(Unit, int(common[-1])) if common else None


def carry_out_file(
    session: Session,
    actor: User | None,
    data: bytes,
    filename: str,
    *,
    dry_run: bool,
    close_emptied: bool = False,
) -> tuple[ReformPlan, ReformDone | None]:
    """The one call of the screen and the command: read and plan the file; unless ``dry_run``
    or a problem was found, apply it. Nothing is written when the plan has a problem."""
    checked = plan_file(session, actor, data, filename)
    if dry_run or checked.problems:
        return checked, None
    return checked, apply(session, actor, checked, close_emptied=close_emptied)
