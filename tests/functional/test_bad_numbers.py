"""Numbers a form or a URL cannot hold are refused with 400 or a form error, never a 500, and
change nothing: a view name the report does not know, a page marker past 2^63, a 25-digit
contact id, "²" (a digit to str.isdigit(), not to int()) as a form's version, and the first
and last days of the calendar in a filter."""

from __future__ import annotations

import pytest

from caseapp.clock import local_today
from caseapp.models import Unit, User
from caseapp.services.org import referrals as referral_service
from tests.factories import Visitor
from tests.functional.admin_support import changed_tables, page_text, snapshot
from tests.functional.test_report_activities import _existing
from tests.functional.workflow_support import consent, referral_contact

SUPERSCRIPT_TWO = "\u00b2"
HUGE = str(2**63 + 1)
TWENTY_FIVE_DIGITS = "1" * 25


def _today() -> str:
    """Today where the users are, read when a test runs (not when the module is imported: a
    run that passes midnight in Vietnam, 17:00 UTC, would send yesterday)."""
    return local_today().isoformat()


@pytest.mark.parametrize("view", ["x", "", "export", "\u00b2"])
def test_an_unknown_report_view_is_not_an_error(client, db, world, view):
    agent = Visitor(client, db, world["officer_d1"])
    r = agent.get("/reports/", query_string={"view": view})
    assert r.status_code in (200, 400)


@pytest.mark.parametrize("before", [HUGE, str(2**31), "-1", SUPERSCRIPT_TWO, "x"])
def test_an_audit_page_marker_out_of_range_is_refused(client, db, world, before):
    agent = Visitor(client, db, world["auditor_p"])
    r = agent.get("/audit/events", query_string={"before": before})
    assert r.status_code in (200, 400)
    # A marker beyond any seq and one that is no number at all: a plain 400, not a 500.
    if before in (HUGE, SUPERSCRIPT_TWO, "x"):
        assert r.status_code == 400


@pytest.mark.parametrize("url", ["/audit/events", "/audit/events.csv"])
@pytest.mark.parametrize(
    ("date_from", "date_to"), [("0001-01-01", ""), ("", "9999-12-31"), ("0001-01-01", "9999-12-31")]
)
def test_an_audit_filter_to_the_ends_of_the_calendar_means_everything(
    client, db, world, url, date_from, date_to
):
    agent = Visitor(client, db, world["auditor_p"])
    everything = agent.get(url).get_data(as_text=True)
    r = agent.get(url, query_string={"date_from": date_from, "date_to": date_to})
    assert r.status_code == 200
    if url.endswith(".csv"):  # the same rows (an auditor's own exports are not among them)
        assert len(r.get_data(as_text=True).splitlines()) == len(everything.splitlines())
    else:
        assert "Some filters are not valid" not in r.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/reports/", "/reports/export"])
@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [("9999-01-01", "9999-12-31"), ("0001-01-01", "0001-12-31"), ("1944-01-01", "1944-12-31")],
)
def test_a_report_period_past_the_calendar_is_refused(client, db, world, url, date_from, date_to):
    agent = Visitor(client, db, world["officer_d1"])
    agent.use_language("en")
    before = snapshot(db)
    r = agent.get(
        url,
        query_string={"period": "custom", "date_from": date_from, "date_to": date_to, "unit": "D1"},
    )
    assert r.status_code == 302
    page = page_text(agent.get(r.headers["Location"]))
    assert "The date must fall between 01/01/1945 and " in page
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize("contact_id", [TWENTY_FIVE_DIGITS, SUPERSCRIPT_TWO, "-3", "0"])
def test_a_referral_to_a_contact_id_out_of_range_is_a_form_error(app, db, world, contact_id):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    consent(db, world["focal_a"], case, "person_harmed", "guardian")
    referral_contact(db, world, "D1")
    before = snapshot(db)
    outcome = focal.add_step(case, kind="referral", contact_id=contact_id)
    assert outcome.status_code == 302
    assert "Choose a service from the referral directory." in outcome.text
    assert changed_tables(before, snapshot(db)) == []


def _version_forms(db, world) -> dict[str, tuple[str, str, dict]]:
    """(who, URL, fields accepted as they are) of every form carrying a version."""
    sch_a = db.get(Unit, world.units["SCH-A"])
    focal = db.get(User, world["focal_a"].id)
    contact = referral_service.create_contact(
        db, None, sch_a, "Trạm y tế", "health_station", "0123", ""
    )
    activity = _existing(db, world)
    db.commit()
    return {
        "unit": (
            "admin_p",
            f"/admin/units/{sch_a.id}",
            {"name": "Trường A", "kind": "school", "version": sch_a.version},
        ),
        "unit_close": (
            "admin_p",
            f"/admin/units/{sch_a.id}/close",
            {"valid_to": _today(), "version": sch_a.version},
        ),
        "unit_move": (
            "admin_p",
            f"/admin/units/{sch_a.id}/move",
            {"new_parent_code": "D2", "on": _today(), "version": sch_a.version},
        ),
        "user": (
            "admin_p",
            f"/admin/users/{focal.id}",
            {"full_name": "Trần Thị B", "version": focal.version},
        ),
        "referral": (
            "admin_p",
            f"/admin/referrals/{contact.id}",
            {
                "unit_code": "SCH-A",
                "name": "Trạm y tế xã",
                "kind": "health_station",
                "phone": "0123 456",
                "address": "Thôn 1",
                "active": "y",
                "version": contact.version,
            },
        ),
        "activity": (
            "focal_a",
            f"/reports/activities/{activity.id}",
            {
                "unit_code": "SCH-A",
                "held_on": "2020-03-10",
                "kind": "training",
                "audience": "pupils",
                "title": "Tập huấn",
                "participants_female": "1",
                "participants_male": "1",
                "participants_other": "0",
                "version": activity.version,
            },
        ),
    }


FORMS = ["unit", "unit_close", "unit_move", "user", "referral", "activity"]


@pytest.mark.parametrize("form", FORMS)
def test_the_form_with_its_version_is_accepted(client, db, world, form):
    """The baseline: each refusal below differs from an accepted form by its version only."""
    who, url, fields = _version_forms(db, world)[form]
    before = snapshot(db)
    r = Visitor(client, db, world[who]).post(url, fields)
    assert r.status_code == 302, page_text(r)[:2000]
    assert changed_tables(before, snapshot(db))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("version", [SUPERSCRIPT_TWO, TWENTY_FIVE_DIGITS, "-1"])
def test_a_version_that_is_no_small_number_is_a_form_error(client, db, world, form, version):
    who, url, fields = _version_forms(db, world)[form]
    agent = Visitor(client, db, world[who])
    agent.use_language("en")
    before = snapshot(db)
    r = agent.post(url, {**fields, "version": version})
    # The form again, refused (the pages show no error for a hidden field).
    assert r.status_code == 400, r.status_code
    assert 'name="version"' in page_text(r)
    assert changed_tables(before, snapshot(db)) == []
