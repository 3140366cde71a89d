"""Every page each role may open, checked by axe-core at a desktop and a phone width: the GET
rules of the URL map (without downloads, exports and machine endpoints), their ids filled with
objects of the live server's database. Pages a role may not open (403/404) are left out. All
violations are collected and reported together, so one run shows everything."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from tests import samples
from tests.browser.conftest import assert_accessible, sign_in

pytestmark = pytest.mark.browser

WIDTHS = ((1366, 768), (390, 844))
LEFT_OUT = (
    *("static", "healthz", "readyz", "metrics", "logout", "download", "export", "csv"),
    *("equality.document", "equality.snapshot_document"),  # the work report's files
    "selfreports.photo",  # a download
)
ROLES = ("focal", "officer", "auditor", "admin")


def _left_out(rule) -> bool:
    name = f"{rule.endpoint} {rule.rule}".lower()
    return any(word in name for word in LEFT_OUT) or name.endswith((".xlsx", ".docx"))


def _seed_objects(live) -> tuple[dict[str, object], list]:
    """One case (with a note and a file), one activity and a referral contact; the ids the URL
    rules take, and the GET rules to visit."""
    from sqlalchemy import select

    from caseapp.clock import local_today
    from caseapp.db import get_session
    from caseapp.models.audit import AuditEvent
    from caseapp.models.reports import Activity, ReportSnapshot
    from caseapp.models.steps import Notification
    from caseapp.models.units import REFERRAL_KINDS, ReferralContact
    from caseapp.services.accounts import approvals, notices
    from caseapp.services.cases import holds, records
    from caseapp.services.cases.content import open_content
    from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case
    from caseapp.services.org.referrals import create_contact
    from caseapp.services.privacy.notices import NOTICE_VERSION
    from caseapp.services.reports import activity_materials
    from tests.factories import get_user

    with live.app.app_context():
        s = get_session()
        focal = get_user(s, live.people["district_focal"].username)
        school = focal.unit
        case = create_case(
            s,
            focal,
            school,
            CaseDetails(
                received_on=local_today() - timedelta(days=1),
                received_via="in_person",
                reporter_kind="teacher",
                setting="in_school",
                violence_types=["physical"],
                child=True,
                harmed_sex="female",
                harmed_age_band="11-14",
                harmed_role="pupil",
                perpetrator_sex="male",
                perpetrator_age_band="11-14",
                perpetrator_relationship="pupil_peer",
                risk_level="low",
            ),
            CaseContent(harmed_name="Học sinh Kiểm Thử"),
        )
        s.flush()
        records.add_note(s, focal, case, "Một ghi chú để kiểm tra.")
        # A consent: the case page lists it with the notice version it was given under.
        records.record_consent(s, focal, case, "guardian", "referral", local_today())
        open_content(s, focal, case)  # the case's access report lists one opening
        notices.tell(s, focal, "account.granted")  # an account notice in the lists
        try:
            records.add_attachment(s, focal, case, "anh.png", "image/png", io.BytesIO(samples.PNG))
        except Exception as exc:  # the page is still checked, without a file listed
            print(f"no attachment on the case: {exc}")
        # The activity's page lists its materials (one with a file, one a title only).
        activity = samples.activity(s, focal, school)
        activity_materials.add_material(s, focal, activity, "Áp phích tại cổng trường")
        # A grant waiting for a second administrator: the approvals list and request page.
        admin = get_user(s, live.people["admin"].username)
        asked = approvals.request_grant(s, admin, focal, "officer", school, "Kiểm thử")
        officer = get_user(s, live.people["district_officer"].username)
        breach = samples.breach(s, officer)
        # A request from a data subject (a guardian's access request), acknowledged and
        # matched through the name index: its page lists the match and the export form.
        subject_request = samples.subject_request(
            s, officer, school, "Phụ huynh Kiểm Thử", "Học sinh Kiểm Thử"
        )
        # A legal hold: the case page lists it (and offers its release), the confidential
        # page its reason.
        holds.set_hold(s, officer, case, "Gia đình đang khiếu nại lên Thanh tra.")
        # A self-report waiting at the school, with a reporter's message (its page and the
        # list of the school side).
        from tests.functional.selfreport_support import reporter_message, submit_report

        self_report = submit_report(s, school, danger=True)
        reporter_message(s, self_report, "Em muốn nói thêm một chuyện.")
        if s.scalar(select(ReferralContact.id).limit(1)) is None:  # none are seeded
            create_contact(s, None, school, "Trạm Y tế xã", REFERRAL_KINDS[0], "0123456789", "")
        s.commit()

        def first(column):
            return s.scalar(select(column).order_by(column).limit(1))

        ids = {
            "public_id": case.public_id,
            "uid": case.harmed_people[0].uid,  # the person form (an attachment's uid: 404)
            "unit_id": school.id,
            "code": school.code,  # a school's poster (admin/units/<code>/poster)
            "user_id": focal.id,
            "contact_id": first(ReferralContact.id),
            "seq": first(AuditEvent.seq),
            "notification_id": first(Notification.id),
            "activity_id": first(Activity.id),
            "snapshot_id": first(ReportSnapshot.id),
            "request_id": asked.id,
            "breach_id": breach.id,
            "subject_request_id": subject_request.id,
            "notice_version": NOTICE_VERSION,
            "report_uid": self_report.uid,
            "school_code": "BR-DS",  # the public self-report page of a school
        }
        rules = [
            r
            for r in live.app.url_map.iter_rules()
            if "GET" in r.methods and not _left_out(r) and not r.rule.startswith("/login")
        ]
    return ids, rules


def _paths(ids, rules) -> tuple[list[str], list[str]]:
    paths, unfilled = [], []
    for rule in sorted(rules, key=lambda r: r.rule):
        values = {arg: ids.get(arg) for arg in rule.arguments}
        if any(v is None for v in values.values()):
            unfilled.append(rule.rule)
            continue
        path = rule.rule
        for arg, value in values.items():
            path = path.replace(f"<{arg}>", str(value))
            for conv in ("int", "string", "path"):
                path = path.replace(f"<{conv}:{arg}>", str(value))
        paths.append(path)
    return paths, unfilled


def test_every_page_each_role_opens_is_accessible_at_both_widths(live_server, chromium):
    live = live_server
    ids, rules = _seed_objects(live)
    paths, unfilled = _paths(ids, rules)
    people = {
        "focal": live.people["district_focal"],  # the case's school is under the officer's
        "officer": live.people["district_officer"],
        "auditor": live.people["auditor"],
        "admin": live.people["admin"],
    }
    failures, checked, skipped = [], [], []
    for role in ROLES:
        context = chromium.new_context(viewport={"width": WIDTHS[0][0], "height": WIDTHS[0][1]})
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            sign_in(page, live, people[role])
            for path in paths:
                response = page.goto(f"{live.url}{path}")
                if response is None or response.status in (403, 404):
                    skipped.append(f"{role} {path}")
                    continue
                assert response.status < 400, f"{role} {path}: HTTP {response.status}"
                for width, height in WIDTHS:
                    page.set_viewport_size({"width": width, "height": height})
                    try:
                        assert_accessible(page, f"{path} as {role} at {width}px")
                    except AssertionError as failure:
                        failures.append(f"[{role} {width}px] {failure}")
                    checked.append((role, path, width))
                page.set_viewport_size({"width": WIDTHS[0][0], "height": WIDTHS[0][1]})
        finally:
            context.close()
    opened = {
        role: sum(1 for r, _, w in checked if r == role and w == WIDTHS[0][0]) for role in ROLES
    }
    print(
        f"pages opened per role: {opened}\n"
        f"checked {len(checked)} page views ({len({(r, p) for r, p, _ in checked})} pages x roles"
        f" x {len(WIDTHS)} widths); left out (403/404): {len(skipped)}; ids unfilled: {unfilled}"
    )
    assert len(checked) >= 2 * len(ROLES) * 2, checked
    assert not failures, f"{len(failures)} page view(s) failing:\n" + "\n\n".join(failures)
