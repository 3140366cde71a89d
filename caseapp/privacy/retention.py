"""The retention page: the schedule with its legal basis, and what falls due in the next 90 days
in the user's units (services/privacy/retention.py)."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session
from caseapp.labels import retention_period_words, retention_rule_names
from caseapp.privacy import bp
from caseapp.runtime import settings
from caseapp.services.privacy import receipts
from caseapp.services.privacy import retention as service


@bp.get("/retention")
@permission("privacy.read")
def retention():
    db = get_session()
    found = service.due_soon(db, current_user)
    size = settings().page_size
    pages = max(1, (len(found) + size - 1) // size)
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    return render_template(
        "privacy/retention.html",
        lines=service.schedule_lines(db),
        rows=found[(page - 1) * size : page * size],
        page=page,
        pages=pages,
        total=len(found),
        held=sum(1 for d in found if d.held),
        receipt_codes=len(receipts.due_soon(db, current_user, service.SOON_DAYS)),
        days=service.SOON_DAYS,
        rule_names=retention_rule_names(),
        period_words=retention_period_words,
    )
