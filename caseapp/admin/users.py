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
from caseapp.services.accounts import users as user_service
from caseapp.services.org.units import unit_in_scope


def _role_choices():
    """The roles to grant, after a prompt: nobody gets a role by leaving the list alone."""
    names = role_names()
    return [("", _("— Choose —")), *((r, names[r]) for r in ROLES)]


def _granted_message(target: User) -> str:
    if not user_service.ever_signed_in(get_session(), target):
        return _("Role granted. It takes effect at the account's first sign-in.")
    return _("Role granted. The account's sessions were ended.")


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
            return user_service.create_user_with_role(
                db,
                current_user,
                form.username.data,
                form.full_name.data,
                form.email.data or "",
                unit,
                form.role.data or None,
                role_unit,
            )

        done = carry_out(create)
        if done.ok:
            user, temp, first_grant = done.value
            return render_template(
                "admin/temporary_password.html", user=user, password=temp, grant=first_grant
            )
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
    return render_template(
        "admin/user.html",
        user=user,
        edit=edit,
        grant=grant,
        action=AccountActionForm(formdata=None),
        error=error,
        unit_codes=open_unit_codes("admin.users"),
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
        lambda: user_service.grant_role(
            db,
            current_user,
            target,
            form.role.data,
            unit_in_scope(db, current_user, form.unit_code.data, "admin.users"),
        )
    )
    if not done.ok:
        return _user_page(target, grant=form, error=done.message, status=done.status)
    flash(_granted_message(target), "success")
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
        "reset_second_factor": (
            lambda: user_service.reset_second_factor(db, current_user, target, reason),
            _("The second factor was reset. The person sets it up again at the next sign-in."),
        ),
        "reset_password": (
            lambda: user_service.reset_password(db, current_user, target, reason),
            None,
        ),
    }
    change, message = changes[action]
    done = carry_out(change)
    if not done.ok:
        return _user_page(target, error=done.message, status=done.status)
    if message is None:  # a new temporary password: shown once
        return render_template("admin/temporary_password.html", user=target, password=done.value)
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


@bp.post("/users/<int:user_id>/reset-second-factor")
@permission("admin.users")
def reset_second_factor(user_id: int):
    return _account_action(user_id, "reset_second_factor")


@bp.post("/users/<int:user_id>/reset-password")
@permission("admin.users")
def reset_password(user_id: int):
    return _account_action(user_id, "reset_password")
