"""Unit statistics read from a spreadsheet (XLSX or CSV, as a school's management system
exports them) and the template to fill in: one line per figure row, columns "Chỉ tiêu" (the
row: its key such as ``grade_6`` or its Vietnamese or English name), "Nữ" and "Nam"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from caseapp.errors import NotFound, ValidationFailed
from caseapp.models import Unit
from caseapp.models.equality import UnitStatistics
from caseapp.security.authz import covers
from caseapp.services.equality import figures as catalog
from caseapp.services.equality import statistics
from caseapp.services.org import sheets
from caseapp.services.org.units import unit_in_scope

if TYPE_CHECKING:
    from caseapp.models import User
    from caseapp.services.reports.periods import Period

COLUMNS = (
    sheets.Column("figure", "Chỉ tiêu", ("figure", "row", "indicator")),
    sheets.Column("female", "Nữ", ("female", "women", "f")),
    sheets.Column("male", "Nam", ("male", "men", "m"), required=False),
)
_HEADINGS = {c.key: c.heading for c in COLUMNS}


def _row_names(level: str | None) -> dict[str, str]:
    """Every way a row may be named in a file (folded) -> its row key."""
    names: dict[str, str] = {}
    rows = catalog.rows_for(level)
    for locale in ("en", "vi"):
        with force_locale(locale):
            shown = catalog.row_names()
        for row in rows:
            names[sheets.fold(shown[row])] = row
    for row in rows:
        names[sheets.fold(row)] = row
    return names


def _refuse(line: int, column: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        _(
            "Line %(line)d, column “%(name)s”: %(why)s",
            line=line,
            name=_HEADINGS[column],
            why=message,
        )
    )


def read(data: bytes, filename: str, unit: Unit) -> dict[str, str]:
    """The figures a file gives for ``unit`` (figure key -> the text of its cell; the check
    of the figures is the form's). Raises ValidationFailed naming the line and column of the
    first fault: an unknown or repeated row, a male figure for women in leadership."""
    names = _row_names(unit.level)
    given: dict[str, str] = {}
    seen: dict[str, int] = {}
    for line, cells in sheets.read_table(data, filename, COLUMNS):
        row = names.get(sheets.fold(cells["figure"]))
        if row is None:
            raise _refuse(
                line,
                "figure",
                _(
                    "“%(value)s” is not a row of this unit's statistics.",
                    value=cells["figure"][:60],
                ),
            )
        if row in seen:
            raise _refuse(line, "figure", _("the row is also on line %(n)d.", n=seen[row]))
        seen[row] = line
        if row == "women_leaders":
            if cells["male"]:
                raise _refuse(
                    line, "male", _("women in leadership positions are counted as women only.")
                )
            given["women_leaders"] = cells["female"]
            continue
        for sex in catalog.SEXES:
            given[f"{row}_{sex}"] = cells[sex]
    return given


def template(unit: Unit, current: dict[str, int]) -> bytes:
    """The workbook to fill in for ``unit``: its rows, named in Vietnamese, with its current
    figures when it has some."""
    names = catalog.row_names()
    samples = []
    for row in catalog.rows_for(unit.level):
        keys = catalog.keys_of(row)
        values = [str(current[k]) if k in current else "" for k in keys]
        samples.append(
            {
                "figure": names[row],
                "female": values[0],
                "male": values[1] if len(values) > 1 else "",
            }
        )
    notes = [
        (
            "Chỉ tiêu",
            _(
                "The row: its name as written here (Vietnamese or English, case and diacritics "
                "do not matter) or its key (teachers, grade_6, ...). One line per row."
            ),
        ),
        ("Nữ", _("The number of women or girls (a whole number, 0 if none).")),
        (
            "Nam",
            _(
                "The number of men or boys (a whole number, 0 if none); empty for women in "
                "leadership positions."
            ),
        ),
    ]
    return sheets.template(COLUMNS, samples, notes)


def import_file(
    session: Session,
    actor: User,
    unit: Unit,
    period: Period,
    data: bytes,
    filename: str,
    version: int,
) -> UnitStatistics:
    """Save the figures of an uploaded file, through the same checks as the form. A refusal
    for the figures (problems, changes to confirm) carries them (details ``given``) so the
    form shows them filled in; nothing is saved."""
    if not covers(actor, "work.write", unit):
        raise NotFound()
    given = read(data, filename, unit)
    try:
        return statistics.save(session, actor, unit, period, given, (), version, source="import")
    except ValidationFailed as refused:
        refused.details["given"] = given
        raise


def template_for(session: Session, user: User, code: str | None, period: Period) -> bytes:
    """The template for a unit ``user`` may enter statistics for (404 otherwise), filled in
    with its figures of ``period`` when it has some."""
    try:
        unit = unit_in_scope(session, user, code or user.unit.code, "work.write")
    except ValidationFailed:
        raise NotFound() from None
    return template(unit, statistics.figures(statistics.statistics_of(session, unit, period.key)))
