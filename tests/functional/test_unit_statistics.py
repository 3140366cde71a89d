"""The statistics by sex of a unit (issue 13, part 2): the form refuses inconsistent totals,
negatives and unconfirmed jumps of more than 30 % with a clear message and keeps what was
typed; only the unit's writers save, on the current version, before the report is submitted;
the import of a spreadsheet goes through the same rules; an office compiles its schools."""

from __future__ import annotations

import hashlib
import io
import json

from sqlalchemy import func, select

from caseapp.models import AuditEvent, ReportSnapshot
from caseapp.models.equality import UnitStatistics
from caseapp.services.audit.trail import record
from caseapp.services.equality import figures as catalog
from caseapp.services.equality import statistics, statistics_import
from caseapp.services.equality.work import gather
from caseapp.services.reports.periods import period_by_key
from tests.factories import Visitor
from tests.functional.report_support import unit, user

PERIOD = "six_month:2021"
BEFORE = "annual:2020"
URL = f"/equality/statistics?unit=SCH-A&period={PERIOD}"
IMPORT = f"/equality/statistics/import?unit=SCH-A&period={PERIOD}"


def consistent(level: str | None = "multi_level", scale: int = 1) -> dict[str, int]:
    """Figures that add up, for a school of ``level`` (SCH-A is multi-level)."""
    f = {
        "teachers_female": 20 * scale,
        "teachers_male": 10 * scale,
        "managers_female": 3 * scale,
        "managers_male": 2 * scale,
        "employees_female": 5 * scale,
        "employees_male": 4 * scale,
        "party_members_female": 6 * scale,
        "party_members_male": 5 * scale,
        "women_leaders": 2 * scale,
        "dropouts_female": 1 * scale,
        "dropouts_male": 2 * scale,
        "reached_female": 100 * scale,
        "reached_male": 90 * scale,
    }
    for sex, n in (("female", 30), ("male", 31)):
        f[f"staff_total_{sex}"] = sum(f[f"{r}_{sex}"] for r in catalog.STAFF_ROWS)
        for grade in catalog.grades_for(level):
            f[f"{grade}_{sex}"] = n * scale
        f[f"pupils_total_{sex}"] = n * scale * len(catalog.grades_for(level))
    return f


def form(values: dict, version: int = 0, **extra) -> dict:
    return {
        "version": str(version),
        "source": "form",
        **{k: str(v) for k, v in values.items()},
        **extra,
    }


def _state(db) -> tuple:
    db.expire_all()
    rows = [
        (r.unit_id, r.period_key, r.figures, r.version)
        for r in db.scalars(select(UnitStatistics).order_by(UnitStatistics.id))
    ]
    events = db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "statistics.save")
    )
    return rows, events


def _saved(db, world, values, key=PERIOD, who="focal_a", code="SCH-A") -> UnitStatistics:
    row = statistics.save(
        db, user(db, world, who), unit(db, world, code), period_by_key(key), values, (), 0
    )
    db.commit()
    return row


def _snapshot(db, world, code: str, data: dict) -> None:
    period = period_by_key(PERIOD)
    text = json.dumps(data)
    snap = ReportSnapshot(
        unit_id=world.units[code],
        period_key=period.key,
        date_from=period.date_from,
        date_to=period.date_to,
        due_on=period.due_on,
        data=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        submitted_by_id=world["focal_a"].id,
    )
    db.add(snap)
    record(db, None, "report.submit", snap, unit=unit(db, world, code))
    db.commit()


def _csv(values: dict, names: dict[str, str] | None = None) -> bytes:
    lines = ["Chỉ tiêu,Nữ,Nam"]
    for row in catalog.rows_for("multi_level"):
        keys = catalog.keys_of(row)
        cells = [str(values[k]) for k in keys] + ([""] if len(keys) == 1 else [])
        lines.append(",".join([(names or {}).get(row, row), *cells]))
    return ("\n".join(lines) + "\n").encode("utf-8")


# The rules ---------------------------------------------------------------------------------


def test_the_period_before(db):
    assert statistics.previous_period(period_by_key("six_month:2026")).key == "annual:2025"
    assert statistics.previous_period(period_by_key("annual:2026")).key == "six_month:2026"


def test_changes_over_thirty_percent():
    before = {"a": 10, "b": 10, "c": 0, "d": 0, "e": 100}
    now = {"a": 13, "b": 14, "c": 9, "d": 10, "e": 69, "f": 500}
    assert statistics.changes_over(before, now) == ["b", "d", "e"]


def test_check_names_row_sex_and_numbers(app):
    values = consistent()
    values["staff_total_female"] = 30
    values["party_members_male"] = 99
    values["women_leaders"] = 40
    values["reached_female"] = 10**6
    values["dropouts_male"] = 999  # dropouts left: not bounded by the pupils in all
    with app.test_request_context(headers={"Accept-Language": "en"}):
        from flask_babel import force_locale

        with force_locale("en"):
            found = {p.key: p.message for p in statistics.check("multi_level", values)}
    assert found["staff_total_female"] == (
        "Staff in all (female) is 30 but teachers, managers and employees add up to 28."
    )
    assert "Party members (male) is 99, more than the staff in all (16)." in found.values()
    assert "women_leaders" in found and "reached_female" in found
    assert "dropouts_male" not in found


# The form ----------------------------------------------------------------------------------


def test_inconsistent_totals_are_refused_and_what_was_typed_is_kept(app, db, world):
    before = _state(db)
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    values = consistent()
    values["staff_total_female"] = 30
    values["grade_7_male"] = 1000
    r = visitor.post(URL, form(values))
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "Staff in all (female) is 30 but teachers, managers and employees add up to 28." in page
    assert "Pupils in all (male) is 372 but the grades add up to 1341." in page
    assert 'name="staff_total_female" value="30"' in page
    assert 'name="grade_7_male" value="1000"' in page
    assert 'aria-invalid="true"' in page
    assert _state(db) == before


def test_a_negative_or_missing_figure_is_refused(app, db, world):
    before = _state(db)
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    values = consistent()
    values["dropouts_female"] = -1
    values["reached_male"] = ""
    r = visitor.post(URL, form(values))
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "Pupils who dropped out (female) cannot be negative." in page
    assert "Pupils reached by activities (male): enter a number (0 if none)." in page
    assert 'name="dropouts_female" value="-1"' in page
    assert _state(db) == before


def test_a_consistent_form_is_saved_once_and_audited(app, db, world):
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    r = visitor.post(URL, form(consistent()))
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    rows, events = _state(db)
    assert len(rows) == 1 and events == 1
    row = statistics.statistics_of(db, unit(db, world, "SCH-A"), PERIOD)
    assert statistics.figures(row) == consistent() and row.source == "form"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "statistics.save"))
    assert json.loads(event.changes)["source"] == "form" and json.loads(event.changes)["changed"][
        "teachers_female"
    ] == [
        None,
        20,
    ]


def test_a_change_over_thirty_percent_asks_confirmation_then_saves(app, db, world):
    _saved(db, world, consistent(), key=BEFORE)
    before = _state(db)
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    doubled = consistent(scale=2)
    r = visitor.post(URL, form(doubled))
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "confirm them and save again" in page
    assert 'name="confirm" value="teachers_female"' in page
    assert 'name="teachers_female" value="40"' in page
    assert _state(db) == before
    moved = statistics.changes_over(consistent(), doubled)
    r = visitor.post(URL, form(doubled, confirm=moved[:-1]))
    assert r.status_code == 400 and _state(db) == before  # one left unconfirmed
    r = visitor.post(URL, form(doubled, confirm=moved))
    assert r.status_code == 302
    row = statistics.statistics_of(db, unit(db, world, "SCH-A"), PERIOD)
    assert statistics.figures(row) == doubled
    assert json.loads(row.confirmed) == sorted(moved)


def test_the_focal_point_of_another_school_gets_404_and_nothing_changes(app, db, world):
    before = _state(db)
    visitor = Visitor(app, db, world["focal_b"])
    assert visitor.get(URL).status_code == 404
    assert visitor.post(URL, form(consistent())).status_code == 404
    assert (
        visitor.post(
            IMPORT, {"version": "0", "file": (io.BytesIO(_csv(consistent())), "a.csv")}
        ).status_code
        == 404
    )
    assert visitor.get("/equality/statistics/template.xlsx?unit=SCH-A").status_code == 404
    assert _state(db) == before


def test_a_head_of_unit_reads_but_does_not_change(app, db, world):
    from caseapp.runtime import keyring
    from tests.factories import make_user

    _saved(db, world, consistent())
    head = make_user(
        db, keyring(), "head.a", unit(db, world, "SCH-A"), [("head", unit(db, world, "SCH-A"))]
    )
    db.commit()
    before = _state(db)
    visitor = Visitor(app, db, head, lang="en")
    page = visitor.get(URL).get_data(as_text=True)
    assert "<td>20" in page and 'name="teachers_female"' not in page
    values = consistent()
    values["dropouts_male"] = 3
    assert visitor.post(URL, form(values, version=1)).status_code == 404
    assert _state(db) == before


def test_a_stale_version_is_refused_with_409(app, db, world):
    _saved(db, world, consistent())
    before = _state(db)
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    values = consistent()
    values["dropouts_male"] = 3
    r = visitor.post(URL, form(values, version=0))
    assert r.status_code == 409
    assert "Reload the page" in r.get_data(as_text=True)
    assert _state(db) == before


def test_after_submission_the_figures_are_frozen(app, db, world):
    row = _saved(db, world, consistent())
    _snapshot(db, world, "SCH-A", {"work": {"statistics": consistent()}})
    before = _state(db)
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    values = consistent()
    values["dropouts_male"] = 3
    r = visitor.post(URL, form(values, version=row.version))
    assert r.status_code == 409
    assert "was submitted" in r.get_data(as_text=True)
    assert _state(db) == before


# The import --------------------------------------------------------------------------------


def test_import_of_a_csv_saves_with_source_import(app, db, world):
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    names = {
        "teachers": "GIÁO VIÊN",
        "grade_6": "lop 6",
        "women_leaders": "Women in leadership positions",
    }
    r = visitor.post(
        IMPORT, {"version": "0", "file": (io.BytesIO(_csv(consistent(), names)), "s.csv")}
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    row = statistics.statistics_of(db, unit(db, world, "SCH-A"), PERIOD)
    assert statistics.figures(row) == consistent() and row.source == "import"
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "statistics.save")).all()
    assert len(events) == 1 and json.loads(events[0].changes)["source"] == "import"


def test_a_bad_file_names_line_and_column_and_saves_nothing(app, db, world):
    before = _state(db)
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    content = _csv(consistent()).replace(b"\nmanagers,", b"\nnot a row,")
    r = visitor.post(IMPORT, {"version": "0", "file": (io.BytesIO(content), "s.csv")})
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "Line 3, column “Chỉ tiêu”" in page
    assert _state(db) == before
    r = visitor.post(IMPORT, {"version": "0", "file": (io.BytesIO(b"PK\x03\x04junk"), "s.xlsx")})
    assert r.status_code == 400 and _state(db) == before


def test_an_import_needing_confirmation_shows_the_figures_and_saves_nothing(app, db, world):
    _saved(db, world, consistent(), key=BEFORE)
    before = _state(db)
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    doubled = consistent(scale=2)
    r = visitor.post(IMPORT, {"version": "0", "file": (io.BytesIO(_csv(doubled)), "s.csv")})
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert 'name="confirm" value="teachers_female"' in page
    assert 'name="teachers_female" value="40"' in page
    assert 'name="source" type="hidden" value="import"' in page or 'value="import"' in page
    assert _state(db) == before
    moved = statistics.changes_over(consistent(), doubled)
    r = visitor.post(URL, form(doubled, source="import", confirm=moved))
    assert r.status_code == 302
    row = statistics.statistics_of(db, unit(db, world, "SCH-A"), PERIOD)
    assert row.source == "import" and statistics.figures(row) == doubled


def test_the_template_reads_back(app, db, world):
    _saved(db, world, consistent())
    visitor = Visitor(app, db, world["focal_a"])
    r = visitor.get(f"/equality/statistics/template.xlsx?unit=SCH-A&period={PERIOD}")
    assert r.status_code == 200
    school = unit(db, world, "SCH-A")
    given = statistics_import.read(r.data, "t.xlsx", school)
    assert statistics.check(school.level, given) == []
    assert {k: int(v) for k, v in given.items()} == consistent()


# Offices -----------------------------------------------------------------------------------


def test_a_commune_compiles_a_submitted_and_a_live_school(app, db, world):
    _snapshot(
        db,
        world,
        "SCH-A",
        {"tables": [], "work": {"statistics": {"teachers_female": 5, "reached_male": 7}}},
    )
    _saved(db, world, consistent(), who="focal_b", code="SCH-B")
    d1 = unit(db, world, "D1")
    period = period_by_key(PERIOD)
    total = statistics.compiled_figures(db, d1, period)
    assert total["teachers_female"] == 25 and total["reached_male"] == 97
    assert total["teachers_male"] == 10
    listed = {s["unit"].code: s for s in statistics.compiled(db, d1, period).schools}
    assert listed["SCH-A"]["submitted"] and not listed["SCH-B"]["submitted"]
    assert statistics.compiled_figures(db, unit(db, world, "D2"), period) is None
    report = gather(db, d1, period)
    assert report.statistics == total and report.previous is None
    visitor = Visitor(app, db, world["officer_d1"], lang="en")
    page = visitor.get(f"/equality/statistics?unit=D1&period={PERIOD}").get_data(as_text=True)
    assert "Compiled from the schools" in page and "not submitted, live figures" in page
