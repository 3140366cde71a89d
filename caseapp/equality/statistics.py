"""The statistics by sex of a unit for a report period: the form (with the figures of the
period before beside each input), the import of a spreadsheet and its template."""

from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session
from caseapp.equality import bp
from caseapp.equality.statistics_forms import StatisticsForm, StatisticsImportForm
from caseapp.form_submit import Outcome, carry_out
from caseapp.services.equality import figures as catalog
from caseapp.services.equality import statistics as service
from caseapp.services.equality import statistics_import, statistics_page
from caseapp.services.org.sheets import file_bytes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _screen() -> statistics_page.Screen:
    return statistics_page.screen(
        get_session(), current_user, request.args.get("unit"), request.args.get("period")
    )


def _render(
    page: statistics_page.Screen,
    form: StatisticsForm,
    typed: dict[str, str],
    done: Outcome | None = None,
    error: str | None = None,
    status: int = 200,
):
    problems: dict[str, list[str]] = {}
    confirm: list[str] = []
    if done is not None and done.error is not None:
        if done.status == 404:
            abort(404)
        error = done.message
        for problem in done.error.details.get("problems", []):
            problems.setdefault(problem.key, []).append(problem.message)
        confirm = list(done.error.details.get("keys", []))
        status = done.status
    return render_template(
        "equality/statistics.html",
        page=page,
        form=form,
        import_form=StatisticsImportForm(formdata=None, version=str(page.version)),
        typed=typed,
        error=error,
        problems=problems,
        confirm=confirm,
        row_names=catalog.row_names(),
        sex_names=catalog.sex_names(),
        keys_of=catalog.keys_of,
        label=service.label,
    ), status


@bp.route("/statistics", methods=["GET", "POST"])
@permission("report.read")
def statistics():
    page = _screen()
    form = StatisticsForm()
    if request.method == "GET":
        form.version.data = str(page.version)
        form.source.data = "form"
        return _render(page, form, {k: str(v) for k, v in page.current.items()})
    typed = {key: request.form.get(key, "")[:20] for key in page.keys}
    if not form.validate_on_submit():
        errors = [e for messages in form.errors.values() for e in messages]
        return _render(page, form, typed, error=" ".join(map(str, errors)), status=400)
    done = carry_out(
        lambda: service.save(
            get_session(),
            current_user,
            page.unit,
            page.period,
            typed,
            set(request.form.getlist("confirm")),
            int(form.version.data),
            form.source.data or "form",
        )
    )
    if done.ok:
        flash(_("Statistics saved."), "success")
        return redirect(url_for(".statistics", unit=page.unit.code, period=page.period.key))
    return _render(page, form, typed, done)


@bp.post("/statistics/import")
@permission("work.write")
def import_statistics():
    page = _screen()
    upload = StatisticsImportForm()
    form = StatisticsForm(formdata=None, version=upload.version.data, source="import")
    typed = {k: str(v) for k, v in page.current.items()}
    if not upload.validate_on_submit():
        errors = [e for messages in upload.errors.values() for e in messages]
        return _render(page, form, typed, error=" ".join(map(str, errors)), status=400)
    done = carry_out(
        lambda: statistics_import.import_file(
            get_session(),
            current_user,
            page.unit,
            page.period,
            file_bytes(upload.file.data.stream),
            upload.file.data.filename or "",
            int(upload.version.data),
        )
    )
    if done.ok:
        flash(_("Statistics imported and saved."), "success")
        return redirect(url_for(".statistics", unit=page.unit.code, period=page.period.key))
    if done.error is not None and "given" in done.error.details:
        typed = {k: str(v) for k, v in done.error.details["given"].items()}
    return _render(page, form, typed, done)


@bp.get("/statistics/template.xlsx")
@permission("work.write")
def statistics_template():
    page = _screen()
    content = statistics_import.template_for(
        get_session(), current_user, page.unit.code, page.period
    )
    return send_file(
        io.BytesIO(content),
        mimetype=XLSX,
        as_attachment=True,
        download_name=f"thong-ke-{page.unit.code}-{page.period.key.replace(':', '-')}.xlsx",
    )
