"""The overview of a unit's period report, its narrative (written, or compiled from the units
below for an office) and its submission."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.clock import local_today
from caseapp.db import get_session
from caseapp.equality import bp
from caseapp.equality.narrative_forms import CompileForm, NarrativeForm, WorkSubmitForm
from caseapp.form_submit import carry_out
from caseapp.forms import small_int
from caseapp.security.authz import covers
from caseapp.services.equality import compile as compiling
from caseapp.services.equality import narrative as service
from caseapp.services.equality.figures import row_names, sex_names
from caseapp.services.equality.sections import SECTIONS, section_hints, section_names
from caseapp.services.equality.submission import checklist
from caseapp.services.reports import periods as reports


def _period(key: str | None) -> reports.Period:
    return reports.period_by_key(key) if key else reports.default_period()


def _links(unit, period) -> dict[str, str]:
    query = urlencode({"unit": unit.code, "period": period.key})
    if "equality.document" in current_app.view_functions:
        document = url_for("equality.document", unit=unit.code, period=period.key, format="docx")
    else:
        document = f"/equality/document?{query}&format=docx"
    return {
        "plan": f"/equality/plan?{query}",
        "statistics": f"/equality/statistics?{query}",
        "activities": url_for("reports.activities"),
        "narrative": url_for("equality.narrative", unit=unit.code, period=period.key),
        "document": document,
    }


@bp.get("/")
@permission("report.read")
def overview():
    db = get_session()
    unit = reports.report_unit(db, current_user, request.args.get("unit"))
    period = _period(request.args.get("period"))
    below = compiling.sources(db, unit, period) if unit.kind != "school" else []
    return render_template(
        "equality/overview.html",
        unit=unit,
        period=period,
        periods=reports.recent_periods(),
        check=checklist(db, unit, period),
        below=below,
        submitted=sum(1 for s in below if s.snapshot is not None),
        links=_links(unit, period),
        can_submit=reports.may_submit(db, current_user, unit, period),
        can_write=covers(current_user, "work.write", unit),
        submit_form=WorkSubmitForm(formdata=None, unit=unit.code, period=period.key),
        today=local_today(),
    )


def _input(form: NarrativeForm, targets) -> service.DraftInput:
    results = {}
    for target in targets:
        raw = request.form.get(f"result_{target.id}", "").strip()
        if raw:
            value = small_int(raw)
            results[str(target.id)] = -1 if value is None else value
    return service.DraftInput(
        sections=form.sections(),
        number=form.number.data or "",
        signer_title=form.signer_title.data or "",
        signer_name=form.signer_name.data or "",
        recipients=form.recipients.data or "",
        target_results=results,
    )


def _render(form, unit, period, shown, error=None, status=200):
    return render_template(
        "equality/narrative.html",
        form=form,
        unit=unit,
        period=period,
        page=shown,
        names=section_names(),
        hints=section_hints(),
        keys=SECTIONS,
        figure_names=row_names(),
        sex_names=sex_names(),
        results={
            key: request.form.get(f"result_{key}", str(value))
            for key, value in shown.results.items()
        }
        if request.method == "POST"
        else {key: str(value) for key, value in shown.results.items()},
        posted=request.form if request.method == "POST" else {},
        compile_form=CompileForm(
            formdata=None,
            unit=unit.code,
            period=period.key,
            version=str(shown.draft.version or 0),
        ),
        links=_links(unit, period),
        error=error,
        conflict=status == 409,
    ), status


@bp.route("/narrative", methods=["GET", "POST"])
@permission("work.write")
def narrative():
    db = get_session()
    code = request.values.get("unit")
    unit = service.work_unit(db, current_user, code)
    period = _period(request.values.get("period"))
    shown = service.page(db, current_user, unit, period)
    if request.method == "GET":
        draft = shown.draft
        form = NarrativeForm(
            formdata=None,
            version=str(draft.version or 0),
            number=draft.number,
            signer_title=draft.signer_title,
            signer_name=draft.signer_name,
            recipients=draft.recipients,
            **{f"section_{k}": v for k, v in service.sections_of(draft).items()},
        )
        return _render(form, unit, period, shown)
    form = NarrativeForm()
    if not form.validate_on_submit():
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _render(form, unit, period, shown, reasons or _("Nothing was saved."), 400)
    done = carry_out(
        lambda: service.save_draft(
            db,
            current_user,
            unit,
            period,
            _input(form, shown.targets),
            int(form.version.data),
        )
    )
    if done.ok:
        flash(_("Saved."), "success")
        return redirect(url_for("equality.narrative", unit=unit.code, period=period.key))
    if done.status == 404 and done.error is not None:
        raise done.error
    return _render(form, unit, period, shown, done.message, done.status)


@bp.post("/narrative/compile")
@permission("work.write")
def compile_narrative():
    db = get_session()
    form = CompileForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Nothing was changed; please try again."), "error")
        return redirect(url_for("equality.overview"))

    def compile_it():
        unit = service.work_unit(db, current_user, form.unit.data)
        period = reports.period_by_key(form.period.data or "")
        version = form.version.data or "0"
        compiling.compile_draft(
            db,
            current_user,
            unit,
            period,
            replace=bool(form.replace.data),
            version=-1 if (number := small_int(version)) is None else number,
        )
        return unit, period

    done = carry_out(compile_it)
    if not done.ok:
        if done.status == 404 and done.error is not None:
            raise done.error
        flash(done.message, "error")
        return redirect(url_for("equality.narrative", unit=form.unit.data, period=form.period.data))
    unit, period = done.value
    flash(
        _("The units' texts were copied into the report. Edit each section before submitting."),
        "success",
    )
    return redirect(url_for("equality.narrative", unit=unit.code, period=period.key))


@bp.post("/submit")
@permission("report.read")
def submit():
    db = get_session()
    form = WorkSubmitForm()
    back = url_for(
        "equality.overview", unit=form.unit.data or None, period=form.period.data or None
    )
    if not form.validate_on_submit():
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        flash(f"{_('The report was not submitted.')} {reasons}".strip(), "error")
        return redirect(back)

    def submit_report():
        unit = reports.report_unit(db, current_user, form.unit.data)
        period = reports.period_by_key(form.period.data or "")
        return unit, period, reports.submit(db, current_user, unit, period)

    done = carry_out(submit_report)
    if not done.ok:
        if done.status in (403, 404) and done.error is not None:
            raise done.error
        flash(done.message, "error")
        return redirect(back)
    unit, period, snapshot = done.value
    flash(_("Report submitted. Its fingerprint is %(hash)s.", hash=snapshot.sha256[:16]), "success")
    return redirect(url_for("equality.overview", unit=unit.code, period=period.key))
