"""Onboarding without a shell: units and accounts imported from a table (XLSX or CSV), with a
dry run first. The services (services/org/imports.py, services/accounts/imports.py) read the
file, check every line and import all or nothing."""

from __future__ import annotations

from flask import Response, flash, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.admin import bp
from caseapp.admin.forms import AccountImportForm, ImportForm
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.services.accounts import imports as account_imports
from caseapp.services.org import imports as unit_imports

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page(
    units_form: ImportForm | None = None,
    accounts_form: AccountImportForm | None = None,
    *,
    which: str = "",
    report=None,
    error: str | None = None,
    status: int = 200,
):
    return render_template(
        "admin/import.html",
        units_form=units_form or ImportForm(formdata=None),
        accounts_form=accounts_form or AccountImportForm(formdata=None),
        which=which,
        report=report,
        error=error,
    ), status


@bp.get("/import")
@permission("admin.users")
def import_page():
    return _page()


@bp.get("/import/units/template.xlsx")
@permission("admin.units")
def units_template():
    return _xlsx(unit_imports.template_file(), "mau-nhap-don-vi.xlsx")


@bp.get("/import/accounts/template.xlsx")
@permission("admin.users")
def accounts_template():
    return _xlsx(account_imports.template_file(), "mau-nhap-tai-khoan.xlsx")


def _xlsx(content: bytes, name: str) -> Response:
    return Response(
        content,
        content_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _form_error(form: ImportForm) -> str:
    messages = [m for errors in form.errors.values() for m in errors if isinstance(m, str)]
    return messages[0] if messages else _("The form is incomplete. Reload the page.")


def _forms(which: str, form: ImportForm) -> dict:
    return {"accounts_form" if which == "accounts" else "units_form": form, "which": which}


def _dry_run(which: str, form: ImportForm, check):
    """The check of an uploaded file (units or accounts): what importing it would do, line by
    line; nothing is written."""
    if not form.validate_on_submit():
        return _page(**_forms(which, form), error=_form_error(form), status=400)
    db = get_session()
    upload = form.file.data
    done = carry_out(lambda: check(db, current_user, upload.stream, upload.filename or ""))
    if not done.ok:
        return _page(**_forms(which, form), error=done.message, status=done.status)
    return _page(**_forms(which, form), report=done.value)


@bp.post("/import/units/check")
@permission("admin.units")
def check_units():
    return _dry_run("units", ImportForm(), unit_imports.check)


@bp.post("/import/units")
@permission("admin.units")
def import_units():
    form = ImportForm()
    if not form.validate_on_submit():
        return _page(form, which="units", error=_form_error(form), status=400)
    db = get_session()
    upload = form.file.data
    done = carry_out(
        lambda: unit_imports.apply(db, current_user, upload.stream, upload.filename or "")
    )
    if not done.ok:
        return _page(form, which="units", error=done.message, status=done.status)
    report = done.value
    if not report.applied:
        return _page(
            form,
            which="units",
            report=report,
            error=_("Nothing was imported: correct the lines below and try again."),
            status=400,
        )
    flash(_("The units were imported."), "success")
    return _page(which="units", report=report)


@bp.post("/import/accounts/check")
@permission("admin.users")
def check_accounts():
    return _dry_run("accounts", AccountImportForm(), account_imports.check)


@bp.post("/import/accounts")
@permission("admin.users")
def import_accounts():
    form = AccountImportForm()
    if not form.validate_on_submit():
        return _page(accounts_form=form, which="accounts", error=_form_error(form), status=400)
    db = get_session()
    upload = form.file.data
    done = carry_out(
        lambda: account_imports.apply(
            db, current_user, upload.stream, upload.filename or "", form.reason.data or ""
        )
    )
    if not done.ok:
        return _page(accounts_form=form, which="accounts", error=done.message, status=done.status)
    imported = done.value
    if not imported.report.applied:
        return _page(
            accounts_form=form,
            which="accounts",
            report=imported.report,
            error=_("Nothing was imported: correct the lines below and try again."),
            status=400,
        )
    back = (
        url_for("admin.approval", request_id=imported.request.id)
        if imported.request is not None
        else url_for("admin.users")
    )
    return render_template(
        "admin/enrolment_letter.html",
        letters=list(imported.letters),
        back_url=back,
        report=imported.report,
        batch=imported.request,
    )
