"""Translated names for the codes of the domain (roles, unit kinds, referral services)."""

from __future__ import annotations

from flask_babel import gettext as _


def role_names() -> dict[str, str]:
    return {"focal_point": _("Focal point"), "officer": _("Officer"),
            "auditor": _("Auditor"), "admin": _("Administrator")}


def unit_kind_names() -> dict[str, str]:
    return {"ministry": _("Ministry"), "province": _("Province"), "district": _("District"),
            "commune": _("Commune"), "school": _("School")}


def referral_kind_names() -> dict[str, str]:
    return {"hotline": _("Hotline"), "commune_committee": _("Commune People's Committee"),
            "police": _("Police"), "health_station": _("Health station"),
            "social_protection": _("Social protection centre"), "legal_aid": _("Legal aid"),
            "other": _("Other")}


def status_names() -> dict[str, str]:
    return {"new": _("New"), "verifying": _("Verifying"), "supporting": _("Supporting"),
            "monitoring": _("Monitoring"), "closure_requested": _("Closure requested"),
            "closed": _("Closed"), "reopened": _("Reopened")}


def violence_names() -> dict[str, str]:
    return {"physical": _("Physical violence"),
            "psychological": _("Psychological or emotional violence"),
            "sexual_harassment": _("Sexual harassment"), "sexual_assault": _("Sexual assault"),
            "rape": _("Rape"), "economic": _("Economic violence"),
            "forced_marriage": _("Forced or child marriage"),
            "neglect": _("Neglect or abandonment"), "cyber": _("Online violence or harassment")}


def case_choice_names() -> dict[str, dict[str, str]]:
    """Translated names of every coded answer on the intake form, by field."""
    sexes = {"female": _("Female"), "male": _("Male"), "other": _("Other"),
             "not_recorded": _("Not recorded")}
    bands = {b: b for b in ("0-5", "6-10", "11-14", "15-17", "18-24", "25-59", "60+")}
    ynu = {"yes": _("Yes"), "no": _("No"), "unknown": _("Unknown")}
    return {
        "received_via": {"in_person": _("In person"), "phone": _("Phone"), "letter": _("Letter"),
                         "hotline": _("Hotline"), "suggestion_box": _("Suggestion box"),
                         "online": _("Online"), "referral": _("Referral")},
        "reporter_kind": {"person_harmed": _("The person harmed"),
                          "parent_guardian": _("Parent or guardian"), "teacher": _("Teacher"),
                          "peer": _("Classmate or peer"), "anonymous": _("Anonymous"),
                          "other": _("Other")},
        "setting": {"in_school": _("In school"),
                    "to_from_school": _("On the way to or from school"),
                    "home": _("At home"), "online": _("Online"),
                    "community": _("In the community")},
        "harmed_sex": sexes, "perpetrator_sex": sexes,
        "harmed_age_band": bands, "perpetrator_age_band": bands,
        "harmed_role": {"pupil": _("Pupil"), "teacher": _("Teacher"), "staff": _("School staff"),
                        "other": _("Other")},
        "harmed_disability": ynu, "harmed_ethnic_minority": ynu,
        "perpetrator_relationship": {"pupil_peer": _("Pupil or peer"), "teacher": _("Teacher"),
                                     "school_staff": _("School staff"),
                                     "family_member": _("Family member"),
                                     "intimate_partner": _("Intimate partner"),
                                     "stranger": _("Stranger"), "other": _("Other")},
        "risk_level": {"low": _("Low"), "medium": _("Medium"), "high": _("High"),
                       "immediate": _("Immediate danger")},
        "party": {"person_harmed": _("The person harmed"), "guardian": _("Parent or guardian")},
        "purpose": {"referral": _("Referral to services"),
                    "sharing": _("Sharing with named services"),
                    "statistics": _("Non-identifiable statistics")},
    }


def step_choice_names() -> dict[str, dict[str, str]]:
    return {
        "kind": {"verification": _("Verification"), "support": _("Support"),
                 "referral": _("Referral"), "follow_up": _("Follow-up"),
                 "discipline": _("Discipline")},
        "method": {"interview": _("Interview"), "witness_statement": _("Witness statement"),
                   "document_review": _("Document review"), "site_visit": _("Site visit")},
        "finding": {"substantiated": _("Substantiated"),
                    "not_substantiated": _("Not substantiated"),
                    "inconclusive": _("Inconclusive")},
        "service": {"counselling": _("Counselling"), "medical_care": _("Medical care"),
                    "safety_plan": _("Safety plan"), "legal_aid": _("Legal aid"),
                    "academic_support": _("Academic support"), "shelter": _("Shelter"),
                    "other": _("Other")},
        "status": {"planned": _("Planned"), "provided": _("Provided"), "declined": _("Declined"),
                   "sent": _("Sent"), "accepted": _("Accepted"), "completed": _("Completed")},
        "situation": {"safe": _("Safe"), "at_risk": _("At risk"), "unknown": _("Unknown")},
        "measure": {"reminder": _("Reminder"), "criticism": _("Criticism"),
                    "self_criticism": _("Written self-criticism"), "reprimand": _("Reprimand"),
                    "warning": _("Warning"), "salary_reduction": _("Salary step reduction"),
                    "dismissal": _("Dismissal"), "other": _("Other")},
        "closure_reason": {"resolved": _("Resolved"), "not_substantiated": _("Not substantiated"),
                           "transferred": _("Transferred to another authority"),
                           "withdrew": _("The person harmed withdrew")},
        "overdue": {"intervention": _("Intervention (urgent case) overdue"),
                    "verification": _("Verification overdue"),
                    "support": _("Support plan overdue"), "step": _("A step is overdue"),
                    "follow_up": _("No follow-up scheduled")},
        "notification": {"urgent_case": _("New urgent case"), "overdue": _("Overdue"),
                         "closure_requested": _("Closure requested"),
                         "closure_approved": _("Closure approved"),
                         "closure_returned": _("Closure returned for more follow-up")},
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
            "perpetrators_by_relationship_sex": _("Alleged perpetrators by relationship and "
                                                  "sex"),
            "status_at_end": _("Cases by status at the end of the period"),
            "findings": _("Verification findings"),
            "support_by_service": _("Cases given support or referred, by service"),
            "per_unit": _("Cases by unit"),
            "activities": _("Training and communication activities"),
        },
        "notes": {
            "violence_by_sex": _("A case of several kinds is counted in each kind and once in "
                                 "the totals."),
            "support_by_service": _("A case given several services is counted in each and "
                                    "once in the totals."),
        },
        "rows": {
            "violence_by_sex": violence_names(), "age_by_sex": choices["harmed_age_band"],
            "role_by_sex": choices["harmed_role"],
            "perpetrators_by_relationship_sex": choices["perpetrator_relationship"],
            "status_at_end": {"resolved": _("Resolved"), "in_progress": _("In progress"),
                              "overdue": _("Overdue")},
            "findings": {**steps["finding"], "not_verified": _("Not verified yet")},
            "support_by_service": {**steps["service"], "referral": _("Referral")},
            "activities": activity_kind_names(),
        },
        "cols": {"sex": sexes, "activities": {"activities": _("Activities"),
                                              "female": _("Female participants"),
                                              "male": _("Male participants"),
                                              "other": _("Other participants")}},
        "total": _("Total"),
    }


def activity_kind_names() -> dict[str, str]:
    return {"training": _("Training"), "communication": _("Communication"),
            "action_month_june": _("Action month on domestic violence (June)"),
            "action_month_gender": _("Action month on gender equality (15/11-15/12)"),
            "other": _("Other")}


def audience_names() -> dict[str, str]:
    return {"pupils": _("Pupils"), "teachers": _("Teachers"), "parents": _("Parents"),
            "staff": _("School staff"), "community": _("Community"), "mixed": _("Mixed")}


def action_names() -> dict[str, str]:
    """What each audited action on a case reads as in its timeline."""
    return {"case.create": _("Case recorded"), "case.update": _("Case edited"),
            "case.transition": _("Status changed"),
            "case.view_confidential": _("Confidential content opened"),
            "note.add": _("Note added"), "attachment.add": _("File attached"),
            "attachment.download": _("File downloaded"), "step.add": _("Step added"),
            "step.complete": _("Step finished"), "consent.record": _("Consent recorded"),
            "consent.withdraw": _("Consent withdrawn"), "case.exclude": _("Person excluded"),
            "case.assign": _("Handler changed"), "case.exclusion_lift": _("Exclusion lifted"),
            "keys.rewrap": _("Data key rewrapped"),
            "case.destroy_content": _("Confidential content destroyed")}


def audit_action_names() -> dict[str, str]:
    """Every action of the audit trail as auditors read it (the code is shown beside it)."""
    return {
        **action_names(),
        "activity.create": _("Activity recorded"), "activity.update": _("Activity edited"),
        "audit.checkpoint": _("Chain checkpoint signed"), "audit.export": _("Audit trail exported"),
        "audit.verify": _("Chain verified"),
        "auth.login": _("Signed in"), "auth.login_failed": _("Sign-in failed"),
        "auth.password_ok": _("Password accepted (second factor pending)"),
        "auth.second_factor_failed": _("Second factor refused"),
        "auth.locked": _("Sign-in locked after failures"), "auth.logout": _("Signed out"),
        "auth.second_factor_enrolled": _("Second factor set up"),
        "auth.second_factor_reset": _("Second factor reset"),
        "auth.recovery_codes_renewed": _("Recovery codes renewed"),
        "auth.password_changed": _("Password changed"),
        "auth.password_change_failed": _("Password change refused"),
        "auth.password_reset": _("Password reset"),
        "auth.sessions_revoked": _("Sessions ended"),
        "keys.rotate": _("Master key rotated"), "keys.retire": _("Master key retired"),
        "referral_contact.create": _("Referral contact added"),
        "referral_contact.update": _("Referral contact edited"),
        "report.export": _("Report exported"), "report.submit": _("Report submitted"),
        "unit.create": _("Unit created"), "unit.update": _("Unit edited"),
        "unit.close": _("Unit closed"), "unit.move": _("Unit moved"),
        "user.create": _("Account created"), "user.update": _("Account edited"),
        "user.disable": _("Account disabled"), "user.enable": _("Account enabled"),
        "user.grant": _("Role granted"), "user.revoke": _("Role revoked"),
        "system.backup": _("Backup taken"), "system.restore": _("Restored from a backup"),
    }


def object_type_names() -> dict[str, str]:
    """What an audit event is about, by its table."""
    return {"cases": _("Case"), "users": _("Account"), "units": _("Unit"),
            "grants": _("Role"), "case_notes": _("Note"), "case_attachments": _("File"),
            "case_steps": _("Step"), "case_consents": _("Consent"),
            "case_exclusions": _("Exclusion"), "case_transitions": _("Change of status"),
            "referral_contacts": _("Referral contact"), "activities": _("Activity"),
            "report_snapshots": _("Submitted report"), "reports": _("Report"),
            "audit_events": _("Audit trail"), "keys": _("Key"),
            "recovery_codes": _("Recovery codes"), "case_informants": _("Informant")}


def labels() -> dict:
    return {"ROLE_NAMES": role_names(), "UNIT_KIND_NAMES": unit_kind_names(),
            "REFERRAL_KIND_NAMES": referral_kind_names(), "STATUS_NAMES": status_names(),
            "VIOLENCE_NAMES": violence_names(), "CHOICE_NAMES": case_choice_names(),
            "STEP_NAMES": step_choice_names(), "ACTIVITY_KIND_NAMES": activity_kind_names()}
