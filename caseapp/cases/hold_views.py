"""Legal holds on the case page: an officer over the case sets one with a reason, or releases
the one in force with a reason (services/cases/holds.py)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from caseapp.access import permission
from caseapp.cases import bp
from caseapp.cases.actions import form_errors
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.forms import FlaskForm, no_control_characters, small_int
from caseapp.limits import REASON_MAX, REASON_MIN
from caseapp.services.cases import holds
from caseapp.services.cases.access import can_oversee, get_case

_LENGTH = Length(
    min=REASON_MIN,
    max=REASON_MAX,
    message=_l("Between %(min)d and %(max)d characters.", min=REASON_MIN, max=REASON_MAX),
)


class HoldForm(FlaskForm):
    reason = TextAreaField(
        _l("Why must this case be kept (a complaint, a court case...)?"),
        validators=[DataRequired(_l("Please give a reason.")), _LENGTH, no_control_characters],
    )


class ReleaseHoldForm(FlaskForm):
    version = HiddenField()
    reason = TextAreaField(
        _l("Why is the hold released?"),
        validators=[DataRequired(_l("Please give a reason.")), _LENGTH, no_control_characters],
    )


def hold_context(db, case) -> dict:
    """What the case page shows of the holds: who set or released them and when (the reasons
    are sealed: the confidential page shows them), and the forms for an officer over it."""
    active = holds.active_hold(db, case)
    return {
        "holds": holds.holds_of(db, case),
        "hold_active": active,
        "hold_form": HoldForm(formdata=None),
        "release_form": ReleaseHoldForm(formdata=None, version=active.version if active else ""),
        "can_hold": can_oversee(current_user, case) and case.key_destroyed_at is None,
    }


def _submit(public_id: str, form, change, done: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    back = redirect(url_for("cases.show", public_id=public_id) + "#holds")
    if not form.validate_on_submit():
        flash(form_errors(form) or _("Nothing was saved."), "error")
        return back
    outcome = carry_out(lambda: change(db, case))
    if outcome.error is not None:
        if outcome.status == 404:
            raise outcome.error
        if outcome.status == 409:
            return render_template(
                "cases/hold_conflict.html", case=case, message=outcome.message
            ), 409
        flash(outcome.message, "error")
        return back
    flash(done, "success")
    return back


@bp.post("/<public_id>/holds")
@permission("case.change")
def set_hold(public_id: str):
    form = HoldForm()
    return _submit(
        public_id,
        form,
        lambda db, case: holds.set_hold(db, current_user, case, form.reason.data or ""),
        _("The case is under a legal hold: the retention run keeps it."),
    )


@bp.post("/<public_id>/holds/<int:hold_id>/release")
@permission("case.change")
def release_hold(public_id: str, hold_id: int):
    form = ReleaseHoldForm()
    return _submit(
        public_id,
        form,
        lambda db, case: holds.release_hold(
            db,
            current_user,
            case,
            hold_id,
            small_int(form.version.data) or 0,
            form.reason.data or "",
        ),
        _("The legal hold was released."),
    )
