"""The audit trail's CSV export: the events of a selection written a batch at a time, each cell
inert in a spreadsheet, times in Vietnam time with their offset."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, tzinfo

from sqlalchemy import Row, Select
from sqlalchemy.orm import Session

from caseapp.clock import zone
from caseapp.security.spreadsheet import inert_row
from caseapp.services.audit import queries as audit_queries

CSV_COLUMNS = audit_queries.EXPORT_COLUMNS
_AT = CSV_COLUMNS.index("at")
_REASON = CSV_COLUMNS.index("reason")


def csv_stream(reader: Session, selection: Select, reason: str = "") -> Iterator[str]:
    """The CSV of ``selection`` (audit queries.filtered), read in ``reader``, a session of its
    own that is closed when the stream ends or is abandoned (the rows are read after the view
    has returned, so no connection, or SQLite lock, outlives the download)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + buffer.getvalue()  # BOM so that Excel opens Vietnamese text right
    local = zone()
    with reader:
        for batch in audit_queries.export_batches(reader, selection, reason):
            if not batch:
                continue  # none of these held the reason searched for
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(_cells(row, clear, local) for row, clear in batch)
            yield buffer.getvalue()


def _cells(row: Row, reason: str, local: tzinfo) -> list[str]:
    """The row's cells: its time in Vietnam time with the offset written out
    (2026-11-29T22:59:28+07:00), so a spreadsheet reader cannot mistake it for local time; its
    reason opened (the sealed token stays in the database, the chain is over it)."""
    values = list(row)
    at = values[_AT]
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    values[_AT] = aware.astimezone(local).isoformat(timespec="seconds")
    values[_REASON] = reason
    return inert_row(values)
