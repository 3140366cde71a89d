"""Helpers for the case security tests: a person acting through their own test client, uploads,
row counts, the attachment store, HTML forms as a browser would send them, canary scans."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from sqlalchemy import func, inspect, select, text

from caseapp.clock import local_today
from caseapp.models import AuditEvent
from caseapp.security import envelope
from caseapp.services.cases import content as case_content
from caseapp.services.cases import intake as cases
from tests.functional.case_support import CANARY

# The tables an attack on a case could change.
COUNTED = (
    "cases",
    "case_notes",
    "case_attachments",
    "case_consents",
    "case_exclusions",
    "case_informants",
    "case_name_index",
    "case_counters",
    "audit_events",
)


def case_details(**changes) -> cases.CaseDetails:
    """Valid clear metadata for calling the case services directly."""
    values = dict(
        received_on=local_today(),
        received_via="phone",
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
        risk_level="medium",
        harmed_age_years=12,
    )
    return cases.CaseDetails(**{**values, **changes})


def narrative_of(case) -> str:
    """The decrypted narrative, without open_content (which audits, in the caller's session)."""
    return envelope.open_text(
        case_content.data_key(case),
        case.narrative,
        envelope.field_ad(case.public_id, "cases", case.public_id, "narrative"),
    )


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


LISTED = re.compile(r'href="/cases/[0-9a-f-]{36}">([^<]+)</a>')


def listed(response) -> set[str]:
    """The references the case list shows as rows (flash messages and filters aside)."""
    assert response.status_code == 200, response.status_code
    return set(LISTED.findall(response.get_data(as_text=True)))


def row_counts(db) -> dict[str, int]:
    return {t: db.scalar(text(f"SELECT count(*) FROM {t}")) for t in COUNTED}


def audit_head(db) -> int:
    return db.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0)))


def actions_after(db, seq: int) -> list[str]:
    return list(
        db.scalars(select(AuditEvent.action).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))
    )


def contains_canary(value, needle: str = CANARY) -> bool:
    """The needle as text (any case), as UTF-8 bytes, or hex-encoded."""
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes | bytearray):
        lowered = bytes(value).lower()
        return needle.lower().encode() in lowered or needle.encode().hex().encode() in lowered
    if value is None:
        return False
    text_value = str(value).lower()
    return needle.lower() in text_value or needle.encode().hex() in text_value


def database_hits(db, needle: str = CANARY) -> list[str]:
    """table.column of every value holding the needle: every column of every table, read with
    SQL on the test's connection (so the test's own uncommitted rows are included)."""
    conn = db.connection()
    hits = []
    for table in inspect(conn).get_table_names():
        result = conn.execute(text(f'SELECT * FROM "{table}"'))
        columns = list(result.keys())
        for row in result:
            hits += [
                f"{table}.{c}"
                for c, v in zip(columns, row, strict=True)
                if contains_canary(v, needle)
            ]
    return hits


class _Forms(HTMLParser):
    """The fields a browser would send for each form of a page, by form action."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, list[tuple[str, str]]] = {}
        self._action: str | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self._buffer = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._action = a.get("action", "")
            self.forms.setdefault(self._action, [])
        elif self._action is None or "name" not in a and tag != "option":
            return
        elif tag == "input":
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[self._action].append(
                (a["name"], a.get("value") or ("on" if kind in ("checkbox", "radio") else ""))
            )
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.forms[self._action].append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._buffer = a["name"], ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._buffer += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._action = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            value = (
                self._buffer[2:]
                if self._buffer.startswith("\r\n")
                else (self._buffer[1:] if self._buffer.startswith("\n") else self._buffer)
            )
            self.forms[self._action].append((self._textarea, value))
            self._textarea = None


def form_fields(response, action: str) -> dict:
    """The fields of the page's form posting to ``action``, as a browser would send them
    (repeated names become lists)."""
    parser = _Forms()
    parser.feed(response.get_data(as_text=True))
    assert action in parser.forms, f"no form posting to {action}: {list(parser.forms)}"
    fields: dict = {}
    for name, value in parser.forms[action]:
        if name in fields:
            previous = fields[name]
            fields[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            fields[name] = value
    return fields
