"""The people of a case: add a person harmed or an alleged perpetrator, change one, withdraw
one (never deleted). Each form carries the case's version: a stale one answers 409."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.cases import bp
from caseapp.cases.actions import form_errors
from caseapp.cases.forms import PersonForm, WithdrawPersonForm
from caseapp.db import get_session
from caseapp.errors import Conflict, NotFound
from caseapp.form_submit import carry_out
from caseapp.forms import small_int
from caseapp.models import cases as domain
from caseapp.services.cases import content as case_content
from caseapp.services.cases import people
from caseapp.services.cases.access import can_handle, get_case


def _input(form: PersonForm, position: str) -> people.PersonInput:
    return people.PersonInput(
        position=position,
        sex=form.sex.data or "",
        age_band=form.age_band.data or "",
        role=form.role.data or None,
        age_years=form.age_years.data,
        grade=form.grade.data,
        disability=form.disability.data or "unknown",
        ethnic_minority=form.ethnic_minority.data or "unknown",
        relationship=form.relationship.data or None,
        child=bool(form.child.data)
        or (
            position == "harmed"
            and people.is_child_by_age(form.age_band.data or "", form.age_years.data)
        ),
        name=form.name.data or "",
        contact=form.contact.data or "",
        guardian_name=form.guardian_name.data or "",
        guardian_contact=form.guardian_contact.data or "",
    )


def _page(case, form, position, person=None, error=None, status=200):
    return render_template(
        "cases/person_form.html",
        case=case,
        form=form,
        position=position,
        person=person,
        label=people.label(person) if person is not None else None,
        error=error,
    ), status


def _save(case, form, position, person, change):
    """Validate, call the service (one), answer: back to the case, or the form again with
    why (409 when someone saved the case since the form was opened)."""
    if not form.validate_on_submit():
        return _page(case, form, position, person, form_errors(form) or None, 400)
    outcome = carry_out(change)
    if outcome.error is not None:
        if outcome.status == 404:
            raise outcome.error
        if isinstance(outcome.error, Conflict):
            form.version.data = str(case.version)  # to send again after checking the case
        return _page(case, form, position, person, outcome.message, outcome.status)
    flash(_("Saved."), "success")
    return redirect(url_for("cases.show", public_id=case.public_id) + "#people")


@bp.route("/<public_id>/persons/new", methods=["GET", "POST"])
@permission("case.change")
def add_person(public_id: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    position = request.values.get("position", "harmed")
    if position not in domain.POSITIONS:
        raise NotFound()
    if not can_handle(current_user, case):
        return render_template("cases/no_content.html", case=case), 403
    form = PersonForm()
    form.fill_choices()
    if request.method == "GET":
        form.version.data = str(case.version)
        form.disability.data = form.ethnic_minority.data = "unknown"
        return _page(case, form, position)
    version = small_int(form.version.data) or 0
    return _save(
        case,
        form,
        position,
        None,
        lambda: people.add_person(db, current_user, case, _input(form, position), version),
    )


@bp.route("/<public_id>/persons/<uid>/edit", methods=["GET", "POST"])
@permission("case.change")
def edit_person(public_id: str, uid: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    person = people.get_person(db, case, uid)
    if not can_handle(current_user, case):
        return render_template("cases/no_content.html", case=case), 403
    form = PersonForm()
    form.fill_choices()
    if request.method == "GET":
        opened = case_content.open_content(db, current_user, case)
        db.commit()  # the audit event of the read
        view = next(v for v in opened.people if v.person.id == person.id)
        for name in people.CLEAR_FIELDS:
            getattr(form, name).data = getattr(person, name)
        for name in domain.PERSON_FIELDS:
            getattr(form, name).data = getattr(view, name)
        form.grade.data = person.grade
        form.version.data = str(case.version)
        return _page(case, form, person.position, person)
    version = small_int(form.version.data) or 0
    return _save(
        case,
        form,
        person.position,
        person,
        lambda: people.update_person(
            db, current_user, case, uid, _input(form, person.position), version
        ),
    )


@bp.post("/<public_id>/persons/<uid>/withdraw")
@permission("case.change")
def withdraw_person(public_id: str, uid: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    form = WithdrawPersonForm()
    back = redirect(url_for("cases.show", public_id=public_id) + "#people")
    if not form.validate_on_submit():
        flash(form_errors(form) or _("Nothing was saved."), "error")
        return back
    version = small_int(form.version.data) or 0
    outcome = carry_out(
        lambda: people.withdraw_person(db, current_user, case, uid, version, form.reason.data)
    )
    if outcome.error is not None:
        if outcome.status == 404:
            raise outcome.error
        if outcome.status == 409:
            return render_template(
                "cases/person_conflict.html", case=case, message=outcome.message
            ), 409
        flash(outcome.message, "error")
        return back
    flash(_("The person was withdrawn from the case."), "success")
    return back
