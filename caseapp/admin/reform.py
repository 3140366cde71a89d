"""The re-organisation screen: check a file (dry run), apply it, download the template."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.admin import bp
from caseapp.admin.forms import ReformForm
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.services.org import reform, sheets

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page(form: ReformForm, checked=None, error: str = "", applied: bool = False, status=200):
    return (
        render_template("admin/reform.html", form=form, plan=checked, error=error, applied=applied),
        status,
    )


@bp.get("/reform")
@permission("admin.units")
def reform_page():
    return _page(ReformForm(formdata=None))


@bp.get("/reform/template.xlsx")
@permission("admin.units")
def reform_template():
    return Response(
        reform.template(),
        content_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="sap-xep-don-vi.xlsx"'},
    )


def _submitted(dry_run: bool):
    form = ReformForm()
    if not form.validate_on_submit():
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _page(form, error=reasons or _("Choose a file."), status=400)
    upload = form.file.data
    done = carry_out(
        lambda: reform.carry_out_file(
            get_session(),
            current_user,
            sheets.file_bytes(upload.stream),
            upload.filename or "",
            dry_run=dry_run,
            close_emptied=bool(form.close_emptied.data),
        )
    )
    if not done.ok:
        return _page(form, error=done.message, status=done.status)
    checked, applied = done.value
    if applied is None:
        return _page(form, checked, status=400 if checked.problems else 200)
    flash(
        _(
            "Re-organisation applied: %(moved)d schools moved, %(closed)d offices closed.",
            moved=applied.moved,
            closed=len(applied.closed),
        ),
        "success",
    )
    return redirect(url_for("admin.reform_page"))


@bp.post("/reform/check")
@permission("admin.units")
def reform_check():
    return _submitted(dry_run=True)


@bp.post("/reform")
@permission("admin.units")
def reform_apply():
    return _submitted(dry_run=False)
