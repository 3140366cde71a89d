"""The statistics by sex a unit reports for a period: its staff (teachers, managers,
employees, party members, women in leadership positions), its pupils by grade, dropouts, and
pupils reached by the period's activities. A figure key is ``<row>_<sex>`` (``women_leaders``
has no sex: it counts women)."""

from __future__ import annotations

from flask_babel import gettext as _

SEXES = ("female", "male")
STAFF_ROWS = ("teachers", "managers", "employees")  # staff_total is their sum
GRADES = ("preschool", *(f"grade_{n}" for n in range(1, 13)))  # pupils_total is their sum
FIGURE_MAX = 1_000_000

# The grades a school of each level teaches; an office (no level) compiles every grade.
_LEVEL_GRADES = {
    "preschool": ("preschool",),
    "primary": tuple(f"grade_{n}" for n in range(1, 6)),
    "lower_secondary": tuple(f"grade_{n}" for n in range(6, 10)),
    "upper_secondary": tuple(f"grade_{n}" for n in range(10, 13)),
    "multi_level": tuple(f"grade_{n}" for n in range(1, 13)),
    "continuing_education": tuple(f"grade_{n}" for n in range(6, 13)),
    "boarding_ethnic": tuple(f"grade_{n}" for n in range(6, 13)),
}


def grades_for(level: str | None) -> tuple[str, ...]:
    return _LEVEL_GRADES.get(level or "", GRADES)


def rows_for(level: str | None) -> list[str]:
    """The rows of the form of a unit of ``level``, in order (each with a female and a male
    figure, except women_leaders)."""
    return [
        *STAFF_ROWS,
        "staff_total",
        "party_members",
        "women_leaders",
        *grades_for(level),
        "pupils_total",
        "dropouts",
        "reached",
    ]


def keys_of(row: str) -> tuple[str, ...]:
    return ("women_leaders",) if row == "women_leaders" else tuple(f"{row}_{s}" for s in SEXES)


def keys_for(level: str | None) -> list[str]:
    return [key for row in rows_for(level) for key in keys_of(row)]


def row_names() -> dict[str, str]:
    names = {
        "teachers": _("Teachers"),
        "managers": _("Managers"),
        "employees": _("Employees"),
        "staff_total": _("Staff in all"),
        "party_members": _("Party members"),
        "women_leaders": _("Women in leadership positions"),
        "preschool": _("Preschool children"),
        "pupils_total": _("Pupils in all"),
        "dropouts": _("Pupils who dropped out"),
        "reached": _("Pupils reached by activities"),
    }
    for n in range(1, 13):
        names[f"grade_{n}"] = _("Grade %(n)d", n=n)
    return names


def sex_names() -> dict[str, str]:
    return {"female": _("Female"), "male": _("Male")}
