"""The processing record and impact-assessment dossier of a unit (Law 91/2025/QH15, Decree
356/2025) as a DOCX, written from the service itself so that it is never out of date: every
column of every model by category with its purpose, who reads it and whether it is sealed
(services.privacy.catalog), the recipients, retention, and the security measures actually in
force (key ages, last audit verification and checkpoint, password hashing, sessions, backups).
Audited "privacy.record_export". No secret and no case content goes into it."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.clock import local_today, zone
from caseapp.db import utcnow
from caseapp.errors import NotFound, ValidationFailed
from caseapp.labels import referral_kind_names, role_names
from caseapp.models import AuditCheckpoint, ReferralContact, Unit
from caseapp.runtime import keyring, settings
from caseapp.security.authz import covers, scope_paths
from caseapp.services.audit.integrity import last_event
from caseapp.services.audit.trail import record
from caseapp.services.privacy import catalog
from caseapp.services.reports.exports import (
    MIME,
    date_line,
    grid_table,
    heading_block,
    new_document,
)
from caseapp.services.reports.periods import _place

if TYPE_CHECKING:
    from caseapp.models import User

TITLE = "Hồ sơ xử lý dữ liệu cá nhân / đánh giá tác động"
PERMISSION = "privacy.read"


@dataclass
class KeyAge:
    purpose: str
    key_id: str
    created_at: datetime | None
    age_days: int | None
    active: bool


@dataclass
class Measures:
    """The security measures in force, read from the running service."""

    keys: list[KeyAge]
    last_verify_at: datetime | None
    last_verify_ok: bool | None
    last_checkpoint_at: datetime | None
    last_backup_at: datetime | None
    settings: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Exported:
    content: bytes
    filename: str
    mimetype: str


def dossier_unit(session: Session, user: User, code: str | None) -> Unit:
    """The unit the dossier is for: ``code`` when the user holds privacy.read there (else 404),
    by default the user's own unit, or else the first unit where they hold it."""
    from caseapp.services.org.units import unit_in_scope

    if code:
        try:
            return unit_in_scope(session, user, code, PERMISSION)
        except ValidationFailed:
            raise NotFound() from None
    if user.unit is not None and covers(user, PERMISSION, user.unit):
        return user.unit
    paths = scope_paths(user, PERMISSION)
    unit = session.scalar(select(Unit).where(Unit.path == paths[0])) if paths else None
    if unit is None:
        raise NotFound()
    return unit


def _aware(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _key_created(text: str) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(text)) if text else None
    except ValueError:
        return None


def measures(session: Session) -> Measures:
    now = utcnow()
    keys = []
    for key in sorted(keyring().keys(), key=lambda k: (k.purpose, k.created_at)):
        created = _key_created(key.created_at)
        age = (now - created).days if created is not None else None
        keys.append(KeyAge(key.purpose, key.id, created, age, key.active))
    verify = last_event(session, "audit.verify")
    verify_ok = None
    if verify is not None:
        verify_ok = bool(json.loads(verify.changes or "{}").get("ok"))
    checkpoint = session.scalar(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    )
    backup = last_event(session, "system.backup")
    conf = settings()
    yes, no = _("yes"), _("no")
    return Measures(
        keys=keys,
        last_verify_at=_aware(verify.at) if verify else None,
        last_verify_ok=verify_ok,
        last_checkpoint_at=_aware(checkpoint.at) if checkpoint else None,
        last_backup_at=_aware(backup.at) if backup else None,
        settings=[
            (
                _("Password hashing"),
                _(
                    "argon2id, time cost %(t)d, memory %(m)d KiB, parallelism %(p)d",
                    t=conf.argon2_time_cost,
                    m=conf.argon2_memory_kib,
                    p=conf.argon2_parallelism,
                ),
            ),
            (_("Sign-out after inactivity"), _("%(n)d minutes", n=conf.session_idle_seconds // 60)),
            (
                _("Longest sign-in session"),
                _("%(n)d minutes", n=conf.session_absolute_seconds // 60),
            ),
            (_("Cookies sent over HTTPS only"), yes if conf.secure_cookies else no),
            (_("HTTPS enforced by the browser (HSTS)"), yes if conf.hsts else no),
            (
                _("E-mail notifications"),
                (_("sent with STARTTLS") if conf.smtp_starttls else _("sent without TLS"))
                if conf.smtp_host
                else _("off"),
            ),
            (_("Smallest count shown outside the unit"), str(conf.small_cell_threshold)),
        ],
    )


def _when(at: datetime | None) -> str:
    return at.astimezone(zone()).strftime("%d/%m/%Y %H:%M") if at is not None else "—"


def _heading(doc, text: str) -> None:
    doc.add_paragraph().add_run(text).bold = True


def _lines(doc, lines: list[str]) -> None:
    for line in lines:
        doc.add_paragraph(f"- {line}")


def _readers(table: str) -> str:
    if catalog.own_rows_only(table):
        return _("Each signed-in person, their own only")
    names = role_names()
    return ", ".join(names.get(role, role) for role in catalog.readers(table))


def _purposes() -> list[str]:
    return [
        _(
            "Receiving and handling reports of violence and abuse in schools, to protect and "
            "support the children harmed (Law on Children; Decree 80/2017 on safe schools)."
        ),
        _("Counting cases for the period reports, with small counts hidden."),
        _("Prevention activities and the gender-equality work of the unit."),
        _("Accountability and security: who did what, sign-in, keys, backups."),
    ]


def _subjects() -> list[str]:
    return [
        _("Children harmed and other persons harmed (case_persons)"),
        _("Their parents or guardians (case_persons: guardian name and contact)"),
        _("Alleged perpetrators (case_persons with that role)"),
        _("Informants who reported a case (case_informants)"),
        _("Staff using the service (users, grants, sessions, audit trail)"),
    ]


def _category_tables(doc) -> None:
    entries = catalog.columns()
    labels = catalog.category_labels()
    yes, no = _("yes"), _("no")
    for number, category in enumerate(catalog.CATEGORIES, start=1):
        rows = [
            [key, entry.purpose, yes if entry.sealed else no, _readers(key.split(".", 1)[0])]
            for key, entry in entries.items()
            if entry.category == category
        ]
        if not rows:
            continue
        doc.add_paragraph().add_run(f"4.{number}. {labels[category]}").bold = True
        header = [_("Column"), _("Purpose"), _("Sealed"), _("Who reads it")]
        grid_table(doc, [header, *rows], bold_last=False)


def _recipients(session: Session, unit: Unit) -> list[str]:
    lines = []
    for table, entry in catalog.CATALOG.items():
        if entry.recipients is not None:
            lines.append(f"{table}: {entry.recipients}")
    kinds = referral_kind_names()
    contacts = session.scalars(
        select(ReferralContact)
        .join(Unit, ReferralContact.unit_id == Unit.id)
        .where(ReferralContact.active.is_(True))
        .order_by(Unit.path, ReferralContact.name)
    ).all()
    for contact in contacts:
        path = contact.unit.path
        if unit.path.startswith(path) or path.startswith(unit.path):
            lines.append(
                _(
                    "Referral contact: %(name)s (%(kind)s)",
                    name=contact.name,
                    kind=kinds.get(contact.kind, contact.kind),
                )
            )
    return lines


def _retention() -> list[list[str]]:
    grouped: dict[str, list[str]] = {}
    for table, entry in catalog.CATALOG.items():
        grouped.setdefault(str(entry.retention), []).append(table)
    return [[", ".join(tables), text] for text, tables in grouped.items()]


def _schedule(session: Session) -> list[list[str]]:
    """The retention schedule as the admin keeps it (LegalPeriod), with the legal basis."""
    from caseapp.labels import retention_period_words, retention_rule_names
    from caseapp.services.privacy.retention import schedule_lines

    names = retention_rule_names()
    return [
        [names.get(p.key, p.key), retention_period_words(p.amount, p.unit), p.basis]
        for p in schedule_lines(session)
    ]


def _security(doc, facts: Measures) -> None:
    _lines(
        doc,
        [
            _(
                "The content of each case (narrative, names, contacts, notes, details, file "
                "names) is sealed under a key of its own, itself wrapped by the keyring; "
                "attachments are sealed on disk. Destroying a case's key shreds its content."
            ),
            _("Names are found by a keyed digest (blind index), never in clear."),
            _("The audit trail is hash-chained and its head signed in checkpoints."),
        ],
    )
    yes, no = _("yes"), _("no")
    rows = [[_("Purpose"), _("Key"), _("Created"), _("Age (days)"), _("Active")]]
    for key in facts.keys:
        rows.append(
            [
                key.purpose,
                key.key_id,
                _when(key.created_at),
                "—" if key.age_days is None else str(key.age_days),
                yes if key.active else no,
            ]
        )
    grid_table(doc, rows, bold_last=False)
    if facts.last_verify_at is None:
        verify = _("Last verification of the audit trail: never run")
    else:
        verify = _(
            "Last verification of the audit trail: %(when)s, %(result)s",
            when=_when(facts.last_verify_at),
            result=_("passed") if facts.last_verify_ok else _("FAILED"),
        )
    checkpoint = _("Last signed checkpoint: %(when)s", when=_when(facts.last_checkpoint_at))
    if facts.last_backup_at is None:
        backup = _(
            "No backup is recorded in the audit trail. Backups are taken with "
            "`flask --app wsgi backup --out DIR` every night to a folder on another machine "
            "(README, Operations); the keyring is kept apart from them."
        )
    else:
        backup = _("Last backup: %(when)s", when=_when(facts.last_backup_at))
    _lines(doc, [verify, checkpoint, backup, *[f"{k}: {v}" for k, v in facts.settings]])


def to_docx(session: Session, unit: Unit, facts: Measures, issued_on: date) -> bytes:
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    doc = new_document()
    parent = unit.parent.name if unit.parent is not None else ""
    heading_block(
        doc, parent, unit.name, f"Số: ……/HS-{unit.code}", date_line(_place(unit), issued_on)
    )
    doc.add_paragraph()
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.add_run(TITLE.upper()).bold = True
    doc.add_paragraph(
        _(
            "Written by the service on %(day)s from its own models and settings.",
            day=issued_on.strftime("%d/%m/%Y"),
        )
    ).runs[0].italic = True

    _heading(doc, "1. " + _("The controller"))
    _lines(doc, [f"{unit.name} ({unit.code})", *([parent] if parent else [])])
    _heading(doc, "2. " + _("Purposes of the processing"))
    _lines(doc, _purposes())
    _heading(doc, "3. " + _("Categories of data subjects"))
    _lines(doc, _subjects())
    _heading(doc, "4. " + _("Categories of personal data"))
    _category_tables(doc)
    _heading(doc, "5. " + _("Recipients"))
    _lines(doc, _recipients(session, unit) or [_("None outside the service")])
    _heading(doc, "6. " + _("Retention"))
    _lines(
        doc,
        [
            _(
                "The retention run (flask retention run) destroys the content of a closed case "
                "when the schedule below says it is due, except under a legal hold; the "
                "statistical facts stay."
            )
        ],
    )
    grid_table(
        doc,
        [[_("Kind of record"), _("Kept"), _("Legal basis")], *_schedule(session)],
        bold_last=False,
    )
    grid_table(doc, [[_("Tables"), _("Kept")], *_retention()], bold_last=False)
    _heading(doc, "7. " + _("Security measures in force"))
    _security(doc, facts)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def export(session: Session, actor: User, unit: Unit) -> Exported:
    """The dossier of ``unit`` (already checked in the actor's scope), audited."""
    today = local_today()
    content = to_docx(session, unit, measures(session), today)
    record(
        session,
        actor,
        "privacy.record_export",
        unit=unit,
        object_type="processing_record",
        object_ref=unit.code,
        changes={"format": "docx"},
    )
    filename = f"ho-so-xu-ly-du-lieu-{unit.code}-{today.isoformat()}.docx"
    return Exported(content, filename, MIME["docx"])
