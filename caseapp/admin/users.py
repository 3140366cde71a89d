"""Administration of accounts and role grants within the administrator's subtree."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.admin import bp
from caseapp.admin.forms import AccountActionForm, GrantForm, UserEditForm, UserForm
from caseapp.admin.views import open_unit_codes
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.labels import role_names
from caseapp.models import User
from caseapp.models.users import ROLES
from caseapp.pagination import paginate
from caseapp.services.accounts import approvals, enrolment
from caseapp.services.accounts import imports as account_imports
from caseapp.services.accounts import users as user_service
from caseapp.services.org.units import unit_in_scope


def _role_choices():
    """The roles to grant, after a prompt: nobody gets a role by leaving the list alone."""
    names = role_names()
    return [("", _("— Choose —")), *((r, names[r]) for r in ROLES)]


def letter_page(letter: enrolment.Letter | None, back_url: str):
    """The printable letter carrying one half of an enrolment code (shown once)."""
    return render_template(
        "admin/enrolment_letter.html", letters=[letter] if letter else [], back_url=back_url
    )


@bp.get("/users")
@permission("admin.users")
def users():
    q = user_service.clean_search(request.args.get("q"))
    rows, page, pages, total = paginate(user_service.visible_users(current_user, q))
    return render_template("admin/users.html", rows=rows, page=page, pages=pages, total=total, q=q)


@bp.route("/users/new", methods=["GET", "POST"])
@permission("admin.users")
def new_user():
    form = UserForm()
    form.role.choices = _role_choices()
    error, status = None, 200
    if form.validate_on_submit():
        db = get_session()

        def create():
            unit = unit_in_scope(db, current_user, form.unit_code.data, "admin.users")
            role_unit = (
                unit_in_scope(db, current_user, form.role_unit_code.data, "admin.users")
                if form.role_unit_code.data
                else None
            )
            return approvals.create_user_with_role(
                db,
                current_user,
                form.username.data,
                form.full_name.data,
                form.email.data or "",
                unit,
                form.role.data or None,
                role_unit,
                form.reason.data or "",
            )

        done = carry_out(create)
        if done.ok:
            made = done.value
            return letter_page(made.letter, url_for("admin.user", user_id=made.user.id))
        error, status = done.message, 400
    elif form.is_submitted():
        status = 400
    return render_template(
        "admin/user_new.html", form=form, error=error, unit_codes=open_unit_codes("admin.users")
    ), status


def _user_page(user: User, edit=None, grant=None, error=None, status=200):
    edit = edit or UserEditForm(obj=user, formdata=None)
    edit.version.data = user.version
    grant = grant or GrantForm(formdata=None, unit_code=user.unit.code)
    grant.role.choices = _role_choices()
    db = get_session()
    return render_template(
        "admin/user.html",
        user=user,
        edit=edit,
        grant=grant,
        action=AccountActionForm(formdata=None),
        error=error,
        unit_codes=open_unit_codes("admin.users"),
        pending=approvals.about_account(db, user),
        code=approvals.code_state(db, user),
        batch=account_imports.batch_of(db, user),
        status_of=approvals.shown_status,
        payload_of=approvals.payload,
    ), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@permission("admin.users")
def user(user_id: int):
    db = get_session()
    target = user_service.get_user_in_scope(db, current_user, user_id)
    if request.method == "GET":
        return _user_page(target)
    form = UserEditForm()
    if not form.validate_on_submit():
        return _user_page(target, edit=form, status=400)
    done = carry_out(
        lambda: user_service.update_user(
            db,
            current_user,
            target,
            form.full_name.data,
            form.email.data or "",
            int(form.version.data),
        )
    )
    if not done.ok:
        return _user_page(target, edit=form, error=done.message, status=done.status)
    flash(_("Saved."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/grants")
@permission("admin.users")
def grant(user_id: int):
    db = get_session()
    target = user_service.get_user_in_scope(db, current_user, user_id)
    form = GrantForm()
    form.role.choices = _role_choices()
    if not form.validate_on_submit():
        return _user_page(target, grant=form, status=400)
    done = carry_out(
        lambda: approvals.request_grant(
            db,
            current_user,
            target,
            form.role.data,
            unit_in_scope(db, current_user, form.unit_code.data, "admin.users"),
            form.reason.data or "",
        )
    )
    if not done.ok:
        return _user_page(target, grant=form, error=done.message, status=done.status)
    flash(
        _("The grant was asked for. It takes effect when a second administrator approves it."),
        "success",
    )
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/grants/<int:grant_id>/revoke")
@permission("admin.users")
def revoke(grant_id: int):
    db = get_session()
    found = user_service.get_grant_in_scope(db, current_user, grant_id)
    target = found.user
    form = AccountActionForm()
    if not form.validate_on_submit():
        return _user_page(target, error=_reason_error(form), status=400)
    done = carry_out(lambda: user_service.revoke_grant(db, current_user, found, form.reason.data))
    if not done.ok:
        return _user_page(target, error=done.message, status=done.status)
    flash(_("Role revoked. The account's sessions were ended."), "success")
    return redirect(url_for("admin.user", user_id=target.id))


def _reason_error(form: AccountActionForm) -> str:
    """What is wrong with the reason (too long, characters not allowed...), not only "missing"."""
    return str(form.reason.errors[0]) if form.reason.errors else _("Please give a reason.")


def _account_action(user_id: int, action: str):
    db = get_session()
    target = user_service.get_user_in_scope(db, current_user, user_id)
    form = AccountActionForm()
    if not form.validate_on_submit():
        return _user_page(target, error=_reason_error(form), status=400)
    reason = form.reason.data
    changes = {
        "disable": (
            lambda: user_service.set_active(db, current_user, target, False, reason),
            _("The account is disabled and its sessions ended."),
        ),
        "enable": (
            lambda: user_service.set_active(db, current_user, target, True, reason),
            _("The account is enabled."),
        ),
    }
    change, message = changes[action]
    done = carry_out(change)
    if not done.ok:
        return _user_page(target, error=done.message, status=done.status)
    flash(message, "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/disable")
@permission("admin.users")
def disable_user(user_id: int):
    return _account_action(user_id, "disable")


@bp.post("/users/<int:user_id>/enable")
@permission("admin.users")
def enable_user(user_id: int):
    return _account_action(user_id, "enable")


@bp.post("/users/<int:user_id>/reset-sign-in")
@permission("admin.users")
def reset_sign_in(user_id: int):
    """Ask for a new enrolment code (password and authenticator): part 1 of it is shown now,
    to hand over; part 2 goes to the second administrator who approves."""
    db = get_session()
    target = user_service.get_user_in_scope(db, current_user, user_id)
    form = AccountActionForm()
    if not form.validate_on_submit():
        return _user_page(target, error=_reason_error(form), status=400)
    done = carry_out(
        lambda: approvals.request_credential_reset(db, current_user, target, form.reason.data)
    )
    if not done.ok:
        return _user_page(target, error=done.message, status=done.status)
    return letter_page(done.value.letter, url_for("admin.user", user_id=user_id))
