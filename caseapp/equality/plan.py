"""The yearly gender-equality plan of a unit: written by its focal points or officers, approved
by its head, read by the units above; the list of the plans of the units below an office."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session
from caseapp.equality import bp
from caseapp.equality.plan_forms import ApproveForm, PlanForm
from caseapp.form_submit import carry_out
from caseapp.pagination import paginate
from caseapp.security.authz import covers
from caseapp.services.equality import plans


def _lines(form: PlanForm) -> list[plans.TargetInput]:
    return [
        plans.TargetInput(
            title=line.form.title.data or "",
            measure=line.form.measure.data or "",
            target_value=line.form.target_value.data,
        )
        for line in form.targets
    ]


def _page(unit, year: int, form: PlanForm | None = None, error: str | None = None, status=200):
    db = get_session()
    plan = plans.plan_for_reading(db, current_user, unit, year)
    can_edit = covers(current_user, "work.write", unit)
    if form is None:
        form = PlanForm()
        if plan is not None:
            form.text.data = plan.text
            for target in plan.targets:
                form.targets.append_entry(target)
        form.version.data = str(plan.version if plan is not None else 0)
        form.pad()
    form.fill_choices()
    form.unit.data, form.year.data = unit.code, str(year)
    approve = ApproveForm()
    approve.unit.data, approve.year.data = unit.code, str(year)
    approve.version.data = str(plan.version) if plan is not None else "0"
    period = plans.shown_period(year)
    results = {
        r["id"]: r["result"]
        for r in plans.target_results(db, unit, period, plans.manual_results(db, unit, period))
    }
    head = plans.is_head_of(current_user, unit)
    own_text = plan is not None and head and plans.wrote_part(plan, current_user)
    can_approve = plan is not None and plan.status == "draft" and head and not own_text
    return render_template(
        "equality/plan.html",
        unit=unit,
        year=year,
        plan=plan,
        form=form,
        approve=approve,
        error=error,
        can_edit=can_edit,
        can_approve=can_approve,
        own_text=own_text,
        period=period,
        results=results,
    ), status


@bp.get("/plan")
@permission("report.read")
def plan():
    db = get_session()
    unit = plans.unit_for(db, current_user, request.args.get("unit"), "report.read")
    return _page(unit, plans.asked_year(request.args.get("year")))


@bp.post("/plan")
@permission("work.write")
def save_plan():
    db = get_session()
    form = PlanForm()
    unit = plans.unit_for(db, current_user, form.unit.data or "-", "work.write")
    year = plans.asked_year(form.year.data or "-")
    form.fill_choices()
    if not form.validate_on_submit():
        return _page(unit, year, form, _("Check the marked fields. Nothing was saved."), 400)
    done = carry_out(
        lambda: plans.save_plan(
            db, current_user, unit, year, form.text.data or "", _lines(form), int(form.version.data)
        )
    )
    if not done.ok:
        return _page(unit, year, form, done.message, done.status)
    flash(_("The plan was saved. It is a draft until the head of the unit approves it."), "success")
    return redirect(url_for("equality.plan", unit=unit.code, year=year))


@bp.post("/plan/approve")
@permission("plan.approve")
def approve_plan():
    db = get_session()
    form = ApproveForm()
    unit = plans.unit_for(db, current_user, form.unit.data or "-", "plan.approve")
    year = plans.asked_year(form.year.data or "-")
    found = plans.plan_to_approve(db, current_user, unit, year)
    if not form.validate_on_submit():
        return _page(unit, year, None, _("The form is incomplete. Reload the page."), 400)
    done = carry_out(lambda: plans.approve_plan(db, current_user, found, int(form.version.data)))
    if not done.ok:
        return _page(unit, year, None, done.message, done.status)
    flash(_("The plan was approved."), "success")
    return redirect(url_for("equality.plan", unit=unit.code, year=year))


@bp.get("/plans")
@permission("report.read")
def plans_below():
    db = get_session()
    unit = plans.unit_for(db, current_user, request.args.get("unit"), "report.read")
    year = plans.asked_year(request.args.get("year"))
    rows, page, pages, total = paginate(plans.units_below(unit))
    return render_template(
        "equality/plans.html",
        unit=unit,
        year=year,
        rows=rows,
        found=plans.plans_by_unit(db, rows, year),
        page=page,
        pages=pages,
        total=total,
    )
