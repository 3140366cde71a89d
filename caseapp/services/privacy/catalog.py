"""What the service holds and why: every column of every model with its category of data and
its purpose, and per table who reads it, whether it is sealed, how long it is kept and to whom
it goes. The processing record (services.privacy.record) is written from this catalog, and
tests/unit/test_processing_record.py fails when a model gains a column the catalog does not
name, so the record never falls behind the models."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from caseapp.security.authz import roles_with

# The categories of data, in the order the record lists them.
CATEGORIES = (
    "identity",
    "contact",
    "health",
    "case_content",
    "case_facts",
    "account",
    "security",
    "audit",
    "organisation",
    "reporting",
    "technical",
)


def category_labels() -> dict[str, str]:
    return {
        "identity": str(_l("Identity of the people in a case")),
        "contact": str(_l("Contact details")),
        "health": str(_l("Health and disability")),
        "case_content": str(_l("Case content (sealed)")),
        "case_facts": str(_l("Case facts (statistical metadata)")),
        "account": str(_l("User accounts")),
        "security": str(_l("Security data")),
        "audit": str(_l("Audit trail")),
        "organisation": str(_l("Organisation")),
        "reporting": str(_l("Reporting and gender-equality work")),
        "technical": str(_l("Technical records")),
    }


@dataclass(frozen=True)
class Group:
    """Columns of one table sharing a category, a purpose and whether they are sealed."""

    category: str
    purpose: object  # a lazy string
    columns: str  # names separated by spaces
    sealed: bool = False


@dataclass(frozen=True)
class TableEntry:
    permission: str  # the permission that gates reading it in the service
    retention: object  # a lazy string
    groups: tuple[Group, ...]
    recipients: object = None  # a lazy string, or None (nobody outside the service)
    own: bool = False  # each person reads only their own rows


_KEYS = _l("Row identifiers and links between records (no meaning of their own)")
_WHO_WHEN = _l("Who made or changed the record and when, for accountability")
_LOCK = _l("Version number that stops two people overwriting each other's changes")
_CASE_RETENTION = _l(
    "Case content: until the retention run destroys it when the retention schedule says it is "
    "due (see the schedule above), or cases destroy-content; the statistical facts stay."
)
_ACCOUNT_RETENTION = _l(
    "As long as the account exists; accounts are deactivated, not deleted, so that the trail "
    "keeps its meaning."
)
_SHORT_RETENTION = _l("Until it expires or is used; old rows are of no further use.")
_KEPT = _l("Kept for as long as the service runs (reports and organisation history).")
_AUDIT_RETENTION = _l("Append-only and never deleted: the chain must verify from the start.")
_REPORT_RECIPIENTS = _l("The unit above, once the report is submitted")
_REFERRAL_RECIPIENTS = _l(
    "The referral contacts a case is referred to (health, police, social work)"
)
_REQUEST_RETENTION = _l(
    "Kept with the record of how the request was answered; the names are sealed under the "
    "request's own key."
)
_SELF_REPORT_RETENTION = _l(
    "A self-report accepted or merged becomes part of its case and follows the case's "
    "retention; the receipt code stops working and its hash is emptied 12 months after closure "
    "(see the schedule above)."
)
_AUTHORITY = _l("The data-protection authority, when a breach must be notified")

CATALOG: dict[str, TableEntry] = {
    "self_reports": TableEntry(
        "selfreport.handle",
        _SELF_REPORT_RETENTION,
        (
            Group("technical", _KEYS, "id uid school_id routed_unit_id escalated_unit_id case_id"),
            Group(
                "case_facts",
                _l(
                    "What a pupil, parent or witness reported from the public page, in simple "
                    "choices (what, when, where, who did it), the day it arrived and whether "
                    "someone is in danger: to route and answer the report"
                ),
                "route status received_on danger who_hurt who_did what happened_when "
                "happened_where",
            ),
            Group(
                "security",
                _l("The report's data key, wrapped by the keyring"),
                "wrapped_key",
                sealed=True,
            ),
            Group(
                "case_content",
                _l("What the reporter wrote, sealed under the report's own key"),
                "details",
                sealed=True,
            ),
            Group(
                "identity",
                _l("The reporter's name, only when they chose to give it"),
                "reporter_name",
                sealed=True,
            ),
            Group(
                "contact",
                _l("How to reach the reporter, only when they chose to give it"),
                "reporter_contact",
                sealed=True,
            ),
            Group(
                "security",
                _l(
                    "Keyed hash of the receipt code (the code itself is never kept), so the "
                    "reporter can follow the report"
                ),
                "receipt_hash",
            ),
            Group(
                "case_facts",
                _l(
                    "The clock while nobody has opened the report (emptied once it is opened), "
                    "when it was opened, answered, decided and closed"
                ),
                "due_at seen_at first_reply_on decided_at closed_on",
            ),
            Group("account", _WHO_WHEN, "seen_by_id decided_by_id"),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "self_report_messages": TableEntry(
        "selfreport.handle",
        _SELF_REPORT_RETENTION,
        (
            Group("technical", _KEYS, "id uid report_id direction"),
            Group("account", _WHO_WHEN, "author_id sent_on staff_sent_at"),
            Group(
                "case_content",
                _l("Messages between the reporter and the school, sealed"),
                "body",
                sealed=True,
            ),
        ),
    ),
    "self_report_photos": TableEntry(
        "selfreport.handle",
        _SELF_REPORT_RETENTION,
        (
            Group("technical", _KEYS, "id uid report_id message_id storage_name"),
            Group(
                "technical",
                _l(
                    "Kind, size and day of a photo the reporter sent (the photo is sealed on "
                    "disk, its metadata removed)"
                ),
                "content_type size sent_on",
            ),
        ),
    ),
    "cases": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id public_id unit_id"),
            Group(
                "case_facts",
                _l("Register number and clocks of the case, for follow-up and statistics"),
                "reference year number status received_on incident_on incident_date_approximate "
                "received_via reporter_kind setting child harmed_sex_group risk_level "
                "serious_risk_to_child intervention_due_at verification_due_on support_due_on "
                "overdue_after closed_at closure_reason",
            ),
            Group(
                "account",
                _WHO_WHEN,
                "closure_requested_by_id assigned_to_id created_by_id created_at updated_at",
            ),
            Group(
                "security",
                _l("The case's own content key, wrapped by the keyring; destroyed to shred"),
                "wrapped_key key_destroyed_at",
            ),
            Group(
                "case_content",
                _l("What happened, in the words of the person who recorded it"),
                "narrative",
                sealed=True,
            ),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "case_persons": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id uid case_id position ordinal"),
            Group(
                "case_facts",
                _l("Sex, age, role and school grade of each person, for support and statistics"),
                "sex age_band age_years role grade ethnic_minority relationship child "
                "legacy_field withdrawn_at",
            ),
            Group(
                "health",
                _l("Disability, so that support fits the child"),
                "disability",
            ),
            Group(
                "identity",
                _l("Names of the person and of their guardian, to act on the case"),
                "name guardian_name",
                sealed=True,
            ),
            Group(
                "contact",
                _l("How to reach the person and their guardian"),
                "contact guardian_contact",
                sealed=True,
            ),
            Group("account", _WHO_WHEN, "created_at"),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "case_violence_types": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "case_id"),
            Group("case_facts", _l("Kinds of violence, for statistics"), "type"),
        ),
    ),
    "case_informants": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id uid case_id"),
            Group("identity", _l("Who reported the case"), "name", sealed=True),
            Group("contact", _l("How to reach the informant"), "contact", sealed=True),
        ),
    ),
    "case_notes": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id uid case_id corrects_id"),
            Group("account", _WHO_WHEN, "author_id created_at"),
            Group("case_content", _l("Notes of the people handling the case"), "body", sealed=True),
        ),
    ),
    "case_attachments": TableEntry(
        "case.read",
        _l(
            "Case files: until the case content is destroyed; the file itself is sealed on "
            "disk and unreadable once the case key is destroyed."
        ),
        (
            Group("technical", _KEYS, "id uid case_id storage_name"),
            Group("account", _WHO_WHEN, "uploaded_by_id created_at"),
            Group(
                "case_content",
                _l("Name of a file attached to the case (the file is sealed on disk)"),
                "filename",
                sealed=True,
            ),
            Group("technical", _l("Kind and size of the file"), "content_type size"),
            Group("technical", _l("When the retention run removed the file"), "discarded_at"),
        ),
    ),
    "case_consents": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id case_id person_id"),
            Group(
                "case_facts",
                _l("Consent given or withdrawn, by whom, for what, after which notice"),
                "party purpose given_on withdrawn_on notice_version",
            ),
            Group("account", _WHO_WHEN, "recorded_by_id created_at"),
        ),
    ),
    "case_exclusions": TableEntry(
        "case.oversee",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id case_id"),
            Group(
                "security",
                _l("Staff kept away from a case (for example, a staff member involved)"),
                "user_id",
            ),
            Group("account", _WHO_WHEN, "added_by_id created_at"),
        ),
    ),
    "case_name_index": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id case_id person_id role"),
            Group(
                "security",
                _l("Keyed digest of a name, to warn of repeat cases without revealing the name"),
                "digest key_id",
            ),
        ),
    ),
    "case_counters": TableEntry(
        "case.read",
        _KEPT,
        (
            Group(
                "technical",
                _l("Next register number per unit and year"),
                "unit_id year last_number",
            ),
        ),
    ),
    "case_steps": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id uid case_id unit_id person_id contact_id"),
            Group(
                "case_facts",
                _l("Verification, support and monitoring steps and their dates"),
                "kind due_on done_on method finding service status consent_override situation "
                "next_on measure received_on case_status case_overdue_after",
            ),
            Group("account", _WHO_WHEN, "created_by_id created_at"),
            Group("case_content", _l("Details of a step"), "details", sealed=True),
            Group("technical", _LOCK, "version"),
        ),
        recipients=_REFERRAL_RECIPIENTS,
    ),
    "case_transitions": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id case_id"),
            Group(
                "case_facts",
                _l("Changes of a case's status, for the clocks and statistics"),
                "from_status to_status closure_reason",
            ),
            Group("account", _WHO_WHEN, "at by_id"),
        ),
    ),
    "notifications": TableEntry(
        "signed_in",
        _l("Until read; reminders are of no use afterwards."),
        (
            Group("technical", _KEYS, "id user_id case_id dedupe_key"),
            Group(
                "technical",
                _l("Reminders to staff about their cases"),
                "kind created_at read_at emailed_at",
            ),
        ),
        own=True,
    ),
    "units": TableEntry(
        "signed_in",
        _KEPT,
        (
            Group("technical", _KEYS, "id parent_id path"),
            Group(
                "organisation",
                _l("Schools and education offices the service serves"),
                "code name kind level ownership local_type valid_from valid_to created_at",
            ),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "unit_parent_history": TableEntry(
        "signed_in",
        _KEPT,
        (
            Group("technical", _KEYS, "id unit_id parent_id path"),
            Group(
                "organisation",
                _l("Where a unit sat before a reorganisation"),
                "valid_from valid_to opened",
            ),
        ),
    ),
    "referral_contacts": TableEntry(
        "referral.read",
        _l("As long as the contact is in use; deactivated, not deleted."),
        (
            Group("technical", _KEYS, "id unit_id"),
            Group(
                "organisation",
                _l("Services a case can be referred to"),
                "name kind phone address active",
            ),
            Group("technical", _LOCK, "version"),
        ),
        recipients=_REFERRAL_RECIPIENTS,
    ),
    "users": TableEntry(
        "admin.users",
        _ACCOUNT_RETENTION,
        (
            Group("technical", _KEYS, "id unit_id"),
            Group(
                "account",
                _l("Staff accounts: name, e-mail, language and status"),
                "username full_name email active locale created_at",
            ),
            Group(
                "security",
                _l("Password hash and second factor, to sign in safely"),
                "password_hash password_changed_at must_change_password totp_enrolled_at "
                "totp_last_counter",
            ),
            Group("security", _l("Second-factor secret"), "totp_secret", sealed=True),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "grants": TableEntry(
        "admin.users",
        _ACCOUNT_RETENTION,
        (
            Group("technical", _KEYS, "id user_id unit_id"),
            Group(
                "account",
                _l("Who holds which role where, and who granted it"),
                "role granted_by_id granted_at revoked_at revoked_by_id",
            ),
        ),
    ),
    "recovery_codes": TableEntry(
        "signed_in",
        _SHORT_RETENTION,
        (
            Group("technical", _KEYS, "id user_id"),
            Group("security", _l("Hashes of one-time recovery codes"), "code_hash used_at"),
        ),
        own=True,
    ),
    "user_sessions": TableEntry(
        "signed_in",
        _SHORT_RETENTION,
        (
            Group("technical", _KEYS, "id user_id"),
            Group(
                "security",
                _l("Sign-in sessions: where and with what browser, to spot misuse"),
                "token_hash created_at last_seen_at second_factor_at ip user_agent revoked_at "
                "revoked_reason",
            ),
            Group(
                "security",
                _l("Second-factor secret while it is set up"),
                "pending_totp_secret",
                sealed=True,
            ),
        ),
        own=True,
    ),
    "sign_in_throttles": TableEntry(
        "admin.users",
        _SHORT_RETENTION,
        (
            Group("technical", _KEYS, "id"),
            Group(
                "security",
                _l("Failed sign-ins counted by a keyed digest, to stop password guessing"),
                "scope key_hash failures window_start locked_until",
            ),
        ),
    ),
    "approval_requests": TableEntry(
        "approval.decide",
        _ACCOUNT_RETENTION,
        (
            Group("technical", _KEYS, "id unit_id subject_user_id case_id"),
            Group(
                "security",
                _l("Requests a second person must approve, with their reasons"),
                "kind status payload reason decision_note expires_at",
            ),
            Group("account", _WHO_WHEN, "requested_by_id requested_at decided_by_id decided_at"),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "enrolment_codes": TableEntry(
        "admin.users",
        _SHORT_RETENTION,
        (
            Group("technical", _KEYS, "id user_id approval_id"),
            Group(
                "security",
                _l("Hashed codes handed over in two halves to set up an account"),
                "purpose key_id first_hash second_hash expires_at used_at revoked_at",
            ),
            Group("account", _WHO_WHEN, "issued_by_id issued_at released_by_id released_at"),
        ),
    ),
    "attention_reviews": TableEntry(
        "audit.read",
        _AUDIT_RETENTION,
        (
            Group("technical", _KEYS, "id item_key"),
            Group("audit", _l("The auditor's review of an item needing attention"), "note"),
            Group("account", _WHO_WHEN, "reviewed_by_id reviewed_at"),
        ),
    ),
    "audit_events": TableEntry(
        "audit.read",
        _AUDIT_RETENTION,
        (
            Group("technical", _KEYS, "seq unit_id unit_path object_type object_id object_ref"),
            Group(
                "audit",
                _l("Who did what, when, from where, and why (the hash-chained trail)"),
                "at actor_id actor_name actor_roles action changes request_id ip",
            ),
            Group(
                "audit",
                _l(
                    "Why, as typed: sealed under the audit key of the case (read by auditors "
                    "and those who handle it), forgotten with the case's content"
                ),
                "reason",
                sealed=True,
            ),
            Group("security", _l("Hash chain that reveals tampering"), "prev_hash key_id hash"),
        ),
    ),
    "audit_event_names": TableEntry(
        "audit.read",
        _AUDIT_RETENTION,
        (
            Group("technical", _KEYS, "seq"),
            Group(
                "audit",
                _l(
                    "The account an exclusion or approval event names, kept beside the event "
                    "so that the account's history finds it"
                ),
                "username",
            ),
        ),
    ),
    "audit_checkpoints": TableEntry(
        "audit.read",
        _AUDIT_RETENTION,
        (
            Group("technical", _KEYS, "id"),
            Group(
                "security",
                _l("Signed statements of the chain head, so that a cut trail is detected"),
                "at seq hash key_id signature",
            ),
        ),
    ),
    "keyring_keys": TableEntry(
        "audit.read",
        _KEPT,
        (
            Group(
                "security",
                _l("Which keys belong to this database (ids only, never the secrets)"),
                "key_id purpose bound_at",
            ),
        ),
    ),
    "activities": TableEntry(
        "report.read",
        _KEPT,
        (
            Group("technical", _KEYS, "id unit_id"),
            Group(
                "reporting",
                _l("Prevention and awareness activities and their participants by sex"),
                "held_on kind audience title participants_female participants_male "
                "participants_other campaign_key results",
            ),
            Group("account", _WHO_WHEN, "created_by_id created_at"),
            Group("technical", _LOCK, "version"),
        ),
        recipients=_REPORT_RECIPIENTS,
    ),
    "activity_materials": TableEntry(
        "report.read",
        _KEPT,
        (
            Group("technical", _KEYS, "id activity_id"),
            Group(
                "reporting",
                _l("Materials of an activity (programmes, photos, attendance lists)"),
                "title filename content_type content size",
            ),
            Group("account", _WHO_WHEN, "created_by_id created_at"),
        ),
    ),
    "activity_targets": TableEntry(
        "report.read",
        _KEPT,
        (Group("technical", _KEYS, "activity_id target_id"),),
    ),
    "case_rollups": TableEntry(
        "report.read",
        _l("Recomputed from the cases whenever they change; as long as the cases' facts."),
        (
            Group("technical", _KEYS, "id unit_id"),
            Group(
                "reporting",
                _l(
                    "Report figures summed per school and month of receipt (counts only, no "
                    "case): the school's place in the organisation that month, the table, row "
                    "and column counted, the month from which the count holds and the count"
                ),
                "month path figure row col since n",
            ),
        ),
    ),
    "case_office_rollups": TableEntry(
        "report.read",
        _l("Recomputed from the cases whenever they change; as long as the cases' facts."),
        (
            Group("technical", _KEYS, "office_id"),
            Group(
                "reporting",
                _l(
                    "Report figures of the schools summed per office above them and month of "
                    "receipt (counts only, no case): the table, row and column counted, the "
                    "month from which the count holds and the count"
                ),
                "month figure row col since n",
            ),
        ),
    ),
    "case_rollup_marks": TableEntry(
        "report.read",
        _l("Until the next report or refresh recomputes the figures."),
        (
            Group("technical", _KEYS, "id unit_id"),
            Group(
                "technical",
                _l("A school and month whose report figures must be recomputed"),
                "month",
            ),
        ),
    ),
    "unit_case_tallies": TableEntry(
        "case.oversee",
        _l("Recomputed from the cases whenever they change; as long as the cases' facts."),
        (
            Group("technical", _KEYS, "unit_id"),
            Group(
                "reporting",
                _l(
                    "Cases of a school counted as they are now (counts only, no case): open, "
                    "high-risk, unassigned and all cases recorded"
                ),
                "open high_risk unassigned total",
            ),
        ),
    ),
    "unit_month_tallies": TableEntry(
        "case.oversee",
        _l("Recomputed from the cases whenever they change; as long as the cases' facts."),
        (
            Group("technical", _KEYS, "unit_id"),
            Group(
                "reporting",
                _l(
                    "Cases of a school received and closed in a month (counts only, no case): "
                    "the month, the cases received and the cases closed"
                ),
                "month received closed",
            ),
        ),
    ),
    "unit_overdue_month_tallies": TableEntry(
        "case.oversee",
        _l("Recomputed from the cases whenever they change; as long as the cases' facts."),
        (
            Group("technical", _KEYS, "unit_id"),
            Group(
                "reporting",
                _l(
                    "Cases of a school whose deadline ran out in a month (counts only, no "
                    "case): the month and the number of cases"
                ),
                "month cases",
            ),
        ),
    ),
    "unit_overdue_day_tallies": TableEntry(
        "case.oversee",
        _l("Recomputed from the cases whenever they change; as long as the cases' facts."),
        (
            Group("technical", _KEYS, "unit_id"),
            Group(
                "reporting",
                _l(
                    "Cases of a school whose deadline ran out on a day (counts only, no "
                    "case): the day and the number of cases"
                ),
                "day cases",
            ),
        ),
    ),
    "report_snapshots": TableEntry(
        "report.read",
        _KEPT,
        (
            Group("technical", _KEYS, "id unit_id"),
            Group(
                "reporting",
                _l("Submitted period reports (counts only, small cells hidden)"),
                "period_key date_from date_to due_on data sha256",
            ),
            Group("account", _WHO_WHEN, "submitted_by_id submitted_at"),
        ),
        recipients=_REPORT_RECIPIENTS,
    ),
    "gender_plans": TableEntry(
        "report.read",
        _KEPT,
        (
            Group("technical", _KEYS, "id unit_id"),
            Group(
                "reporting",
                _l("The unit's gender-equality plan, its authors and its approval"),
                "year text status authors approved_by_id approved_at",
            ),
            Group("account", _WHO_WHEN, "updated_by_id updated_at"),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "plan_targets": TableEntry(
        "report.read",
        _KEPT,
        (
            Group("technical", _KEYS, "id plan_id ordinal"),
            Group("reporting", _l("Targets of the plan"), "title measure target_value"),
        ),
    ),
    "unit_statistics": TableEntry(
        "report.read",
        _KEPT,
        (
            Group("technical", _KEYS, "id unit_id"),
            Group(
                "reporting",
                _l("The unit's staff and pupil figures by sex"),
                "period_key figures confirmed source",
            ),
            Group("account", _WHO_WHEN, "updated_by_id updated_at"),
            Group("technical", _LOCK, "version"),
        ),
        recipients=_REPORT_RECIPIENTS,
    ),
    "work_report_drafts": TableEntry(
        "report.read",
        _KEPT,
        (
            Group("technical", _KEYS, "id unit_id"),
            Group(
                "reporting",
                _l("The draft of the period work report, its signer and recipients"),
                "period_key sections compiled number signer_title signer_name recipients "
                "target_results",
            ),
            Group("account", _WHO_WHEN, "updated_by_id updated_at"),
            Group("technical", _LOCK, "version"),
        ),
        recipients=_REPORT_RECIPIENTS,
    ),
    "breaches": TableEntry(
        "breach.read",
        _AUDIT_RETENTION,
        (
            Group("technical", _KEYS, "id unit_id source source_ref"),
            Group(
                "security",
                _l("Personal-data breaches: what happened, to how many, and who was told when"),
                "reference discovered_at discovered_by description data_categories "
                "units_affected people_affected contained_at authority_notified_at "
                "notify_people notify_people_reason people_notified_at status closed_at "
                "occurred_at records_affected consequences delay_reason close_reason notify_hours",
            ),
            Group("account", _WHO_WHEN, "created_by_id created_at"),
            Group("technical", _LOCK, "version"),
        ),
        recipients=_AUTHORITY,
    ),
    "subject_requests": TableEntry(
        "request.manage",
        _REQUEST_RETENTION,
        (
            Group("technical", _KEYS, "id uid unit_id"),
            Group(
                "security",
                _l("The request's data key, wrapped by the keyring"),
                "wrapped_key",
                sealed=True,
            ),
            Group(
                "identity",
                _l("Who asked, about whom, how to reach them and what they asked (sealed)"),
                "requester_name requester_contact subject_name details",
                sealed=True,
            ),
            Group(
                "case_facts",
                _l("A request from a person about their data: kind, relation, channel, clocks"),
                "reference kind relation channel case_reference received_at "
                "acknowledge_due_on due_on acknowledged_at extended_to status outcome "
                "legal_ground decided_at",
            ),
            Group(
                "case_content",
                _l("Why a request was extended, refused or limited (sealed)"),
                "extension_reason outcome_reason",
                sealed=True,
            ),
            Group("account", _WHO_WHEN, "received_by_id decided_by_id created_at"),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "subject_request_matches": TableEntry(
        "request.manage",
        _REQUEST_RETENTION,
        (
            Group("technical", _KEYS, "id request_id case_id person_id"),
            Group(
                "case_facts",
                _l("Which person of which case a request is about (found by the blind index)"),
                "position confirmed created_at",
            ),
        ),
    ),
    "subject_request_exports": TableEntry(
        "request.manage",
        _REQUEST_RETENTION,
        (
            Group("technical", _KEYS, "id request_id"),
            Group(
                "case_content",
                _l("What the service holds about the requester's subject, and the review note"),
                "body review_note",
                sealed=True,
            ),
            Group(
                "case_facts",
                _l("Review and release of an access export"),
                "status prepared_at reviewed_at released_at",
            ),
            Group("account", _WHO_WHEN, "prepared_by_id reviewed_by_id"),
            Group("technical", _LOCK, "version"),
        ),
        recipients=_l("The person who asked (or their guardian), once an officer released it"),
    ),
    "holidays": TableEntry(
        "signed_in",
        _KEPT,
        (
            Group("technical", _KEYS, "id"),
            Group("organisation", _l("Public holidays, for the working-day clocks"), "day name"),
            Group("account", _WHO_WHEN, "created_by_id created_at"),
        ),
    ),
    "legal_periods": TableEntry(
        "signed_in",
        _KEPT,
        (
            Group(
                "organisation",
                _l("The periods the law sets and the article each comes from"),
                "key amount unit basis",
            ),
            Group("account", _WHO_WHEN, "updated_by_id updated_at"),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "legal_holds": TableEntry(
        "case.read",
        _CASE_RETENTION,
        (
            Group("technical", _KEYS, "id case_id"),
            Group(
                "case_content",
                _l("Why a case's content must not be destroyed yet, and why that ended (sealed)"),
                "reason release_reason",
                sealed=True,
            ),
            Group("account", _WHO_WHEN, "set_by_id set_at released_by_id released_at"),
            Group("technical", _LOCK, "version"),
        ),
    ),
    "audit_text_keys": TableEntry(
        "audit.read",
        _l("Until the case's content is destroyed; then the key is destroyed with it."),
        (
            Group("technical", _KEYS, "id scope case_id"),
            Group(
                "security",
                _l("The wrapped key that seals the reasons typed in the audit trail"),
                "wrapped_key",
                sealed=True,
            ),
            Group("security", _l("When the key was made and destroyed"), "created_at destroyed_at"),
        ),
    ),
    "breach_actions": TableEntry(
        "breach.read",
        _AUDIT_RETENTION,
        (
            Group("technical", _KEYS, "id breach_id"),
            Group("security", _l("Actions taken about a breach"), "taken_at text"),
            Group("account", _WHO_WHEN, "by_id created_at"),
        ),
    ),
}


@dataclass(frozen=True)
class ColumnEntry:
    category: str
    purpose: str
    sealed: bool


def columns() -> dict[str, ColumnEntry]:
    """Every catalogued column, "table.column" -> its category, purpose and sealing."""
    out: dict[str, ColumnEntry] = {}
    for table, entry in CATALOG.items():
        for group in entry.groups:
            for name in group.columns.split():
                out[f"{table}.{name}"] = ColumnEntry(
                    group.category, str(group.purpose), group.sealed
                )
    return out


def catalogued_keys() -> list[str]:
    """Every "table.column" the catalog names, repeats included (a repeat is a mistake)."""
    return [
        f"{table}.{name}"
        for table, entry in CATALOG.items()
        for group in entry.groups
        for name in group.columns.split()
    ]


def own_rows_only(table: str) -> bool:
    return CATALOG[table].own


def readers(table: str) -> tuple[str, ...]:
    """The roles that read ``table`` through the service."""
    return roles_with(CATALOG[table].permission)
