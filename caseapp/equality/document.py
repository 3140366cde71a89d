"""The period report as a document: DOCX (Decree 30/2020 layout) or XLSX of its tables, of the
report as it stands (a draft) or of a submitted one."""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session
from caseapp.equality import bp
from caseapp.form_submit import carry_out
from caseapp.services.equality import document_export
from caseapp.services.reports import periods


def _download(done) -> Response:
    if not done.ok:
        raise done.error  # a clear page: 404 out of scope, 400 an unknown format or period
    out = done.value
    return Response(
        out.content,
        content_type=out.mimetype,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
    )


@bp.get("/document")
@permission("report.read")
def document():
    db = get_session()

    def export():
        unit = periods.report_unit(db, current_user, request.args.get("unit"))
        fmt = document_export.check_format(request.args.get("format", "docx"))
        period_key = request.args.get("period")
        period = periods.period_by_key(period_key) if period_key else periods.default_period()
        return document_export.export_live(db, current_user, unit, period, fmt)

    return _download(carry_out(export))


@bp.get("/snapshots/<int:snapshot_id>/document")
@permission("report.read")
def snapshot_document(snapshot_id: int):
    db = get_session()
    fmt = request.args.get("format", "docx")
    return _download(
        carry_out(lambda: document_export.export_snapshot(db, current_user, snapshot_id, fmt))
    )
