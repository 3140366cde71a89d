"""What the period report document shows, as rows of text shared by its DOCX and its XLSX: the
subject and period lines, the unit's statistics by sex (with the period before), targets beside
their results, and activities with their results. Empty parts give no rows (the document says
"(không có)")."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from caseapp.services.equality import campaigns, figures
from caseapp.services.equality.work import WorkReport

NONE_TEXT = "(không có)"  # printed for an empty section of the document
DASH = "—"


def subject_line(work: WorkReport) -> str:
    """The subject of the report, as the administrative document words it."""
    span = "6 tháng đầu năm" if work.period_key.startswith("six_month") else "năm"
    return (
        "Kết quả thực hiện công tác bình đẳng giới và vì sự tiến bộ của phụ nữ "
        f"{span} {work.date_to.year}"
    )


def period_text(work: WorkReport) -> str:
    return _(
        "From %(start)s to %(end)s",
        start=work.date_from.strftime("%d/%m/%Y"),
        end=work.date_to.strftime("%d/%m/%Y"),
    )


def file_name(work: WorkReport, fmt: str) -> str:
    """bao-cao-binh-dang-gioi-<code>-<2026-6t | 2026-nam>.<fmt>"""
    span = "6t" if work.period_key.startswith("six_month") else "nam"
    return f"bao-cao-binh-dang-gioi-{work.unit_code}-{work.date_to.year}-{span}.{fmt}"


def _count(value: object) -> str:
    return DASH if value is None else str(value)


def _figure_rows(stats: dict[str, int]) -> list[tuple[str, str | None, str | None]]:
    """(row key, female key, male key) of the rows that have a figure in ``stats``."""
    out: list[tuple[str, str | None, str | None]] = []
    for row in figures.rows_for(None):
        keys = figures.keys_of(row)
        if not any(k in stats for k in keys):
            continue
        if row == "women_leaders":
            out.append((row, "women_leaders", None))
        else:
            out.append((row, keys[0], keys[1]))
    return out


def statistics_rows(work: WorkReport) -> list[list[str]]:
    """The unit's statistics by sex: header row, then one row per figure (female, male,
    total; the same three of the period before when it is known)."""
    stats = work.statistics or {}
    previous = work.previous
    if not stats:
        return []
    names = figures.row_names()
    header = ["", _("Female"), _("Male"), _("Total")]
    if previous:
        header += [_("Female, period before"), _("Male, period before"), _("Total, period before")]
    rows = [header]

    def three(values: dict[str, int], female: str | None, male: str | None) -> list[str]:
        f = values.get(female) if female else None
        m = values.get(male) if male else None
        total = None if f is None and m is None else (f or 0) + (m or 0)
        return [_count(f), _count(m), _count(total)]

    for row, female, male in _figure_rows(stats):
        line = [names.get(row, row), *three(stats, female, male)]
        if previous:
            line += three(previous, female, male)
        rows.append(line)
    return rows


def reached(target: dict) -> bool | None:
    result = target.get("result")
    if result is None:
        return None
    return int(result) >= int(target.get("target") or 0)


def target_rows(work: WorkReport) -> list[list[str]]:
    if not work.targets:
        return []
    yes_no = {True: _("Yes"), False: _("No"), None: DASH}
    rows = [[_("Target"), _("Unit of measure"), _("Target value"), _("Result"), _("Reached")]]
    for t in work.targets:
        rows.append(
            [
                str(t.get("title") or ""),
                str(t.get("measure") or ""),
                _count(t.get("target")),
                _count(t.get("result")),
                yes_no[reached(t)],
            ]
        )
    return rows


def _held_on(value: object) -> str:
    try:
        return date.fromisoformat(str(value)).strftime("%d/%m/%Y")
    except ValueError:
        return str(value or "")


def campaign_name(key: object) -> str:
    found = campaigns.by_key(str(key)) if key else None
    return found.name if found is not None else ""


def activity_rows(work: WorkReport) -> list[list[str]]:
    if not work.activities:
        return []
    rows = [
        [
            _("Date"),
            _("Campaign"),
            _("Activity"),
            _("Female"),
            _("Male"),
            _("Other"),
            _("Results"),
        ]
    ]
    for a in work.activities:
        rows.append(
            [
                _held_on(a.get("held_on")),
                campaign_name(a.get("campaign")),
                str(a.get("title") or ""),
                _count(a.get("female")),
                _count(a.get("male")),
                _count(a.get("other")),
                str(a.get("results") or ""),
            ]
        )
    return rows
