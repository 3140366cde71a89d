"""An office's report starts from its units' submitted reports: the units that rolled up to it
during the period (the parent history: reports of periods before the re-organisation roll up
through the old offices), whether each submitted and in time, and a draft that lists their
texts section by section. A compiled section is never sent unedited: its hash is kept."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date
from functools import cached_property
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.clock import local_today, zone
from caseapp.db import utcnow
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import ReportSnapshot, Unit
from caseapp.security.authz import covers
from caseapp.services.audit.trail import record
from caseapp.services.equality import narrative
from caseapp.services.equality.sections import SECTIONS, section_names
from caseapp.services.org.history import children_during
from caseapp.services.org.units import lock_unit
from caseapp.services.reports.tables import excluded_below

if TYPE_CHECKING:
    from caseapp.models import User
    from caseapp.services.reports.periods import Period


@dataclass
class Source:
    """A unit below and its submission of the period."""

    unit: Unit
    snapshot: ReportSnapshot | None
    submitted_on: date | None
    late: bool
    # Its text is not for the reader: they are excluded from a case below it, or no longer
    # cover it (it moved away): its submitted report is closed to them, and so is its text.
    withheld: bool = False

    @cached_property
    def work(self) -> dict[str, Any] | None:
        """The frozen work report of its submission (None: not submitted, submitted before
        reports held their text, or withheld from the reader)."""
        if self.snapshot is None or self.withheld:
            return None
        work = json.loads(self.snapshot.data).get("work")
        return work if isinstance(work, dict) else None


def submitted_on(snapshot: ReportSnapshot) -> date:
    at = snapshot.submitted_at
    if at.tzinfo is None:  # SQLite gives back the stored UTC time without its zone
        at = at.replace(tzinfo=UTC)
    return at.astimezone(zone()).date()


def sources(
    session: Session, unit: Unit, period: Period, reader: User | None = None
) -> list[Source]:
    """The units right below ``unit`` during the period, with their submissions; with a
    ``reader``, the texts they may not read (as they may not read the unit's submitted report:
    periods.readable_snapshot) are withheld."""
    below = children_during(session, unit, period.date_from, period.date_to)
    # One question for the office; a unit below is asked about only when the answer is yes.
    excluded = reader is not None and excluded_below(session, reader, unit)
    snaps = {
        s.unit_id: s
        for s in session.scalars(
            select(ReportSnapshot).where(
                ReportSnapshot.period_key == period.key,
                ReportSnapshot.unit_id.in_([u.id for u in below]),
            )
        )
    }
    today = local_today()
    out = []
    for child in below:
        snap = snaps.get(child.id)
        day = submitted_on(snap) if snap is not None else None
        late = day > period.due_on if day is not None else today > period.due_on
        withheld = reader is not None and (
            not covers(reader, "report.read", child)
            or (excluded and excluded_below(session, reader, child))
        )
        out.append(Source(child, snap, day, late, withheld))
    return out


def hash_of(text: str) -> str:
    """The fingerprint of a section's words: spaces and line breaks do not count, so a section
    only re-spaced is still as compiled."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def compiled_text(found: list[Source], key: str) -> str:
    """One section of the draft: under each unit's name, its text of the section; then the
    units whose text is missing."""
    parts = []
    missing = []
    withheld = []
    for source in found:
        if source.withheld:
            withheld.append(source.unit.name)
            continue
        work = source.work
        if work is None:
            missing.append(source.unit.name)
            continue
        text = str((work.get("sections") or {}).get(key, "")).strip()
        parts.append(f"{source.unit.name}:\n{text}" if text else f"{source.unit.name}:\n-")
    if missing:
        parts.append(_("Not submitted: %(units)s.", units=", ".join(missing)))
    if withheld:
        parts.append(_("Not included (not yours to read): %(units)s.", units=", ".join(withheld)))
    return "\n\n".join(parts)


def compile_draft(
    session: Session,
    actor: User,
    unit: Unit,
    period: Period,
    replace: bool = True,
    version: int | None = None,
):
    """Replace the office's sections by the texts of its units' submissions (a draft that
    holds text already is replaced only when ``replace`` says so; ``version``: the draft as the
    actor saw it, a colleague's save since then is never replaced)."""
    if not covers(actor, "work.write", unit):
        raise NotFound()
    if unit.kind == "school":
        raise ValidationFailed(_("A school writes its own report: there is nothing to compile."))
    lock_unit(session, unit)  # one at a time with a submission of the unit and its saves
    narrative.check_open(session, unit, period)
    found = sources(session, unit, period, reader=actor)
    if not any(s.work is not None for s in found):
        raise ValidationFailed(_("No unit below has submitted its report for this period yet."))
    draft = narrative.draft_of(session, unit, period)
    if version is not None and (draft.version or 0) != version:
        raise Conflict(
            _(
                "The text of this report was changed by someone else since you opened it. "
                "Nothing was replaced: reload the page and decide again."
            )
        )
    if not replace and narrative.written(draft):
        raise ValidationFailed(
            _(
                "The report holds text already: tick the box to replace its sections by the "
                "units' texts. Nothing was changed."
            )
        )
    if draft.id is None:
        session.add(draft)
    sections = {key: compiled_text(found, key) for key in SECTIONS}
    draft.sections = json.dumps(sections, ensure_ascii=False, sort_keys=True)
    draft.compiled = json.dumps({key: hash_of(text) for key, text in sections.items()})
    draft.updated_by_id = actor.id
    draft.updated_at = utcnow()
    record(
        session,
        actor,
        "work.compile",
        draft,
        unit=unit,
        object_ref=unit.code,
        changes={
            "period": period.key,
            "units": [s.unit.code for s in found if s.work is not None],
            "missing": [s.unit.code for s in found if s.work is None],
        },
    )
    narrative.store(session, draft)
    return draft


def unedited(draft) -> list[str]:
    """The names of the sections still as compiled."""
    compiled = narrative.compiled_of(draft)
    sections = narrative.sections_of(draft)
    names = section_names()
    return [
        names[key]
        for key in SECTIONS
        if key in compiled and hash_of(sections[key]) == compiled[key]
    ]
