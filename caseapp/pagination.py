"""Offset pagination of a select() for list screens."""

from __future__ import annotations

from flask import request
from sqlalchemy import func, select

from caseapp.db import get_session
from caseapp.runtime import settings


def paginate(stmt, page_size: int | None = None):
    """(rows, page, pages, total) for a select() and the ?page= argument."""
    size = page_size or settings().page_size
    page = max(1, request.args.get("page", 1, type=int) or 1)
    db = get_session()
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, (total + size - 1) // size)
    page = min(page, pages)
    rows = list(db.scalars(stmt.limit(size).offset((page - 1) * size)).unique())
    return rows, page, pages, total
