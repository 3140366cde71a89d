"""Activities: training, communication and action-month events, per unit, with their action
month, the targets of the unit's plan they count towards, results and materials."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.clock import local_today
from caseapp.db import get_read_session, get_session
from caseapp.form_submit import carry_out
from caseapp.forms import EmptyForm, small_int
from caseapp.models.equality import MATERIAL_BYTES_MAX, MATERIALS_MAX
from caseapp.pagination import paginate
from caseapp.reports import bp
from caseapp.reports.forms import ActivityForm, MaterialForm
from caseapp.security.authz import covers, has_permission
from caseapp.services.equality import campaigns
from caseapp.services.org.units import open_units, unit_in_scope
from caseapp.services.reports import activities as activity_service
from caseapp.services.reports import activity_materials as materials
from caseapp.services.reports.periods import report_unit
from caseapp.services.reports.replica import replica_lag


def _input(form: ActivityForm) -> activity_service.ActivityInput:
    return activity_service.ActivityInput(
        held_on=form.held_on.data,
        kind=form.kind.data,
        audience=form.audience.data,
        title=form.title.data or "",
        participants_female=form.participants_female.data,
        participants_male=form.participants_male.data,
        participants_other=form.participants_other.data,
        campaign_key=form.campaign_key.data or None,
        target_ids=list(form.target_ids.data or []),
        results=form.results.data or "",
    )


def _unit_codes():
    return open_units(get_session(), current_user, "activity.write")


def _day(form: ActivityForm, fallback: date) -> date:
    day = form.held_on.data
    return day if isinstance(day, date) else fallback


def _recent_campaigns() -> list[campaigns.Campaign]:
    year = local_today().year
    return [c for y in (year, year - 1, year - 2) for c in campaigns.campaigns_of(y)]


def _campaign_name(key: str) -> str:
    month = campaigns.by_key(key)
    return month.name if month is not None else ""


@bp.get("/activities")
@permission("report.read")
def activities():
    chosen = (request.args.get("campaign") or "").strip()[:20]
    rows, page, pages, total = paginate(
        activity_service.visible_activities(current_user, chosen or None)
    )
    return render_template(
        "reports/activities.html",
        rows=rows,
        page=page,
        pages=pages,
        total=total,
        chosen=chosen,
        months=_recent_campaigns(),
        campaign_name=_campaign_name,
        can_write=has_permission(current_user, "activity.write"),
        editable=lambda a: covers(current_user, "activity.write", a.unit),
    )


@bp.route("/activities/new", methods=["GET", "POST"])
@permission("activity.write")
def new_activity():
    db = get_session()
    form = ActivityForm()
    day = _day(form, local_today())
    form.fill_choices(day, activity_service.targets_for(db, current_user, current_user.unit, day))
    error, status = None, 200
    if request.method == "GET":
        form.version.data = "0"
    if form.validate_on_submit():
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
        error, status = done.message, done.status
    elif form.is_submitted():
        status = 400
    return render_template(
        "reports/activity_form.html",
        form=form,
        error=error,
        activity=None,
        unit_codes=_unit_codes(),
        frozen=False,
    ), status


@bp.route("/activities/<int:activity_id>", methods=["GET", "POST"])
@permission("activity.write")
def activity(activity_id: int):
    db = get_session()
    found = activity_service.get_activity(db, current_user, activity_id)
    form = ActivityForm(obj=found) if request.method == "GET" else ActivityForm()
    day = _day(form, found.held_on)
    form.fill_choices(day, activity_service.targets_for(db, current_user, found.unit, day))
    form.unit_code.data = found.unit.code
    error, status = None, 200
    if request.method == "GET":
        form.version.data = found.version
        form.campaign_key.data = found.campaign_key or ""
        form.target_ids.data = [link.target_id for link in found.targets]
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
        "reports/activity_form.html",
        form=form,
        error=error,
        activity=found,
        unit_codes=[],
        frozen=activity_service.frozen_day(db, found.unit, found.held_on) is not None,
        material_form=MaterialForm(formdata=None, prefix="material"),
        remove_form=EmptyForm(formdata=None),
        materials_max=MATERIALS_MAX,
        material_mb=MATERIAL_BYTES_MAX // (1024 * 1024),
    ), status


@bp.post("/activities/<int:activity_id>/materials")
@permission("activity.write")
def add_material(activity_id: int):
    db = get_session()
    found = activity_service.get_activity(db, current_user, activity_id)
    form = MaterialForm(prefix="material")  # its ids apart from the activity form's
    back = redirect(url_for("reports.activity", activity_id=found.id))
    if not form.validate_on_submit():
        flash(
            " ".join(str(e) for errors in form.errors.values() for e in errors)
            or _("The material was not added."),
            "error",
        )
        return back
    upload = form.file.data
    has_file = upload is not None and bool(getattr(upload, "filename", ""))
    done = carry_out(
        lambda: materials.add_material(
            db,
            current_user,
            found,
            form.title.data or "",
            upload.filename if has_file else None,
            upload.stream if has_file else None,
        )
    )
    flash(_("Material added.") if done.ok else done.message, "success" if done.ok else "error")
    return back


@bp.post("/materials/<int:material_id>/remove")
@permission("activity.write")
def remove_material(material_id: int):
    db = get_session()
    if not EmptyForm().validate_on_submit():
        flash(_("The form is incomplete. Reload the page."), "error")
        return redirect(url_for("reports.activities"))
    done = carry_out(lambda: materials.remove_material(db, current_user, material_id))
    if done.error is not None:
        raise done.error  # out of scope: 404
    flash(_("Material removed."), "success")
    return redirect(url_for("reports.activity", activity_id=done.value.id))


@bp.get("/materials/<int:material_id>")
@permission("report.read")
def download_material(material_id: int):
    # Not audited: a material is a leaflet or slides of an activity, not case content.
    name, content_type, content = materials.material_file(get_session(), current_user, material_id)
    ascii_name = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in name)
    return Response(
        content,
        mimetype=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.get("/campaigns")
@permission("report.read")
def campaign_summary():
    db = get_read_session()  # figures only: from the read replica when there is one
    unit = report_unit(db, current_user, (request.args.get("unit") or "").strip()[:20] or None)
    asked = request.args.get("year")
    year = local_today().year if not asked else (small_int(asked, 4) or 0)
    return render_template(
        "reports/activity_campaigns.html",
        unit=unit,
        year=year,
        rows=activity_service.campaign_summary(db, current_user, unit, year),
        replica=replica_lag(),
    )
