"""Routes of the workflow on a case: add and finish steps, change status."""

from __future__ import annotations

from flask import redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.cases import bp
from caseapp.cases.actions import apply
from caseapp.cases.forms import StepForm, TransitionForm
from caseapp.db import get_session
from caseapp.errors import ValidationFailed
from caseapp.forms import small_int
from caseapp.services.cases import steps as step_service
from caseapp.services.cases import workflow
from caseapp.services.cases.access import get_case


def _back(public_id: str):
    return redirect(url_for("cases.show", public_id=public_id) + "#workflow")


def _step_input(form: StepForm) -> step_service.StepInput:
    def value(field):
        return field.data or None

    return step_service.StepInput(
        kind=form.kind.data or "",
        person=value(form.about),
        due_on=form.due_on.data,
        done_on=form.done_on.data,
        method=value(form.method),
        finding=value(form.finding),
        service=value(form.service),
        status=value(form.status),
        contact_id=small_int(form.contact_id.data),
        situation=value(form.situation),
        next_on=form.next_on.data,
        measure=value(form.measure),
        subject=value(form.subject),
        details=form.details.data or "",
        consent_override=bool(form.consent_override.data),
        override_reason=form.override_reason.data or "",
    )


def _version(form) -> int:
    version = small_int(form.version.data)
    if version is None:
        raise ValidationFailed(_("The form is incomplete. Reload the page."))
    return version


@bp.post("/<public_id>/steps")
@permission("case.change")
def add_step(public_id: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    form = StepForm()
    form.fill_choices(step_service.referral_contacts(db, case))
    return apply(
        form,
        lambda db: step_service.add_step(db, current_user, case, _step_input(form)),
        _("Step recorded."),
        _("The step was not saved."),
        lambda: _back(public_id),
    )


@bp.post("/<public_id>/steps/<uid>/complete")
@permission("case.change")
def complete_step(public_id: str, uid: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    step = step_service.get_step(db, case, uid)
    form = StepForm()
    form.fill_choices(step_service.referral_contacts(db, case))
    return apply(
        form,
        lambda db: step_service.complete_step(
            db, current_user, case, step, _step_input(form), _version(form)
        ),
        _("Step finished."),
        _("The step was not saved."),
        lambda: _back(public_id),
    )


@bp.post("/<public_id>/transition")
@permission("case.change")
def transition(public_id: str):
    case = get_case(get_session(), current_user, public_id)
    form = TransitionForm()
    form.closure_reason.choices = [
        ("", "—"),
        ("resolved", ""),
        ("not_substantiated", ""),
        ("transferred", ""),
        ("withdrew", ""),
    ]
    return apply(
        form,
        lambda db: workflow.transition(
            db,
            current_user,
            case,
            form.target.data or "",
            form.reason.data,
            _version(form),
            form.closure_reason.data or None,
        ),
        lambda: _("The case is now: %(status)s.", status=_status_name(case.status)),
        _("Please give a reason."),
        lambda: _back(public_id),
    )


def _status_name(status: str) -> str:
    from caseapp.labels import status_names

    return status_names().get(status, status)
