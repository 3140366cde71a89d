"""The gender-equality work report in a real browser, end to end (issue 13): a primary school
of a commune writes its plan of the year (its head approves it), enters its statistics by sex
(an inconsistent total is refused with a clear message and what was typed is kept), writes the
narrative and submits its six-month report; the commune's officer starts from a draft compiled
from the school's text, edits it and submits upward; the commune's DOCX opens with python-docx
and holds every section, the school's figures and the note on hidden small counts. The pages
pass the accessibility check."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from tests.browser.conftest import assert_accessible, screenshot, sign_in

pytestmark = pytest.mark.browser

COMMUNE = "BR-GC"
SCHOOL = "BR-GCS"
PERIOD = "six_month:2026"  # 01/11/2025 - 30/04/2026, due 15/05/2026
YEAR = 2026
SCHOOL_TEXT = "Trường đã tổ chức 4 buổi sinh hoạt chuyên đề"
COMMUNE_TEXT = "Phòng đã tổng hợp báo cáo của các trường"
# Figures that add up (a primary school: grades 1 to 5); 37 female teachers is distinctive.
TEACHERS = (37, 9)
MANAGERS = (2, 1)
EMPLOYEES = (4, 3)
GRADE = (41, 44)


def _figures() -> dict[str, int]:
    f = {
        "teachers_female": TEACHERS[0],
        "teachers_male": TEACHERS[1],
        "managers_female": MANAGERS[0],
        "managers_male": MANAGERS[1],
        "employees_female": EMPLOYEES[0],
        "employees_male": EMPLOYEES[1],
        "staff_total_female": TEACHERS[0] + MANAGERS[0] + EMPLOYEES[0],
        "staff_total_male": TEACHERS[1] + MANAGERS[1] + EMPLOYEES[1],
        "party_members_female": 12,
        "party_members_male": 4,
        "women_leaders": 2,
        "pupils_total_female": GRADE[0] * 5,
        "pupils_total_male": GRADE[1] * 5,
        "dropouts_female": 0,
        "dropouts_male": 1,
        "reached_female": 150,
        "reached_male": 160,
    }
    for n in range(1, 6):
        f[f"grade_{n}_female"], f[f"grade_{n}_male"] = GRADE
    return f


def _seed(live):
    """A commune of the two-tier map with a primary school, its focal point, its head and the
    commune's officer; two cases received in the period (counts under 5: hidden in exports)."""
    from caseapp.db import get_session
    from caseapp.runtime import keyring
    from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case
    from caseapp.services.org.units import unit_by_code
    from tests.factories import get_user, make_unit, make_user

    with live.app.app_context():
        s = get_session()
        if unit_by_code(s, COMMUNE) is not None:
            return
        province = unit_by_code(s, "BR-P")
        since = date(2025, 7, 1)
        commune = make_unit(s, province, COMMUNE, "commune", "Phòng Văn hóa - Xã hội xã Gia", since)
        school = make_unit(
            s, commune, SCHOOL, "school", "Trường Tiểu học Gia Bình", since, level="primary"
        )
        people = {
            "focal": make_user(s, keyring(), "focal.gia", school, [("focal_point", school)]),
            "head": make_user(s, keyring(), "head.gia", school, [("head", school)]),
            "officer": make_user(s, keyring(), "officer.gia", commune, [("officer", commune)]),
        }
        s.flush()
        focal = get_user(s, people["focal"].username)
        for days, sex in ((20, "female"), (60, "male")):
            create_case(
                s,
                focal,
                school,
                CaseDetails(
                    received_on=date(2025, 11, 1) + timedelta(days=days),
                    received_via="in_person",
                    reporter_kind="teacher",
                    setting="in_school",
                    violence_types=["physical"],
                    child=True,
                    harmed_sex=sex,
                    harmed_age_band="6-10",
                    harmed_role="pupil",
                    perpetrator_sex="male",
                    perpetrator_age_band="6-10",
                    perpetrator_relationship="pupil_peer",
                    risk_level="low",
                ),
                CaseContent(harmed_name=f"Học sinh {days}"),
            )
        s.commit()
        live.people.update({f"gia_{k}": v for k, v in people.items()})


def _post_form(page, action: str):
    """The form posting to ``action`` (its path, with or without a query string)."""
    return page.locator(
        f'form[method="post"][action="{action}"], form[method="post"][action^="{action}?"]'
    )


def test_a_school_and_its_commune_write_and_submit_the_six_month_report(chromium, live_server):
    from docx import Document

    live = live_server
    _seed(live)
    base = live.url

    def person_page(key):
        context = chromium.new_context(accept_downloads=True)
        context.set_default_timeout(30_000)
        tab = context.new_page()
        sign_in(tab, live, live.people[key])
        return context, tab

    # 1. The focal point writes the plan of the year with a measurable target.
    ctx, page = person_page("gia_focal")
    page.goto(f"{base}/equality/plan?unit={SCHOOL}&year={YEAR}")
    form = _post_form(page, "/equality/plan")
    form.locator('textarea[name="text"]').fill("Lồng ghép bình đẳng giới vào mọi hoạt động.")
    form.locator('input[name="targets-0-title"]').fill("Học sinh được tuyên truyền")
    form.locator('select[name="targets-0-measure"]').select_option("pupils_reached")
    form.locator('input[name="targets-0-target_value"]').fill("300")
    form.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    assert "Học sinh được tuyên truyền" in page.content()

    # 2. Statistics: a total that does not add up is refused, clearly, keeping what was typed.
    page.goto(f"{base}/equality/statistics?unit={SCHOOL}&period={PERIOD}")
    figures = _figures()
    wrong = dict(figures, staff_total_female=figures["staff_total_female"] + 5)
    form = _post_form(page, "/equality/statistics")
    for key, value in wrong.items():
        form.locator(f'input[name="{key}"]').fill(str(value))
    form.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    alert = page.locator('[role="alert"]').first
    assert alert.is_visible()
    assert str(wrong["staff_total_female"]) in alert.inner_text()
    kept = page.locator('input[name="teachers_female"]').input_value()
    assert kept == str(TEACHERS[0])
    assert page.locator('input[name="staff_total_female"]').input_value() == str(
        wrong["staff_total_female"]
    )
    assert_accessible(page, "statistics refused")
    page.locator('input[name="staff_total_female"]').fill(str(figures["staff_total_female"]))
    _post_form(page, "/equality/statistics").locator('button[type="submit"]').click()
    page.wait_for_load_state()
    assert page.locator('[role="alert"]').count() == 0
    assert page.locator('input[name="teachers_female"]').input_value() == str(TEACHERS[0])

    # 3. The narrative: every section, then submission from the overview.
    page.goto(f"{base}/equality/narrative?unit={SCHOOL}&period={PERIOD}")
    form = _post_form(page, "/equality/narrative")
    for area in form.locator('textarea[name^="section_"]').all():
        name = area.get_attribute("name")
        area.fill(f"{SCHOOL_TEXT} ({name}).")
    form.locator('input[name="signer_name"]').fill("Nguyễn Thị Hoa")
    form.locator('input[name="number"]').fill("12")
    assert_accessible(page, "narrative of a school")
    form.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    page.goto(f"{base}/equality/?unit={SCHOOL}&period={PERIOD}")
    submit = _post_form(page, "/equality/submit")
    submit.locator('input[name="confirm"]').check()
    submit.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    assert page.locator("code.secret").count() >= 1  # the fingerprint of the submission
    assert _post_form(page, "/equality/submit").count() == 0
    screenshot(page, "work-report-school-submitted.png")
    ctx.close()

    # 4. The head of the school approves the plan (four eyes: not the person who wrote it).
    ctx, page = person_page("gia_head")
    page.goto(f"{base}/equality/plan?unit={SCHOOL}&year={YEAR}")
    _post_form(page, "/equality/plan/approve").locator('button[type="submit"]').click()
    page.wait_for_load_state()
    assert _post_form(page, "/equality/plan/approve").count() == 0
    ctx.close()

    # 5. The commune's officer starts from the compiled draft, edits it, submits upward.
    ctx, page = person_page("gia_officer")
    page.goto(f"{base}/equality/?unit={COMMUNE}&period={PERIOD}")
    assert "Trường Tiểu học Gia Bình" in page.content()
    assert_accessible(page, "overview of a commune")
    page.goto(f"{base}/equality/narrative?unit={COMMUNE}&period={PERIOD}")
    _post_form(page, "/equality/narrative/compile").locator('button[type="submit"]').click()
    page.wait_for_load_state()
    form = _post_form(page, "/equality/narrative")
    areas = form.locator('textarea[name^="section_"]').all()
    assert areas and all(SCHOOL_TEXT in area.input_value() for area in areas)
    # Sent unedited, the compiled draft is refused.
    page.goto(f"{base}/equality/?unit={COMMUNE}&period={PERIOD}")
    submit = _post_form(page, "/equality/submit")
    submit.locator('input[name="confirm"]').check()
    submit.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    assert _post_form(page, "/equality/submit").count() == 1
    page.goto(f"{base}/equality/narrative?unit={COMMUNE}&period={PERIOD}")
    form = _post_form(page, "/equality/narrative")
    for area in form.locator('textarea[name^="section_"]').all():
        area.fill(f"{COMMUNE_TEXT}. {area.input_value()}")
    form.locator('input[name="signer_name"]').fill("Trần Văn Nam")
    form.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    page.goto(f"{base}/equality/?unit={COMMUNE}&period={PERIOD}")
    submit = _post_form(page, "/equality/submit")
    submit.locator('input[name="confirm"]').check()
    submit.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    assert _post_form(page, "/equality/submit").count() == 0

    # 6. The commune's submitted report as DOCX: every section, the school's figures, the note.
    snapshot_link = page.locator('a[href^="/reports/snapshots/"]').first
    snapshot_link.click()
    page.wait_for_load_state()
    with page.expect_download() as caught:
        page.locator('a[href*="/document?format=docx"]').first.click()
    content = caught.value.path().read_bytes()
    ctx.close()

    doc = Document(io.BytesIO(content))
    text = "\n".join(p.text for p in doc.paragraphs)
    cells = "\n".join(cell.text for table in doc.tables for row in table.rows for cell in row.cells)
    everything = text + "\n" + cells
    with live.app.test_request_context():
        from flask_babel import force_locale

        from caseapp.services.equality.sections import section_names
        from caseapp.services.reports.exports import legend

        with force_locale("vi"):
            names = section_names()
            note = legend()
    for name in names.values():  # parts I, III and IV are headed in capitals
        assert name.upper() in everything.upper(), name
    assert COMMUNE_TEXT in text and SCHOOL_TEXT in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in cells
    assert "PHÒNG VĂN HÓA - XÃ HỘI XÃ GIA" in cells
    assert "Nơi nhận:" in cells and "Trần Văn Nam" in cells
    assert note in everything  # the small counts (2 cases) are hidden, and the reader told
    assert str(TEACHERS[0]) in cells  # the school's figures, compiled into the commune's
