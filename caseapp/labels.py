"""Translated names for the codes of the domain (roles, unit kinds, referral services)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from types import MappingProxyType
from typing import Any, TypeVar

from flask_babel import get_translations, ngettext, pgettext
from flask_babel import gettext as _

T = TypeVar("T", bound=dict)
_CACHE_LIMIT = 16  # translations objects remembered (one per locale and app)


def _once_per_translations(build: Callable[[], T], keep: Callable[[T], Any]) -> Callable[[], Any]:
    """``keep(build())`` made once per translations object (one per locale of an app) and
    returned on every later call in that language."""
    cache: dict[int, tuple[object, Any]] = {}

    def kept() -> Any:
        translations = get_translations()
        hit = cache.get(id(translations))
        if hit is None or hit[0] is not translations:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            hit = cache[id(translations)] = (translations, keep(build()))
        return hit[1]

    return kept


def per_translations(build: Callable[[], T]) -> Callable[[], T]:
    """``build()`` made once per translations object (one per locale of an app) instead of on
    every call: the intake form's lists cost 70 gettext calls a request otherwise. The names
    depend on nothing else; each caller gets its own copy (its dicts, at any depth, are copied
    too), so what a caller changes is never seen by the next."""
    kept = _once_per_translations(build, lambda names: names)

    @wraps(build)
    def cached() -> T:
        return _copied(kept())

    return cached


def _copied(names: T) -> T:
    return type(names)((k, _copied(v) if isinstance(v, dict) else v) for k, v in names.items())


def shared_per_translations(build: Callable[[], dict]) -> Callable[[], Mapping[str, Any]]:
    """``build()`` made once per translations object, as ``per_translations``, and given to
    every caller as it is: read-only at any depth (a mapping that refuses to be changed), so
    that no copy is needed (every staff page's labels: copying their forty-two dicts cost
    0.2 ms a page)."""
    return wraps(build)(_once_per_translations(build, _read_only))


def _read_only(names: Mapping) -> Mapping[str, Any]:
    return MappingProxyType(
        {k: _read_only(v) if isinstance(v, Mapping) else v for k, v in names.items()}
    )


def role_names() -> dict[str, str]:
    return {
        "focal_point": _("Focal point"),
        "officer": _("Officer"),
        "head": _("Head of unit"),
        "auditor": _("Auditor"),
        "admin": _("Administrator"),
    }


def unit_kind_names() -> dict[str, str]:
    return {
        "ministry": _("Ministry"),
        "province": _("Province"),
        "district": _("District (before 1 July 2025)"),
        "commune": _("Commune / ward"),
        "school": _("School"),
    }


def local_type_names() -> dict[str, str]:
    return {"commune": _("Commune"), "ward": _("Ward"), "special_zone": _("Special zone")}


def school_level_names() -> dict[str, str]:
    return {
        "preschool": _("Preschool"),
        "primary": _("Primary school"),
        "lower_secondary": _("Lower-secondary school"),
        "upper_secondary": _("Upper-secondary school"),
        "multi_level": _("Multi-level school"),
        "continuing_education": _("Continuing-education centre"),
        "boarding_ethnic": _("Boarding school for ethnic minorities"),
    }


def ownership_names() -> dict[str, str]:
    return {"public": _("Public"), "private": _("Private")}


def referral_kind_names() -> dict[str, str]:
    return {
        "hotline": _("Hotline"),
        "commune_committee": _("Commune People's Committee"),
        "police": _("Police"),
        "health_station": _("Health station"),
        "social_protection": _("Social protection centre"),
        "legal_aid": _("Legal aid"),
        "other": _("Other"),
    }


@per_translations
def status_names() -> dict[str, str]:
    return {
        "new": _("New"),
        "verifying": _("Verifying"),
        "supporting": _("Supporting"),
        "monitoring": _("Monitoring"),
        "closure_requested": _("Closure requested"),
        "closed": _("Closed"),
        "reopened": _("Reopened"),
    }


@per_translations
def violence_names() -> dict[str, str]:
    return {
        "physical": _("Physical violence"),
        "psychological": _("Psychological or emotional violence"),
        "sexual_harassment": _("Sexual harassment"),
        "sexual_assault": _("Sexual assault"),
        "rape": _("Rape"),
        "economic": _("Economic violence"),
        "forced_marriage": _("Forced or child marriage"),
        "neglect": _("Neglect or abandonment"),
        "cyber": _("Online violence or harassment"),
    }


@per_translations
def case_choice_names() -> dict[str, dict[str, str]]:
    """Translated names of every coded answer on the intake form, by field."""
    sexes = {
        "female": _("Female"),
        "male": _("Male"),
        "other": _("Other"),
        "not_recorded": _("Not recorded"),
    }
    bands = {b: b for b in ("0-5", "6-10", "11-14", "15-17", "18-24", "25-59", "60+")}
    ynu = {"yes": _("Yes"), "no": _("No"), "unknown": _("Unknown")}
    return {
        "received_via": {
            "in_person": _("In person"),
            "phone": _("Phone"),
            "letter": _("Letter"),
            "hotline": _("Hotline"),
            "suggestion_box": _("Suggestion box"),
            "online": _("Online"),
            "referral": _("Referral"),
            "self_report": _("Self-report (public page)"),
        },
        "reporter_kind": {
            "person_harmed": _("The person harmed"),
            "parent_guardian": _("Parent or guardian"),
            "teacher": _("Teacher"),
            "peer": _("Classmate or peer"),
            "anonymous": _("Anonymous"),
            "other": _("Other"),
        },
        "setting": {
            "in_school": _("In school"),
            "to_from_school": _("On the way to or from school"),
            "home": _("At home"),
            "online": _("Online"),
            "community": _("In the community"),
        },
        "harmed_sex": sexes,
        "perpetrator_sex": sexes,
        # The sex of the persons harmed of a case: theirs when they share it, else "mixed".
        "harmed_sex_group": {**sexes, "mixed": _("Mixed (several sexes)")},
        "position": {"harmed": _("Person harmed"), "perpetrator": _("Alleged perpetrator")},
        "grade": {"0": _("Preschool"), **{str(g): _("Grade %(n)d", n=g) for g in range(1, 13)}},
        "harmed_age_band": bands,
        "perpetrator_age_band": bands,
        "harmed_role": {
            "pupil": _("Pupil"),
            "teacher": _("Teacher"),
            "staff": _("School staff"),
            "other": _("Other"),
        },
        "harmed_disability": ynu,
        "harmed_ethnic_minority": ynu,
        "perpetrator_relationship": {
            "pupil_peer": _("Pupil or peer"),
            "teacher": _("Teacher"),
            "school_staff": _("School staff"),
            "family_member": _("Family member"),
            "intimate_partner": _("Intimate partner"),
            "stranger": _("Stranger"),
            "other": _("Other"),
        },
        "risk_level": {
            "low": _("Low"),
            "medium": _("Medium"),
            "high": _("High"),
            "immediate": _("Immediate danger"),
        },
        "party": {"person_harmed": _("The person harmed"), "guardian": _("Parent or guardian")},
        "purpose": {
            "referral": _("Referral to services"),
            "sharing": _("Sharing with named services"),
            "statistics": _("Non-identifiable statistics"),
        },
    }


def step_choice_names() -> dict[str, dict[str, str]]:
    return {
        "kind": {
            "verification": _("Verification"),
            "support": _("Support"),
            "referral": _("Referral"),
            "follow_up": _("Follow-up"),
            "discipline": _("Discipline"),
        },
        "method": {
            "interview": _("Interview"),
            "witness_statement": _("Witness statement"),
            "document_review": _("Document review"),
            "site_visit": _("Site visit"),
        },
        "finding": {
            "substantiated": _("Substantiated"),
            "not_substantiated": _("Not substantiated"),
            "inconclusive": _("Inconclusive"),
        },
        "service": {
            "counselling": _("Counselling"),
            "medical_care": _("Medical care"),
            "safety_plan": _("Safety plan"),
            "legal_aid": _("Legal aid"),
            "academic_support": _("Academic support"),
            "shelter": _("Shelter"),
            "other": _("Other"),
        },
        "status": {
            "planned": _("Planned"),
            "provided": _("Provided"),
            "declined": _("Declined"),
            "sent": _("Sent"),
            "accepted": _("Accepted"),
            "completed": _("Completed"),
        },
        "situation": {"safe": _("Safe"), "at_risk": _("At risk"), "unknown": _("Unknown")},
        "measure": {
            "reminder": _("Reminder"),
            "apology": _("Apology"),
            "criticism": _("Criticism"),
            "self_criticism": _("Written self-criticism"),
            "reprimand": _("Reprimand"),
            "warning": _("Warning"),
            "salary_reduction": _("Salary step reduction"),
            "demotion": _("Demotion"),
            "removal": _("Removal from post"),
            "dismissal": _("Dismissal"),
            "other": _("Other"),
        },
        "subject": {
            "pupil": _("A pupil"),
            "staff": _("A teacher or member of staff"),
            "other": _("Someone else"),
        },
        "closure_reason": {
            "resolved": _("Resolved"),
            "not_substantiated": _("Not substantiated"),
            "transferred": _("Transferred to another authority"),
            "withdrew": _("The person harmed withdrew"),
        },
        "overdue": {
            "intervention": _("Intervention (urgent case) overdue"),
            "verification": _("Verification overdue"),
            "support": _("Support plan overdue"),
            "step": _("A step is overdue"),
            "follow_up": _("No follow-up scheduled"),
        },
        "notification": {
            "urgent_case": _("New urgent case"),
            "overdue": _("Overdue"),
            "closure_requested": _("Closure requested"),
            "closure_approved": _("Closure approved"),
            "closure_returned": _("Closure returned for more follow-up"),
            "report.due": _("A period report is due"),
            "self_report": _("A new self-report waits at your unit"),
            "self_report_danger": _(
                "A new self-report waits at your unit: someone may be in danger"
            ),
            "selfreport_escalated": _("A self-report nobody opened in time came to your unit"),
            "self_report_message": _("A reporter wrote a new message"),
        },
    }


def report_labels() -> dict:
    """Titles, row and column names of every report table, in the current language."""
    choices = case_choice_names()
    steps = step_choice_names()
    sexes = choices["harmed_sex"]
    return {
        "titles": {
            "violence_by_sex": _("Cases by kind of violence and sex of the person harmed"),
            "age_by_sex": _("Persons harmed by age band and sex"),
            "role_by_sex": _("Persons harmed by role and sex"),
            "perpetrators_by_relationship_sex": _("Alleged perpetrators by relationship and sex"),
            "status_at_end": _("Cases by status at the end of the period"),
            "findings": _("Verification findings"),
            "support_by_service": _("Cases given support or referred, by service"),
            "per_unit": _("Cases by unit"),
            "activities": _("Training and communication activities"),
            "cases_by_channel": _("Cases by channel and sex of the person harmed"),
            "self_reports": _("Self-reports received from the public pages"),
        },
        "notes": {
            "violence_by_sex": _(
                "A case of several kinds is counted in each kind and once in the totals."
            ),
            "support_by_service": _(
                "A case given several services is counted in each and once in the totals."
            ),
            "self_reports": _(
                "Reports sent by pupils, parents or witnesses from a school's public page, "
                "counted at that school, by what became of them."
            ),
        },
        "rows": {
            "violence_by_sex": violence_names(),
            "age_by_sex": choices["harmed_age_band"],
            "role_by_sex": choices["harmed_role"],
            "perpetrators_by_relationship_sex": choices["perpetrator_relationship"],
            "status_at_end": {
                "resolved": _("Resolved"),
                "in_progress": _("In progress"),
                "overdue": _("Overdue"),
            },
            "findings": {**steps["finding"], "not_verified": _("Not verified yet")},
            "support_by_service": {**steps["service"], "referral": _("Referral")},
            "activities": activity_kind_names(),
            "cases_by_channel": {
                "self_report": _("Self-report (public page)"),
                "staff_intake": _("Recorded by staff"),
            },
            "self_reports": {
                "open": _("Waiting for a decision"),
                "accepted": _("Accepted as a new case"),
                "merged": _("Added to an existing case"),
                "closed": _("Closed with a message"),
                "spam": _("Marked as spam"),
            },
        },
        "cols": {
            "sex": sexes,
            "activities": {
                "activities": _("Activities"),
                "female": _("Female participants"),
                "male": _("Male participants"),
                "other": _("Other participants"),
            },
            "self_reports": {"reports": _("Reports")},
        },
        "total": _("Total"),
    }


def activity_kind_names() -> dict[str, str]:
    return {
        "training": _("Training"),
        "communication": _("Communication"),
        "action_month_june": _("Action month on domestic violence (June)"),
        "action_month_gender": _("Action month on gender equality (15/11-15/12)"),
        "other": _("Other"),
    }


def audience_names() -> dict[str, str]:
    return {
        "pupils": _("Pupils"),
        "teachers": _("Teachers"),
        "parents": _("Parents"),
        "staff": _("School staff"),
        "community": _("Community"),
        "mixed": _("Mixed"),
    }


def measure_names() -> dict[str, str]:
    """What a target of a gender-equality plan measures."""
    return {
        "women_managers_share": _("Share of women among managers (%)"),
        "pupils_reached": _("Pupils reached by communication"),
        "staff_trained": _("Teachers and staff trained"),
        "activities_held": _("Activities held"),
        "custom": _("Other (result reported by hand)"),
    }


def plan_status_names() -> dict[str, str]:
    return {"draft": _("Draft"), "approved": _("Approved"), "none": _("No plan")}


def breach_category_names() -> dict[str, str]:
    """The kinds of personal data a breach may touch (services.privacy.breaches.CATEGORIES)."""
    return {
        "identity": _("Identity (names, dates of birth, ID numbers)"),
        "contact": _("Contact details (addresses, phone numbers)"),
        "case_content": _("Content of cases (what happened, notes, files)"),
        "health": _("Health"),
        "sexual_life": _("Sexual life or sexual orientation"),
        "children": _("Data of children"),
        "family": _("Family circumstances"),
        "accounts": _("Accounts of staff (sign-in data)"),
    }


def notify_people_names() -> dict[str, str]:
    return {
        "undecided": _("Not decided yet"),
        "yes": _("Yes, they are or will be told"),
        "no": _("No, they will not be told"),
    }


def breach_source_names() -> dict[str, str]:
    return {
        "manual": _("Recorded by a person"),
        "audit_verify": _("The audit trail failed to verify"),
        "attention": _("A high item of the auditor's attention view"),
        "key_retirement": _("A key retired after a compromise"),
    }


def request_kind_names() -> dict[str, str]:
    """The kinds of request a data subject makes (models.privacy.REQUEST_KINDS)."""
    return {
        "access": _("See the data held about them (access)"),
        "correction": _("Correct the data (correction)"),
        "deletion": _("Delete the data (deletion)"),
        "withdrawal": _("Withdraw consent"),
        "objection": _("Object to the processing"),
        "restriction": _("Restrict the processing"),
    }


def request_relation_names() -> dict[str, str]:
    return {
        "person_harmed": _("The person harmed"),
        "guardian": _("Parent or guardian of the child"),
        "alleged_perpetrator": _("The alleged perpetrator"),
        "informant": _("The person who reported"),
        "staff": _("A member of staff"),
    }


def request_channel_names() -> dict[str, str]:
    return {
        "in_person": _("In person"),
        "letter": _("Letter"),
        "email": _("E-mail"),
        "phone": _("Phone"),
        "other": _("Other"),
    }


def request_status_names() -> dict[str, str]:
    return {
        "received": _("Received"),
        "acknowledged": _("Acknowledged"),
        "awaiting_review": _("Export awaiting review"),
        "completed": _("Completed"),
        "refused": _("Refused"),
    }


def request_outcome_names() -> dict[str, str]:
    return {
        "granted": _("Granted"),
        "limited": _("Granted in part (limited)"),
        "refused": _("Refused"),
    }


def legal_ground_names() -> dict[str, str]:
    """The grounds a request may be refused or limited on, each with where the law sets it
    (models.privacy.LEGAL_GROUNDS)."""
    law = "Luật 91/2025/QH15"
    return {
        "rights_of_others": _("The rights of another person harmed (%(law)s, Điều 4)", law=law),
        "ongoing_verification": _(
            "A verification of the case is under way (%(law)s, Điều 4)", law=law
        ),
        "legal_obligation": _("The law requires the data to be kept (%(law)s, Điều 4)", law=law),
        "child_best_interest": _(
            "The best interests of the child (%(law)s, Điều 4; Luật Trẻ em 2016)", law=law
        ),
        "identity_not_verified": _("The requester's identity could not be checked"),
        "manifestly_unfounded": _("The request is clearly unfounded or repeated"),
        "other": _("Another ground (say which in the reason)"),
    }


def export_withheld_names() -> dict[str, str]:
    """What an access export never holds, and why (services.privacy.request_export.WITHHELD)."""
    return {
        "narrative": _("The account of what happened: it tells about other people too."),
        "notes": _("The handlers' notes: they tell about other people too."),
        "files": _("The attached files: they may show other people."),
        "step_details": _("The written details of the steps: they may name other people."),
        "other_people": _("Anything about the other people of the case (their rights)."),
        "informant": _("Who reported the case (their safety)."),
    }


def action_names() -> dict[str, str]:
    """What each audited action on a case reads as in its timeline. The names have a message
    context of their own: "Password changed" as an action is not the label of a date."""
    return {
        "case.create": pgettext("audit action", "Case recorded"),
        "case.update": pgettext("audit action", "Case edited"),
        "case.transition": pgettext("audit action", "Status changed"),
        "case.view_confidential": pgettext("audit action", "Confidential content opened"),
        "note.add": pgettext("audit action", "Note added"),
        "attachment.add": pgettext("audit action", "File attached"),
        "attachment.download": pgettext("audit action", "File downloaded"),
        "selfreport.received": pgettext("audit action", "Self-report received"),
        "selfreport.message_received": pgettext(
            "audit action", "Message from a self-reporter received"
        ),
        "step.add": pgettext("audit action", "Step added"),
        "step.complete": pgettext("audit action", "Step finished"),
        "consent.record": pgettext("audit action", "Consent recorded"),
        "consent.withdraw": pgettext("audit action", "Consent withdrawn"),
        "case.exclude": pgettext("audit action", "Person excluded"),
        "case.assign": pgettext("audit action", "Handler changed"),
        "case.exclusion_lift": pgettext("audit action", "Exclusion lifted"),
        "keys.rewrap": pgettext("audit action", "Data key rewrapped"),
        "case.destroy_content": pgettext("audit action", "Confidential content destroyed"),
        "person.add": pgettext("audit action", "Person added to the case"),
        "person.update": pgettext("audit action", "Person of the case edited"),
        "person.withdraw": pgettext("audit action", "Person withdrawn from the case"),
        "selfreport.read": pgettext("audit action", "Self-report read"),
        "selfreport.photo_download": pgettext("audit action", "Photo of a self-report opened"),
        "selfreport.accept": pgettext("audit action", "Self-report accepted as a case"),
        "selfreport.merge": pgettext("audit action", "Self-report merged into a case"),
        "selfreport.close": pgettext("audit action", "Self-report closed with a message"),
        "selfreport.spam": pgettext("audit action", "Self-report marked as spam"),
        "selfreport.reply": pgettext("audit action", "Reply sent to a self-reporter"),
        "selfreport.escalated": pgettext("audit action", "Unopened self-report escalated"),
    }


@shared_per_translations
def audit_action_names() -> dict[str, str]:
    """Every action of the audit trail as auditors read it (the code is shown beside it)."""
    return {
        **action_names(),
        "activity.create": pgettext("audit action", "Activity recorded"),
        "activity.update": pgettext("audit action", "Activity edited"),
        "plan.save": pgettext("audit action", "Gender-equality plan saved"),
        "plan.approve": pgettext("audit action", "Gender-equality plan approved"),
        "statistics.save": pgettext("audit action", "Unit statistics saved"),
        "activity.material_add": pgettext("audit action", "Activity material added"),
        "activity.material_remove": pgettext("audit action", "Activity material removed"),
        "audit.checkpoint": pgettext("audit action", "Chain checkpoint signed"),
        "audit.export": pgettext("audit action", "Audit trail exported"),
        "audit.verify": pgettext("audit action", "Chain verified"),
        "auth.login": pgettext("audit action", "Signed in"),
        "auth.login_failed": pgettext("audit action", "Sign-in failed"),
        "auth.password_ok": pgettext("audit action", "Password accepted (second factor pending)"),
        "auth.second_factor_failed": pgettext("audit action", "Second factor refused"),
        "auth.locked": pgettext("audit action", "Sign-in locked after failures"),
        "auth.logout": pgettext("audit action", "Signed out"),
        "auth.second_factor_enrolled": pgettext("audit action", "Second factor set up"),
        "auth.second_factor_reset": pgettext("audit action", "Second factor reset"),
        "auth.recovery_codes_renewed": pgettext("audit action", "Recovery codes renewed"),
        "auth.password_changed": pgettext("audit action", "Password changed"),
        "auth.password_change_failed": pgettext("audit action", "Password change refused"),
        "auth.password_reset": pgettext("audit action", "Password reset"),
        "auth.sessions_revoked": pgettext("audit action", "Sessions ended"),
        "auth.enrolment_issued": pgettext("audit action", "Enrolment code issued (part 1)"),
        "auth.enrolment_released": pgettext(
            "audit action", "Enrolment code completed (part 2); old sign-in ended"
        ),
        "auth.enrolment_used": pgettext("audit action", "Enrolment code used"),
        "auth.enrolment_failed": pgettext("audit action", "Enrolment code refused"),
        "auth.credential_reset": pgettext("audit action", "Sign-in reset"),
        "approval.request": pgettext("audit action", "Approval requested"),
        "approval.approve": pgettext("audit action", "Request approved"),
        "approval.reject": pgettext("audit action", "Request rejected"),
        "approval.cancel": pgettext("audit action", "Request withdrawn"),
        "audit.attention_reviewed": pgettext("audit action", "Attention item reviewed"),
        "import.accounts": pgettext("audit action", "Accounts imported from a file"),
        "import.units": pgettext("audit action", "Units imported from a file"),
        "keys.rotate": pgettext("audit action", "Master key rotated"),
        "keys.retire": pgettext("audit action", "Master key retired"),
        "referral_contact.create": pgettext("audit action", "Referral contact added"),
        "referral_contact.update": pgettext("audit action", "Referral contact edited"),
        "referral_contact.defaults": pgettext("audit action", "Usual referral services added"),
        "report.export": pgettext("audit action", "Report exported"),
        "work.export": pgettext("audit action", "Work report document exported"),
        "privacy.record_export": pgettext("audit action", "Processing record exported"),
        "report.submit": pgettext("audit action", "Report submitted"),
        "work.save": pgettext("audit action", "Work report text saved"),
        "work.compile": pgettext("audit action", "Work report compiled from the units below"),
        "unit.create": pgettext("audit action", "Unit created"),
        "unit.update": pgettext("audit action", "Unit edited"),
        "unit.close": pgettext("audit action", "Unit closed"),
        "unit.move": pgettext("audit action", "Unit moved"),
        "org.reform": pgettext("audit action", "Re-organisation applied"),
        "user.create": pgettext("audit action", "Account created"),
        "user.update": pgettext("audit action", "Account edited"),
        "user.disable": pgettext("audit action", "Account disabled"),
        "user.enable": pgettext("audit action", "Account enabled"),
        "user.grant": pgettext("audit action", "Role granted"),
        "user.revoke": pgettext("audit action", "Role revoked"),
        "system.backup": pgettext("audit action", "Backup taken"),
        "system.restore": pgettext("audit action", "Restored from a backup"),
        "breach.create": pgettext("audit action", "Data breach recorded"),
        "breach.update": pgettext("audit action", "Data breach updated"),
        "breach.action": pgettext("audit action", "Action on a data breach recorded"),
        "breach.close": pgettext("audit action", "Data breach closed"),
        "breach.export": pgettext("audit action", "Breach notification document exported"),
        "request.create": pgettext("audit action", "Data subject request recorded"),
        "request.acknowledge": pgettext("audit action", "Data subject request acknowledged"),
        "request.extend": pgettext("audit action", "Data subject request deadline extended"),
        "request.decide": pgettext("audit action", "Data subject request decided"),
        "request.match_search": pgettext("audit action", "Data subject searched in the name index"),
        "request.match_confirm": pgettext(
            "audit action", "Match of a data subject request confirmed"
        ),
        "request.export_prepare": pgettext("audit action", "Data subject export prepared"),
        "request.export_view": pgettext("audit action", "Data subject export read for review"),
        "request.export_release": pgettext("audit action", "Data subject export released"),
        "request.export_reject": pgettext("audit action", "Data subject export rejected"),
        "request.export_download": pgettext("audit action", "Data subject export printed"),
        "holiday.add": pgettext("audit action", "Holiday added to the calendar"),
        "holiday.remove": pgettext("audit action", "Holiday removed from the calendar"),
        "period.update": pgettext("audit action", "Legal period corrected"),
        "audit.reasons_sealed": pgettext(
            "audit action", "Reasons recorded in clear sealed (trail re-chained)"
        ),
        "audit.texts_sealed": pgettext(
            "audit action", "Approval reasons and review notes recorded in clear sealed"
        ),
        "retention.run": pgettext("audit action", "Retention run"),
        "cases.clocks_refreshed": pgettext(
            "audit action", "Overdue moments of the cases computed again"
        ),
        "attachment.discard": pgettext("audit action", "File discarded by the retention run"),
        "selfreport.receipt_expire": pgettext(
            "audit action", "Receipt code of a self-report expired by the retention run"
        ),
        "selfreport.destroy_content": pgettext(
            "audit action", "Content of a self-report destroyed by the retention run"
        ),
        "case.hold_set": pgettext("audit action", "Legal hold set"),
        "case.hold_release": pgettext("audit action", "Legal hold released"),
    }


@shared_per_translations
def object_type_names() -> dict[str, str]:
    """What an audit event is about, by its table."""
    return {
        "cases": _("Case"),
        "users": _("Account"),
        "units": _("Unit"),
        "grants": _("Role"),
        "case_notes": _("Note"),
        "case_attachments": _("File"),
        "case_steps": _("Step"),
        "case_consents": _("Consent"),
        "case_exclusions": _("Exclusion"),
        "case_transitions": _("Change of status"),
        "referral_contacts": _("Referral contact"),
        "activities": _("Activity"),
        "report_snapshots": _("Submitted report"),
        "reports": _("Report"),
        "audit_events": _("Audit trail"),
        "keys": _("Key"),
        "recovery_codes": _("Recovery codes"),
        "case_informants": _("Informant"),
        "case_persons": _("Person of the case"),
        "gender_plans": _("Gender-equality plan"),
        "breaches": _("Data breach"),
        "breach_actions": _("Action on a data breach"),
        "subject_requests": _("Data subject request"),
        "subject_request_matches": _("Match of a data subject request"),
        "subject_request_exports": _("Data subject export"),
        "audit_text_keys": _("Key of the audit reasons"),
        "legal_holds": _("Legal hold"),
        "retention": _("Retention"),
    }


def account_notice_title(kind: str, name: str | None = None) -> str:
    """What a notice about an account says in the list: to the person themselves (``name``
    None), or to an officer above them, naming them. Never a case, a child or a reason."""
    if name is None:
        own = {
            "account.reset": _("Your sign-in was reset"),
            "account.enrolled": _("You set up your sign-in with an enrolment code"),
            "account.granted": _("A role was granted to you"),
            "account.revoked": _("A role of yours was revoked"),
            "account.requested": _("A change to your account awaits a second approval"),
            # "account.excluded" is never told to the person (services/accounts/notices.py).
            "account.included": _("Your exclusion from a case was lifted"),
            "account.disabled": _("Your account was disabled"),
            "account.enabled": _("Your account was enabled"),
        }
        return own.get(kind, _("A change was made to your account"))
    other = {
        "account.reset": _("The sign-in of %(name)s was reset", name=name),
        "account.enrolled": _("%(name)s set up their sign-in with an enrolment code", name=name),
        "account.granted": _("A role was granted to %(name)s", name=name),
        "account.revoked": _("A role of %(name)s was revoked", name=name),
        "account.requested": _(
            "A change to the account of %(name)s awaits a second approval", name=name
        ),
        "account.excluded": _("%(name)s was excluded from a case", name=name),
        "account.included": _("An exclusion of %(name)s from a case was lifted", name=name),
        "account.disabled": _("The account of %(name)s was disabled", name=name),
        "account.enabled": _("The account of %(name)s was enabled", name=name),
    }
    return other.get(kind, _("A change was made to the account of %(name)s", name=name))


def legal_period_names() -> dict[str, str]:
    """The periods the law sets (services.privacy.periods), in plain words."""
    return {
        "request_acknowledge": _("Acknowledge a request from a person in the files"),
        "request_access": _("Answer a request to see one's data"),
        "request_correction": _("Answer a request to correct one's data"),
        "request_withdrawal": _("Answer a withdrawal of consent"),
        "request_objection": _("Answer an objection to the processing"),
        "request_restriction": _("Answer a request to restrict the processing"),
        "request_deletion": _("Answer a request to delete one's data"),
        "request_extension": _("One extension of a request's period, with a reason"),
        "breach_notify": _("Notify the authority of a data breach, from its discovery"),
        "retention_case_child": _(
            "Keep a closed case of a minor (under 18): years after the minor turns 18"
        ),
        "retention_case_adult": _("Keep a closed case of an adult: years after closure"),
        "retention_attachments": _("Keep the attachments of a closed case: years after closure"),
        "retention_receipts": _(
            "Keep the receipt code of a self-report working: months after it is closed"
        ),
    }


def period_unit_names() -> dict[str, str]:
    """The units a legal period is counted in (models.privacy.PERIOD_UNITS)."""
    return {
        "working_days": _("working days"),
        "calendar_days": _("calendar days"),
        "calendar_hours": _("hours (weekends and holidays count)"),
        "months": _("months"),
        "years": _("years"),
    }


@shared_per_translations
def labels() -> dict[str, Any]:
    """The names every staff page may show (access.init_app gives them to each template):
    made once per language, not on every page (some two hundred gettext calls), and shared
    read-only by every page of that language."""
    return {
        "ROLE_NAMES": role_names(),
        "UNIT_KIND_NAMES": unit_kind_names(),
        "SCHOOL_LEVEL_NAMES": school_level_names(),
        "OWNERSHIP_NAMES": ownership_names(),
        "LOCAL_TYPE_NAMES": local_type_names(),
        "REFERRAL_KIND_NAMES": referral_kind_names(),
        "STATUS_NAMES": status_names(),
        "VIOLENCE_NAMES": violence_names(),
        "CHOICE_NAMES": case_choice_names(),
        "STEP_NAMES": step_choice_names(),
        "ACTIVITY_KIND_NAMES": activity_kind_names(),
        "MEASURE_NAMES": measure_names(),
        "PLAN_STATUS_NAMES": plan_status_names(),
    }


def retention_rule_names() -> dict[str, str]:
    """The lines of the retention schedule (services/privacy/retention.py)."""
    return {
        "retention_case_child": _("Content of a minor's case"),
        "retention_case_adult": _("Content of an adult's case"),
        "retention_attachments": _("Attachments of a closed case"),
        "retention_receipts": _("Receipt codes of self-reports"),
    }


def retention_period_words(amount: int, unit: str) -> str:
    """A retention period in words ("5 years")."""
    words = {
        "years": ngettext("%(num)d year", "%(num)d years", amount),
        "months": ngettext("%(num)d month", "%(num)d months", amount),
        "calendar_days": ngettext("%(num)d day", "%(num)d days", amount),
    }
    return words.get(unit, f"{amount} {unit}")


def selfreport_staff_names() -> dict[str, dict[str, str]]:
    """The choices of a self-report as the school side reads them (models.selfreports)."""
    return {
        "who_hurt": {"me": _("The reporter"), "someone_else": _("Someone else")},
        "who_did": {
            "pupil": _("A pupil"),
            "teacher_staff": _("A teacher or staff member"),
            "family": _("Someone in the family"),
            "someone_else": _("Someone else"),
            "not_said": _("Not said"),
        },
        "what": {
            "hit": _("Hit or hurt"),
            "words": _("Hurtful words, threats"),
            "left_out": _("Left out, isolated"),
            "touched": _("Touched in a way they did not want"),
            "forced": _("Forced into something sexual"),
            "online": _("Online (messages, photos)"),
            "neglect": _("Not cared for"),
            "money": _("Money or things taken"),
        },
        "when": {
            "today": _("Today"),
            "this_week": _("This week"),
            "this_month": _("This month"),
            "earlier": _("Earlier"),
            "not_sure": _("Not sure"),
        },
        "where": {
            "in_school": _("At school"),
            "to_from_school": _("On the way to or from school"),
            "home": _("At home"),
            "online": _("Online"),
            "community": _("In the community"),
            "not_sure": _("Not sure"),
        },
        "status": {
            "new": _("New, not opened"),
            "seen": _("Opened, not decided"),
            "accepted": _("Accepted as a case"),
            "merged": _("Merged into a case"),
            "closed": _("Closed with a message"),
            "spam": _("Marked as spam"),
        },
        "route": {
            "school": _("Sent to the school"),
            "asked_office": _("The reporter asked for the education office"),
            "staff_named": _("A teacher or staff member was named: sent to the office above"),
        },
    }
