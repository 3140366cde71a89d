"""Every endpoint that accepts a POST is listed here with the audit action it writes, so a new
mutating endpoint fails this test until someone decides how it is audited; the ones not swept
elsewhere are exercised here and write exactly one event of their action."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from caseapp.models import AuditEvent
from tests.factories import sign_in_client

# endpoint -> the audit action of a successful POST (the tests named in the comment check it).
AUDITED_POSTS = {
    "account.change_password": "auth.password_changed",  # test_sessions
    "account.renew_recovery_codes": "auth.recovery_codes_renewed",  # here
    "account.sign_out_everywhere": "auth.sessions_revoked",  # test_sessions
    "admin.close_unit": "unit.close",  # test_admin_audit
    "admin.disable_user": "user.disable",
    "admin.enable_user": "user.enable",
    "admin.grant": "approval.request",  # test_four_eyes (an admin grant: user.grant)
    "admin.import_accounts": "import.accounts",  # test_onboarding_import
    "admin.import_units": "import.units",  # test_onboarding_import
    "admin.move_unit": "unit.move",
    "admin.new_referral": "referral_contact.create",
    "admin.new_unit": "unit.create",
    "admin.new_user": "user.create",
    "admin.referral": "referral_contact.update",
    "admin.reform_apply": "org.reform",  # test_reform_screen
    "admin.referral_defaults_add": "referral_contact.defaults",  # test_referral_defaults
    "admin.reset_sign_in": "approval.request",  # test_four_eyes
    "admin.approve": "approval.approve",  # test_four_eyes
    "admin.reject": "approval.reject",
    "admin.withdraw": "approval.cancel",
    "admin.revoke": "user.revoke",
    "admin.unit": "unit.update",
    "admin.user": "user.update",
    "audit.verify_now": "audit.verify",  # here
    "audit.review_attention": "audit.attention_reviewed",  # test_attention
    "auth.enrolment_code": "auth.enrolment_used",  # test_enrolment_codes
    "auth.enrol": "auth.second_factor_enrolled",  # test_signin
    "auth.login": "auth.password_ok",  # test_signin
    "auth.logout": "auth.logout",  # test_sessions
    "auth.second_factor": "auth.login",  # test_signin
    "cases.add_attachment": "attachment.add",  # test_case_workflow_basics
    "cases.assign": "case.assign",  # here
    "cases.add_consent": "consent.record",
    "cases.add_exclusion": "case.exclude",
    "cases.lift_exclusion": "approval.request",  # test_four_eyes (case.exclusion_lift)
    "cases.add_note": "note.add",
    "cases.add_step": "step.add",  # test_workflow_rules
    "cases.complete_step": "step.complete",
    "cases.confidential": "case.view_confidential",  # test_cases_basic
    "cases.download": "attachment.download",  # test_case_access
    "cases.edit": "case.update",
    "cases.new": "case.create",
    "cases.transition": "case.transition",  # test_workflow_rules
    "cases.withdraw_consent": "consent.withdraw",
    "cases.add_person": "person.add",  # test_case_people
    "cases.edit_person": "person.update",
    "cases.withdraw_person": "person.withdraw",
    "reports.activity": "activity.update",  # test_report_activities
    "reports.new_activity": "activity.create",
    "reports.add_material": "activity.material_add",  # test_activity_campaigns
    "reports.remove_material": "activity.material_remove",
    "equality.statistics": "statistics.save",  # test_unit_statistics
    "equality.import_statistics": "statistics.save",  # test_unit_statistics (source import)
    "equality.save_plan": "plan.save",  # test_gender_plan
    "equality.approve_plan": "plan.approve",
    "equality.submit": "report.submit",  # test_work_report_submission
    "equality.narrative": "work.save",  # test_work_report_narrative
    "equality.compile_narrative": "work.compile",
    "privacy.new_breach": "breach.create",  # test_breaches
    "privacy.update_breach": "breach.update",
    "privacy.add_action": "breach.action",
    "privacy.close_breach": "breach.close",
    "privacy.new_subject_request": "request.create",  # test_subject_requests
    "privacy.acknowledge_subject_request": "request.acknowledge",
    "privacy.extend_subject_request": "request.extend",
    "privacy.decide_subject_request": "request.decide",
    "privacy.search_subject_matches": "request.match_search",  # test_subject_requests_export
    "privacy.confirm_subject_match": "request.match_confirm",
    "privacy.prepare_subject_export": "request.export_prepare",
    "privacy.release_subject_export": "request.export_release",
    "privacy.reject_subject_export": "request.export_reject",
    "privacy.add_holiday": "holiday.add",  # test_privacy_settings
    "privacy.remove_holiday": "holiday.remove",
    "privacy.update_period": "period.update",
    "cases.set_hold": "case.hold_set",  # test_retention_holds
    "cases.release_hold": "case.hold_release",
    "selfreports.accept": "selfreport.accept",  # test_selfreport_decisions
    "selfreports.merge": "selfreport.merge",
    "selfreports.close": "selfreport.close",
    "selfreports.spam": "selfreport.spam",
    "selfreports.reply": "selfreport.reply",  # test_selfreport_conversation
    # The public self-report pages: day-only events, no address (test_selfreport_public_*).
    "intake.submit": "selfreport.received",
    "intake.follow_message": "selfreport.message_received",
}
# POST endpoints that change nothing worth an audit event, and why.
UNAUDITED_POSTS = {
    "main.set_language": "stores the chosen language in the visitor's own cookie",
    "admin.check_units": "dry run of a units import: reads the file and changes nothing",
    "admin.check_accounts": "dry run of an accounts import: reads the file and changes nothing",
    "dashboard.mark_all_read": "marks the person's own notices read; no case or account data",
    "dashboard.open_notice": "marks one of the person's own notices read; no case or account data",
    "admin.reform_check": "reads the file, changes nothing",
    "intake.receipt_image": "draws the posted code as a picture; nothing is read or kept",
    "intake.follow_code": (
        "the reporter opens their own report with its code (no one else's read; an event would "
        "tell when they looked); only the guess counters change"
    ),
}


def test_every_post_endpoint_is_accounted_for(app):
    posting = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    missing = posting - set(AUDITED_POSTS) - set(UNAUDITED_POSTS)
    assert not missing, f"decide how these are audited, then list them here: {sorted(missing)}"
    assert not (set(AUDITED_POSTS) | set(UNAUDITED_POSTS)) - posting, "stale entries"


def _events(db, action: str) -> int:
    db.expire_all()
    return db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


@pytest.mark.parametrize(
    ("who", "url", "token_from", "action"),
    [
        ("focal_a", "/account/recovery-codes", "/account/", "auth.recovery_codes_renewed"),
        ("auditor_p", "/audit/verify", "/audit/status", "audit.verify"),
    ],
)
def test_one_event_per_change(client, browser, db, world, who, url, token_from, action):
    sign_in_client(client, db, world[who])
    before = _events(db, action)
    response = browser.post(url, token_from=token_from)
    assert response.status_code in (200, 302)
    assert _events(db, action) == before + 1


def test_language_choice_writes_no_event(client, browser, db):
    before = db.scalar(select(func.count()).select_from(AuditEvent))
    browser.post("/language", {"lang": "en"})
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_assigning_a_handler(client, browser, db, world):
    """A focal point of the school becomes the handler (audited); anyone else is refused."""
    from caseapp.models import Case
    from tests.functional.case_support import record_case

    sign_in_client(client, db, world["focal_a"])
    case = record_case(browser, db, world.units["SCH-A"])
    page = f"/cases/{case.public_id}"
    before = _events(db, "case.assign")
    refused = browser.post(f"{page}/assign", {"handler": str(world["focal_c"].id)}, token_from=page)
    assert refused.status_code == 302
    db.expire_all()
    assert db.get(Case, case.id).assigned_to_id == world["focal_a"].id
    from caseapp.models import Unit
    from caseapp.services.accounts.users import grant_role
    from tests.factories import get_user

    grant_role(db, None, get_user(db, "focal.b"), "focal_point", db.get(Unit, world.units["SCH-A"]))
    db.commit()
    sign_in_client(client, db, world["focal_a"])
    browser.post(f"{page}/assign", {"handler": str(world["focal_b"].id)}, token_from=page)
    db.expire_all()
    assert db.get(Case, case.id).assigned_to_id == world["focal_b"].id
    assert _events(db, "case.assign") == before + 1
