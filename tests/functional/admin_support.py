"""Helpers shared by the access, input and audit tests of the admin screens."""

from __future__ import annotations

import html

from flask_babel import force_locale, gettext
from sqlalchemy import func, inspect, select

from caseapp.db import Base
from caseapp.models import AuditEvent

# Bookkeeping of sign-in sessions, touched by any request of a signed-in person.
# Rows a read may write without changing anything a person sees: the session's touch, the
# throttles, and the report rollups brought up to date (derived data, recomputed like an index).
BOOKKEEPING = frozenset(
    {
        "user_sessions",
        "sign_in_throttles",
        "case_rollups",
        "case_office_rollups",
        "case_rollup_marks",
    }
)


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def translated(app, message: str, lang: str = "vi", **params) -> str:
    """``message`` as the catalogue of ``lang`` renders it (English when not yet translated)."""
    with app.test_request_context(), force_locale(lang):
        return gettext(message, **params)


def snapshot(db, skip=BOOKKEEPING) -> dict:
    """Every row of every table (the seeded world is small): compared before and after."""
    db.expire_all()
    existing = set(inspect(db.connection()).get_table_names())  # models may run ahead of migrations
    state = {}
    for table in Base.metadata.sorted_tables:
        if table.name in skip or table.name not in existing:
            continue
        rows = db.execute(select(table)).all()
        state[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


def audit_head(db) -> int:
    return db.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0)))


def events_after(db, seq: int) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))
