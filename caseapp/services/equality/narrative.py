"""The text of a unit's period report while it is written (its WorkReportDraft): the narrative
sections, the document's number, signer and recipients, the results of custom targets. Saved
with an optimistic lock, audited without its text, frozen into the snapshot on submission."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import Unit
from caseapp.models.equality import (
    NUMBER_MAX,
    RECIPIENTS_MAX,
    SECTION_MAX,
    SIGNER_MAX,
    TARGET_VALUE_MAX,
    WorkReportDraft,
)
from caseapp.security.authz import covers
from caseapp.security.text import refused_characters
from caseapp.services.audit.trail import record
from caseapp.services.equality.sections import SECTIONS, section_names
from caseapp.services.org.units import lock_unit

if TYPE_CHECKING:
    from caseapp.models import User
    from caseapp.services.equality.work import WorkReport
    from caseapp.services.reports.periods import Period


@dataclass
class DraftInput:
    sections: dict[str, str] = field(default_factory=dict)
    number: str = ""
    signer_title: str = ""
    signer_name: str = ""
    recipients: str = ""  # one per line
    target_results: dict[str, int] = field(default_factory=dict)


def default_signer_title(unit: Unit) -> str:
    """In Vietnamese whatever the writer's language: the document is in Vietnamese."""
    with force_locale("vi"):
        return _("HEAD OF THE SCHOOL") if unit.kind == "school" else _("HEAD OF THE UNIT")


def default_recipients(unit: Unit) -> str:
    with force_locale("vi"):
        lines = [_("- As above;")]
        if unit.parent is not None:
            lines.append(_("- %(unit)s (to report);", unit=unit.parent.name))
        lines.append(_("- Archive: office."))
    return "\n".join(lines)


def draft_of(session: Session, unit: Unit, period: Period) -> WorkReportDraft:
    """The unit's draft for the period; a new one (not stored, version 0) with the defaults
    when none was saved yet."""
    draft = session.scalar(
        select(WorkReportDraft).where(
            WorkReportDraft.unit_id == unit.id, WorkReportDraft.period_key == period.key
        )
    )
    if draft is not None:
        return draft
    return WorkReportDraft(
        unit_id=unit.id,
        period_key=period.key,
        sections="{}",
        compiled="{}",
        number="",
        signer_title=default_signer_title(unit),
        signer_name="",
        recipients=default_recipients(unit),
        target_results="{}",
        version=0,
    )


def sections_of(draft: WorkReportDraft) -> dict[str, str]:
    stored = json.loads(draft.sections or "{}")
    return {key: str(stored.get(key, "")) for key in SECTIONS}


def compiled_of(draft: WorkReportDraft) -> dict[str, str]:
    return dict(json.loads(draft.compiled or "{}"))


def target_results_of(draft: WorkReportDraft) -> dict[str, int]:
    return {str(k): int(v) for k, v in json.loads(draft.target_results or "{}").items()}


def recipients_of(draft: WorkReportDraft) -> list[str]:
    return [line.strip() for line in (draft.recipients or "").splitlines() if line.strip()]


def _bad_characters(text: str) -> bool:
    return refused_characters(text)


def _check(data: DraftInput) -> None:
    names = section_names()
    for key, text in data.sections.items():
        if key not in SECTIONS:
            raise ValidationFailed(_("A part of the form is not valid. Nothing was saved."))
        if len(text) > SECTION_MAX:
            raise ValidationFailed(
                _(
                    "The section “%(name)s” is longer than %(n)d characters.",
                    name=names[key],
                    n=SECTION_MAX,
                )
            )
        if _bad_characters(text):
            raise ValidationFailed(
                _("The section “%(name)s” holds characters that are not allowed.", name=names[key])
            )
    for value, limit, label in (
        (data.number, NUMBER_MAX, _("Number")),
        (data.signer_title, SIGNER_MAX, _("Signing title")),
        (data.signer_name, SIGNER_MAX, _("Name of the signer")),
        (data.recipients, RECIPIENTS_MAX, _("Recipients")),
    ):
        if len(value) > limit:
            raise ValidationFailed(
                _("“%(name)s” is longer than %(n)d characters.", name=label, n=limit)
            )
        if _bad_characters(value) or (limit != RECIPIENTS_MAX and ("\n" in value)):
            raise ValidationFailed(
                _("“%(name)s” holds characters that are not allowed.", name=label)
            )
    for result in data.target_results.values():
        if not isinstance(result, int) or not 0 <= result <= TARGET_VALUE_MAX:
            raise ValidationFailed(
                _("A result must be a number between 0 and %(n)d.", n=TARGET_VALUE_MAX)
            )


def check_open(session: Session, unit: Unit, period: Period) -> None:
    """The draft may change only until the period's report is submitted."""
    from caseapp.services.reports.periods import submitted_snapshot

    if submitted_snapshot(session, unit, period) is not None:
        raise Conflict(_("This report was already submitted: its text can no longer change."))


def save_draft(
    session: Session, actor: User, unit: Unit, period: Period, data: DraftInput, version: int
) -> WorkReportDraft:
    if not covers(actor, "work.write", unit):
        raise NotFound()
    lock_unit(session, unit)  # one at a time with a submission of the unit (and other saves)
    check_open(session, unit, period)
    draft = draft_of(session, unit, period)
    if draft.version != version:
        raise Conflict(_("This report was changed by someone else. Reload the page and try again."))
    _check(data)
    before = sections_of(draft)
    sections = {key: data.sections.get(key, before[key]).replace("\r\n", "\n") for key in SECTIONS}
    changed = [key for key in SECTIONS if sections[key] != before[key]]
    fields = {
        "number": data.number.strip(),
        "signer_title": data.signer_title.strip(),
        "signer_name": data.signer_name.strip(),
        "recipients": "\n".join(
            line.strip()
            for line in data.recipients.replace("\r\n", "\n").splitlines()
            if line.strip()
        ),
        "target_results": json.dumps(
            {str(k): v for k, v in sorted(data.target_results.items())}, sort_keys=True
        ),
    }
    changed_fields = [name for name, value in fields.items() if getattr(draft, name) != value]
    if draft.id is None:
        session.add(draft)
    draft.sections = json.dumps(sections, ensure_ascii=False, sort_keys=True)
    for name, value in fields.items():
        setattr(draft, name, value)
    draft.updated_by_id = actor.id
    draft.updated_at = utcnow()
    record(
        session,
        actor,
        "work.save",
        draft,
        unit=unit,
        object_ref=unit.code,
        changes={"period": period.key, "sections": changed, "fields": changed_fields},
    )
    store(session, draft)
    return draft


def store(session: Session, draft: WorkReportDraft) -> None:
    """Write the draft now: a first draft saved twice at once (two people starting the report)
    is a conflict, not an error."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            _("This report was changed by someone else. Reload the page and try again.")
        ) from None


def written(draft: WorkReportDraft) -> int:
    """How many sections hold text."""
    return sum(1 for text in sections_of(draft).values() if text.strip())


def fill(session: Session, unit: Unit, period: Period, report: WorkReport) -> None:
    """Set the report's text, number, signer and recipients from the unit's draft; for an
    office, the units below whose texts it compiles."""
    draft = draft_of(session, unit, period)
    report.sections = sections_of(draft)
    report.number = draft.number
    report.signer_title = draft.signer_title
    report.signer_name = draft.signer_name
    report.recipients = recipients_of(draft)
    if unit.kind != "school":
        from caseapp.services.equality.compile import sources

        report.sources = [
            {
                "code": s.unit.code,
                "name": s.unit.name,
                "submitted": s.submitted_on.isoformat() if s.submitted_on else None,
                "late": s.late,
            }
            for s in sources(session, unit, period)
        ]


def work_unit(session: Session, user: User, code: str | None) -> Unit:
    """The unit whose report text ``user`` writes (default: their own); 404 otherwise."""
    from caseapp.services.reports.periods import report_unit

    unit = report_unit(session, user, code)
    if not covers(user, "work.write", unit):
        raise NotFound()
    return unit


def custom_targets(session: Session, unit: Unit, period: Period) -> list:
    """The targets of the year's plan whose result is reported by hand (PlanTarget rows)."""
    from caseapp.models.equality import GenderPlan, PlanTarget

    return list(
        session.scalars(
            select(PlanTarget)
            .join(GenderPlan, GenderPlan.id == PlanTarget.plan_id)
            .where(
                GenderPlan.unit_id == unit.id,
                GenderPlan.year == period.date_to.year,
                PlanTarget.measure == "custom",
            )
            .order_by(PlanTarget.ordinal)
        )
    )


@dataclass
class Page:
    """What the narrative page shows beside the text boxes."""

    draft: WorkReportDraft
    report: WorkReport
    case_tables: list
    targets: list  # custom PlanTarget rows
    results: dict[str, int]
    sources: list  # compile.Source, for an office
    submitted: bool


def page(session: Session, user: User, unit: Unit, period: Period) -> Page:
    from caseapp.services.equality.compile import sources
    from caseapp.services.equality.work import gather
    from caseapp.services.reports import tables as report_tables
    from caseapp.services.reports.periods import submitted_snapshot, unit_names
    from caseapp.services.reports.view import shown_tables

    built = report_tables.build(session, unit, period.date_from, period.date_to, viewer=user)
    draft = draft_of(session, unit, period)
    return Page(
        draft=draft,
        report=gather(session, unit, period),
        case_tables=shown_tables(built, False, unit_names(session, built)),
        targets=custom_targets(session, unit, period),
        results=target_results_of(draft),
        sources=sources(session, unit, period, reader=user) if unit.kind != "school" else [],
        submitted=submitted_snapshot(session, unit, period) is not None,
    )
