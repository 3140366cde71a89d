"""Activities: training, communication and action-month events, per unit."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.pagination import paginate
from caseapp.reports import bp
from caseapp.reports.forms import ActivityForm
from caseapp.security.authz import covers, has_permission
from caseapp.services.org.units import open_units, unit_in_scope
from caseapp.services.reports import activities as activity_service


def _input(form: ActivityForm) -> activity_service.ActivityInput:
    return activity_service.ActivityInput(
        held_on=form.held_on.data,
        kind=form.kind.data,
        audience=form.audience.data,
        title=form.title.data or "",
        participants_female=form.participants_female.data,
        participants_male=form.participants_male.data,
        participants_other=form.participants_other.data,
    )


def _unit_codes():
    return open_units(get_session(), current_user, "activity.write")


@bp.get("/activities")
@permission("report.read")
def activities():
    rows, page, pages, total = paginate(activity_service.visible_activities(current_user))
    return render_template(
        "reports/activities.html",
        rows=rows,
        page=page,
        pages=pages,
        total=total,
        can_write=has_permission(current_user, "activity.write"),
        editable=lambda a: covers(current_user, "activity.write", a.unit),
    )


@bp.route("/activities/new", methods=["GET", "POST"])
@permission("activity.write")
def new_activity():
    form = ActivityForm()
    form.fill_choices()
    error, status = None, 200
    if request.method == "GET":
        form.version.data = "0"
    if form.validate_on_submit():
        db = get_session()
        done = carry_out(
            lambda: activity_service.create(
                db,
                current_user,
                unit_in_scope(db, current_user, form.unit_code.data, "activity.write"),
                _input(form),
            )
        )
        if done.ok:
            flash(_("Activity recorded."), "success")
            return redirect(url_for("reports.activities"))
        error, status = done.message, 400
    elif form.is_submitted():
        status = 400
    return render_template(
        "reports/activity_form.html",
        form=form,
        error=error,
        activity=None,
        unit_codes=_unit_codes(),
    ), status


@bp.route("/activities/<int:activity_id>", methods=["GET", "POST"])
@permission("activity.write")
def activity(activity_id: int):
    db = get_session()
    found = activity_service.get_activity(db, current_user, activity_id)
    form = ActivityForm(obj=found) if request.method == "GET" else ActivityForm()
    form.fill_choices()
    form.unit_code.data = found.unit.code
    error, status = None, 200
    if request.method == "GET":
        form.version.data = found.version
    elif form.validate_on_submit():
        done = carry_out(
            lambda: activity_service.update(
                db, current_user, found, _input(form), int(form.version.data)
            )
        )
        if done.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("reports.activities"))
        error, status = done.message, done.status
    else:
        status = 400
    return render_template(
        "reports/activity_form.html", form=form, error=error, activity=found, unit_codes=[]
    ), status
