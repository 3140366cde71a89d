"""Intake, scoped reading and the audit of every confidential read."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from caseapp.clock import local_today
from caseapp.models import AuditEvent
from tests.factories import reason_of, sign_in_client
from tests.functional.case_support import CANARY, record_case


def test_focal_point_records_and_reads_a_case(client, browser, db, world):
    sign_in_client(client, db, world["focal_a"])
    case = record_case(browser, db, world.units["SCH-A"])
    assert re.fullmatch(rf"SCH-A-{local_today().year}-\d{{4}}", case.reference)
    assert CANARY.encode() not in (case.narrative or b"")
    page = client.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert case.reference in page and CANARY not in page
    content = client.get(f"/cases/{case.public_id}/confidential").get_data(as_text=True)
    assert f"{CANARY}-narrative" in content
    actions = list(
        db.scalars(select(AuditEvent.action).where(AuditEvent.object_ref == case.reference))
    )
    assert actions.count("case.create") == 1
    assert actions.count("case.view_confidential") == 1


def test_officer_needs_a_reason(client, browser, db, world):
    sign_in_client(client, db, world["focal_a"])
    case = record_case(browser, db, world.units["SCH-A"])
    officer = client.application.test_client()
    sign_in_client(officer, db, world["officer_d1"])
    from tests.factories import Visitor

    ob = Visitor(officer, token_from="/login")
    page = officer.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert CANARY not in page
    assert officer.get(f"/cases/{case.public_id}/confidential").status_code == 302
    r = ob.post(
        f"/cases/{case.public_id}/confidential",
        {"reason": ""},
        token_from=f"/cases/{case.public_id}",
    )
    assert r.status_code == 302
    r = ob.post(
        f"/cases/{case.public_id}/confidential",
        {"reason": "Kiểm tra tiến độ xác minh"},
        token_from=f"/cases/{case.public_id}",
    )
    assert r.status_code == 200 and f"{CANARY}-narrative" in r.get_data(as_text=True)
    ev = db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "case.view_confidential", AuditEvent.actor_name == "officer.d1"
        )
    )
    assert reason_of(db, ev) == "Kiểm tra tiến độ xác minh"


@pytest.mark.parametrize(
    "who", ["focal_b", "focal_c", "officer_d2", "auditor_p", "admin_p", "admin_d1", "nobody"]
)
def test_outside_scope_is_404(client, browser, db, world, who):
    sign_in_client(client, db, world["focal_a"])
    case = record_case(browser, db, world.units["SCH-A"])
    other = client.application.test_client()
    sign_in_client(other, db, world[who])
    for url in (
        f"/cases/{case.public_id}",
        f"/cases/{case.public_id}/confidential",
        f"/cases/{case.public_id}/edit",
    ):
        assert other.get(url).status_code == 404, url


def test_the_intake_form_records_nothing_a_user_did_not_choose(app, db, world):
    """Every list starts at a prompt (disability and ethnic minority at "unknown"), so a
    hurried submit cannot record the first option of a list as a fact."""
    from tests.factories import Visitor
    from tests.functional.case_attack_support import row_counts
    from tests.functional.case_support import intake_form

    focal = Visitor(app, db, world["focal_a"])
    page = focal.get("/cases/new").get_data(as_text=True)
    for name in ("harmed_sex", "harmed_age_band", "perpetrator_relationship", "risk_level"):
        select_html = re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S).group(0)
        options = re.findall(r"<option([^>]*)>", select_html)
        assert 'value=""' in options[0] and not any("selected" in o for o in options[1:])
    for name in ("harmed_disability", "harmed_ethnic_minority"):
        select_html = re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S).group(0)
        assert re.search(
            r'<option selected value="unknown">|<option value="unknown" selected', select_html
        ), select_html
    counts = row_counts(db)
    response = focal.post("/cases/new", intake_form(world.units["SCH-A"], harmed_sex=""))
    assert response.status_code == 400
    assert "Chọn một phương án." in response.get_data(as_text=True)
    # The message at the top names the answer and links to it (the form is long on a phone).
    assert '<a href="#harmed_sex">' in response.get_data(as_text=True)
    assert row_counts(db) == counts


@pytest.mark.parametrize(
    ("band", "years", "child"),
    [("11-14", "", True), ("15-17", "15", True), ("15-17", "", False), ("18-24", "", False)],
)
def test_an_age_under_16_makes_the_person_harmed_a_child(app, db, world, band, years, child):
    from tests.factories import Visitor

    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(
        db,
        world.units["SCH-A"],
        child="",
        harmed_age_band=band,
        harmed_age_years=years,
        serious_risk_to_child="",
    )
    assert case.child is child


def test_the_intake_form_marks_its_required_answers_before_submitting(app, client, db, world):
    """Every list the intake refuses to leave empty carries ``required`` and a visible "*" in
    its label, explained by a translated legend; optional questions carry neither."""
    from caseapp.cases.forms import IntakeForm as CaseForm
    from tests.functional.admin_support import translated

    sign_in_client(client, db, world["focal_a"])
    raw = client.get("/cases/new").get_data(as_text=True)
    legend = translated(app, "Questions marked %(mark)s must be answered.") % {"mark": "*"}
    assert legend in raw
    with app.test_request_context():
        form = CaseForm(meta={"csrf": False})
        lists = [f for f in form if f.type == "SelectField"]
        required = [f.id for f in lists if f.flags.required]
        optional = [f.id for f in form if not f.flags.required and f.type != "HiddenField"]
    assert len(required) >= 11
    mark = '<span class="required-mark" aria-hidden="true">*</span></label>'
    for name in required:
        assert re.search(rf'<select[^>]*id="{name}"[^>]*\brequired\b', raw), name
        assert re.search(rf'<label for="{name}">[^<]+{re.escape(mark)}', raw), name
    for name in optional:
        assert not re.search(rf'<label for="{name}">[^<]+<span class="required-mark"', raw), name


def test_changing_the_handler_looks_like_something_to_press(app, client, browser, db, world):
    """The summary opening the handler form is styled as a button (plain text before)."""
    from tests.functional.admin_support import translated

    sign_in_client(client, db, world["focal_a"])
    case = record_case(browser, db, world.units["SCH-A"])
    raw = client.get(f"/cases/{case.public_id}").get_data(as_text=True)
    label = translated(app, "Change the handler")
    assert re.search(rf'<summary class="button">\s*{re.escape(label)}\s*</summary>', raw), raw
    css = client.get("/static/css/app.css").get_data(as_text=True)
    assert re.search(r"(^|[\s,])\.button[\s,{]", css, re.M)
