"""The two action months of each year, as named campaigns an activity belongs to: the national
action month on preventing domestic violence (June) and the action month for gender equality
and preventing gender-based violence (15 November to 15 December)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import MINYEAR, date

from flask_babel import gettext as _

KINDS = ("june", "gender")
# The activity kind that names each action month (models.reports.ACTIVITY_KINDS).
ACTIVITY_KIND = {"june": "action_month_june", "gender": "action_month_gender"}


@dataclass(frozen=True)
class Campaign:
    key: str  # "june:2026"
    kind: str
    year: int
    starts_on: date
    ends_on: date

    @property
    def name(self) -> str:
        if self.kind == "june":
            return _(
                "National action month on preventing domestic violence, June %(year)d",
                year=self.year,
            )
        return _(
            "Action month for gender equality and preventing gender-based violence, "
            "15/11 - 15/12/%(year)d",
            year=self.year,
        )

    def holds(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


def campaign(kind: str, year: int) -> Campaign:
    if kind == "june":
        return Campaign(f"june:{year}", kind, year, date(year, 6, 1), date(year, 6, 30))
    if kind == "gender":
        return Campaign(f"gender:{year}", kind, year, date(year, 11, 15), date(year, 12, 15))
    raise ValueError(f"unknown campaign kind {kind!r}")


def campaigns_of(year: int) -> list[Campaign]:
    return [campaign(kind, year) for kind in KINDS]


def by_key(key: str) -> Campaign | None:
    """The campaign of a key such as "gender:2026", or None when it names none."""
    kind, _sep, year = key.partition(":")
    if (
        kind not in KINDS
        or not (year.isascii() and year.isdigit())
        or not 2000 <= int(year) <= 2100
    ):
        return None
    return campaign(kind, int(year))


def around(day: date) -> list[Campaign]:
    """The campaigns an activity held on ``day`` may be linked to: those of its year and the
    one before (the gender month of November-December is reported in the next year's six-month
    report)."""
    return [c for y in (day.year, day.year - 1) if y >= MINYEAR for c in campaigns_of(y)]


def in_period(date_from: date, date_to: date) -> list[Campaign]:
    """The campaigns that overlap a report period."""
    return [
        c
        for y in range(date_from.year, date_to.year + 1)
        for c in campaigns_of(y)
        if c.starts_on <= date_to and c.ends_on >= date_from
    ]
