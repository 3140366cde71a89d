"""The full list of who opened a case's content (the case page shows the latest)."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from caseapp.access import permission
from caseapp.cases import bp
from caseapp.db import get_session
from caseapp.runtime import settings
from caseapp.services.cases import readers
from caseapp.services.cases.access import get_case


@bp.get("/<public_id>/access")
@permission("case.read")
def access_report(public_id: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    rows, page, pages = readers.page_of_openings(
        db, current_user, case, request.args.get("page", 1, type=int) or 1, settings().page_size
    )
    return render_template(
        "cases/access_report.html", case=case, openings=rows, page=page, pages=pages
    )
