"""Period reports on screen (with charts), exports, submitted reports (submitted from the
unit's gender-equality report: caseapp.equality.narrative)."""

from __future__ import annotations

from datetime import date

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.clock import local_today
from caseapp.db import get_read_session, get_session
from caseapp.form_submit import carry_out, read_or_refuse
from caseapp.forms import kept_query
from caseapp.reports import bp
from caseapp.reports.forms import ReportForm
from caseapp.services.equality.sections import section_names
from caseapp.services.org.units import open_units
from caseapp.services.reports import exports as report_exports
from caseapp.services.reports import periods as reports
from caseapp.services.reports.replica import replica_lag
from caseapp.services.reports.tables import build
from caseapp.services.reports.view import shown_tables, shown_timeliness


def _labels(period: reports.Period | None) -> str:
    if period is None:
        return _("Report on violence and abuse in schools")
    if period.kind == "annual":
        return _(
            "Annual report on violence and abuse in schools, %(year)d", year=period.date_to.year
        )
    return _(
        "Six-month report on violence and abuse in schools, %(year)d", year=period.date_to.year
    )


def _choice() -> tuple[ReportForm, reports.Period | None, date, date, str | None]:
    form = ReportForm(request.args)
    form.fill_levels()
    level = reports.asked_level(request.args.get("level"))
    periods = reports.recent_periods()
    form.period.choices = [(p.key, _labels(p)) for p in periods]
    if request.args.get("period") == "custom":  # any dates: chosen in their own form
        form.period.choices.append(("custom", _("Custom")))
    period = None
    if (
        form.validate()
        and form.period.data == "custom"
        and form.date_from.data
        and form.date_to.data
    ):
        date_from, date_to = form.date_from.data, form.date_to.data
        reports.check_range(date_from, date_to)
    else:
        key = form.period.data if form.period.data not in (None, "", "custom") else None
        period = reports.period_by_key(key) if key else reports.default_period()
        date_from, date_to = period.date_from, period.date_to
        form.period.data = period.key
    return form, period, date_from, date_to, level


@bp.get("/")
@permission("report.read")
def show():
    # The figures come from the read replica when there is one; the submissions from the
    # primary (a report just submitted is there at once: its button must not come back).
    db, figures = get_session(), get_read_session()
    # Only reads: nothing committed before the figures (their exclusions are those the
    # sign-in session read, access.excluded_from, which a commit ends).
    chosen = read_or_refuse(_choice)
    if not chosen.ok:
        flash(chosen.message, "error")
        return redirect(url_for("reports.show"))
    form, period, date_from, date_to, level = chosen.value
    unit = reports.report_unit(db, current_user, request.args.get("unit"))
    suppressed = request.args.get("view") == "export"
    report = build(figures, unit, date_from, date_to, viewer=current_user, level=level)
    tables = shown_tables(report, suppressed, reports.unit_names(figures, report))
    rows = reports.submissions(db, unit, period) if period and unit.kind != "school" else []
    snapshot = reports.submitted_snapshot(db, unit, period) if period else None
    return render_template(
        "reports/report.html",
        form=form,
        unit=unit,
        period=period,
        date_from=date_from,
        date_to=date_to,
        tables=tables,
        suppressed=suppressed,
        timeliness=shown_timeliness(report.timeliness, suppressed),
        title=_labels(period),
        submissions=rows,
        snapshot=snapshot,
        today=local_today(),
        unit_codes=open_units(db, current_user, "report.read", closed_too=True),
        args=_kept_args(),
        exact_args=_kept_args(),
        replica=replica_lag(),
    )


def _kept_args() -> dict[str, str]:
    """The choices of the page, for its links; without the two the links set themselves
    (``?view=x&format=y`` would give url_for the same argument twice)."""
    return kept_query(drop=("view", "format"))


@bp.get("/export")
@permission("report.read")
def export():
    db = get_session()
    fmt = request.args.get("format", "xlsx")

    def export_report():
        _form, period, date_from, date_to, level = _choice()
        unit = reports.report_unit(db, current_user, request.args.get("unit"))
        return (
            unit,
            date_from,
            date_to,
            reports.export(
                db,
                current_user,
                unit,
                date_from,
                date_to,
                fmt,
                _labels(period),
                level=level,
                figures=get_read_session(),
            ),
        )

    done = carry_out(export_report)
    if not done.ok:
        if done.status == 404 and done.error is not None:
            raise done.error
        flash(done.message, "error")
        return redirect(url_for("reports.show"))
    unit, date_from, date_to, content = done.value
    name = f"bao-cao-{unit.code}-{date_from:%Y%m%d}-{date_to:%Y%m%d}.{fmt}"
    # content_type as it is: a mimetype would have Flask add a second "; charset=utf-8".
    return Response(
        content,
        content_type=report_exports.MIME[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/snapshots/<int:snapshot_id>")
@permission("report.read")
def snapshot(snapshot_id: int):
    db = get_session()
    snap = reports.readable_snapshot(db, current_user, snapshot_id)
    report = reports.snapshot_report(snap)
    return render_template(
        "reports/snapshot.html",
        snap=snap,
        intact=reports.snapshot_intact(snap),
        tables=shown_tables(report, False, reports.unit_names(db, report)),
        timeliness=report.timeliness,
        work=reports.snapshot_work(snap),
        section_names=section_names(),
    )


@bp.get("/combined")
@permission("case.oversee")
def combined():
    db = get_read_session()  # a report: nothing written, all read from the replica if any
    unit = reports.combined_unit(db, current_user, request.args.get("unit"))
    asked = read_or_refuse(lambda: reports.period_by_key(request.args.get("period", "")))
    period = asked.value or reports.default_period()
    report, submitted, schools = reports.combined(db, unit, period)
    tables = shown_tables(report, False, reports.unit_names(db, report))
    return render_template(
        "reports/combined.html",
        unit=unit,
        period=period,
        tables=tables,
        timeliness=report.timeliness,
        submitted=submitted,
        schools=schools,
        title=_labels(period),
        replica=replica_lag(),
    )
