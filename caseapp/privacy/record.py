"""The processing record and impact-assessment dossier of a unit, as a DOCX."""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.privacy import bp
from caseapp.services.privacy import record as processing_record


@bp.get("/record.docx")
@permission("privacy.read")
def record_docx():
    db = get_session()

    def export():
        unit = processing_record.dossier_unit(db, current_user, request.args.get("unit"))
        return processing_record.export(db, current_user, unit)

    done = carry_out(export)
    if done.error is not None:
        raise done.error  # 404 outside the user's units
    out = done.value
    return Response(
        out.content,
        content_type=out.mimetype,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
    )
