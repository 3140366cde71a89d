"""Which discipline measures a step may record: for a pupil those of Circular 19/2025 for the
school's level, for a teacher or member of staff those of the civil-service rules, for anyone
else only "other"."""

from __future__ import annotations

from caseapp.models.steps import (
    ALL_PUPIL_MEASURES,
    DISCIPLINE_SUBJECTS,
    PUPIL_MEASURES,
    STAFF_MEASURES,
)

# A person's role (CasePerson.role) or relationship as a discipline subject.
_SUBJECT_OF = {
    "pupil": "pupil",
    "pupil_peer": "pupil",
    "staff": "staff",
    "teacher": "staff",
    "school_staff": "staff",
}


def subject_of(role: str | None) -> str:
    """ "pupil", "staff" or "other" for a subject code, a person's role or relationship."""
    return _SUBJECT_OF.get(role or "", "other")


def allowed_measures(subject_role: str | None, school_level: str | None) -> tuple[str, ...]:
    """The measures a step may record for a person of ``subject_role`` (pupil, staff, teacher,
    other...) at a school of ``school_level`` (None: a unit without a level, where every pupil
    measure may apply)."""
    subject = subject_of(subject_role)
    if subject == "pupil":
        return PUPIL_MEASURES.get(school_level or "", ALL_PUPIL_MEASURES)
    if subject == "staff":
        return STAFF_MEASURES
    return ("other",)


def measure_groups(school_level: str | None) -> list[tuple[str, tuple[str, ...]]]:
    """(subject, its measures) for each subject, as the step form offers them."""
    return [(subject, allowed_measures(subject, school_level)) for subject in DISCIPLINE_SUBJECTS]
