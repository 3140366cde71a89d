"""Routes of the workflow on a case: add and finish steps, change status."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.cases.forms import StepForm, TransitionForm
from caseapp.cases.views import bp
from caseapp.db import get_session
from caseapp.errors import DomainError
from caseapp.services import steps as step_service
from caseapp.services import workflow
from caseapp.services.case_access import get_case


def _back(public_id: str):
    return redirect(url_for("cases.show", public_id=public_id) + "#workflow")


def _errors(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _step_input(form: StepForm) -> step_service.StepInput:
    def value(field):
        return field.data or None

    contact = form.contact_id.data
    return step_service.StepInput(
        kind=form.kind.data or "", due_on=form.due_on.data, done_on=form.done_on.data,
        method=value(form.method), finding=value(form.finding), service=value(form.service),
        status=value(form.status),
        contact_id=int(contact) if contact and str(contact).isdigit() else None,
        situation=value(form.situation), next_on=form.next_on.data,
        measure=value(form.measure), details=form.details.data or "",
        consent_override=bool(form.consent_override.data),
        override_reason=form.override_reason.data or "")


@bp.post("/<public_id>/steps")
@permission("case.read")
def add_step(public_id: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    form = StepForm()
    form.fill_choices(step_service.referral_contacts(db, case))
    if not form.validate_on_submit():
        flash(_errors(form) or _("The step was not saved."), "error")
        return _back(public_id)
    try:
        step_service.add_step(db, current_user, case, _step_input(form))
    except DomainError as exc:
        db.rollback()
        flash(exc.message or _("The step was not saved."), "error")
        return _back(public_id)
    db.commit()
    flash(_("Step recorded."), "success")
    return _back(public_id)


@bp.post("/<public_id>/steps/<uid>/complete")
@permission("case.read")
def complete_step(public_id: str, uid: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    step = step_service.get_step(db, case, uid)
    form = StepForm()
    form.fill_choices(step_service.referral_contacts(db, case))
    if not form.validate_on_submit() or not (form.version.data or "").isdigit():
        flash(_errors(form) or _("The step was not saved."), "error")
        return _back(public_id)
    try:
        step_service.complete_step(db, current_user, case, step, _step_input(form),
                                   int(form.version.data))
    except DomainError as exc:
        db.rollback()
        flash(exc.message or _("The step was not saved."), "error")
        return _back(public_id)
    db.commit()
    flash(_("Step finished."), "success")
    return _back(public_id)


@bp.post("/<public_id>/transition")
@permission("case.read")
def transition(public_id: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    form = TransitionForm()
    form.closure_reason.choices = [("", "—"), ("resolved", ""), ("not_substantiated", ""),
                                   ("transferred", ""), ("withdrew", "")]
    if not form.validate_on_submit() or not (form.version.data or "").isdigit():
        flash(_errors(form) or _("Please give a reason."), "error")
        return _back(public_id)
    try:
        workflow.transition(db, current_user, case, form.target.data or "", form.reason.data,
                            int(form.version.data), form.closure_reason.data or None)
    except DomainError as exc:
        db.rollback()
        flash(exc.message or _("This change of status is not possible."), "error")
        return _back(public_id)
    db.commit()
    flash(_("The case is now: %(status)s.", status=_status_name(case.status)), "success")
    return _back(public_id)


def _status_name(status: str) -> str:
    from caseapp.labels import status_names

    return status_names().get(status, status)
