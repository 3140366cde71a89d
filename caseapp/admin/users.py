"""Administration of accounts and role grants within the administrator's subtree."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_

from caseapp.access import permission
from caseapp.admin import bp
from caseapp.admin.forms import AccountActionForm, GrantForm, UserEditForm, UserForm
from caseapp.admin.views import open_unit_codes, paginate, unit_in_scope_by_code
from caseapp.db import get_session
from caseapp.errors import DomainError, NotFound
from caseapp.labels import role_names
from caseapp.models import Grant, User
from caseapp.models.users import ROLES
from caseapp.services.accounts import users as user_service


def _role_choices():
    names = role_names()
    return [(r, names[r]) for r in ROLES]


@bp.get("/users")
@permission("admin.users")
def users():
    stmt = user_service.visible_users(current_user)
    # No NUL: PostgreSQL refuses it in a query parameter.
    q = (request.args.get("q") or "").replace("\x00", "").strip()[:64]
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(User.username.like(like), User.full_name.ilike(f"%{q}%")))
    rows, page, pages, total = paginate(stmt)
    return render_template("admin/users.html", rows=rows, page=page, pages=pages, total=total,
                           q=q)


@bp.route("/users/new", methods=["GET", "POST"])
@permission("admin.users")
def new_user():
    form = UserForm()
    error, status = None, 200
    if form.validate_on_submit():
        unit, error = unit_in_scope_by_code(form.unit_code.data, "admin.users")
        if unit is not None:
            db = get_session()
            try:
                user, temp = user_service.create_user(db, current_user, form.username.data,
                                                      form.full_name.data, form.email.data or "",
                                                      unit)
            except DomainError as exc:
                db.rollback()
                error = exc.message
            else:
                db.commit()
                return render_template("admin/temporary_password.html", user=user,
                                       password=temp)
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("admin/user_new.html", form=form, error=error,
                           unit_codes=open_unit_codes("admin.users")), status


def _user_page(user: User, edit=None, grant=None, error=None, status=200):
    edit = edit or UserEditForm(obj=user, formdata=None)
    edit.version.data = user.version
    grant = grant or GrantForm(formdata=None)
    grant.role.choices = _role_choices()
    return render_template("admin/user.html", user=user, edit=edit, grant=grant,
                           action=AccountActionForm(formdata=None), error=error,
                           unit_codes=open_unit_codes("admin.users")), status


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
    try:
        user_service.update_user(db, current_user, target, form.full_name.data,
                                 form.email.data or "", int(form.version.data))
    except DomainError as exc:
        db.rollback()
        return _user_page(db.get(User, user_id), edit=form, error=exc.message, status=exc.status)
    db.commit()
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
    unit, error = unit_in_scope_by_code(form.unit_code.data, "admin.users")
    if unit is None:
        return _user_page(target, grant=form, error=error, status=400)
    try:
        user_service.grant_role(db, current_user, target, form.role.data, unit)
    except DomainError as exc:
        db.rollback()
        return _user_page(db.get(User, user_id), grant=form, error=exc.message,
                          status=exc.status)
    db.commit()
    flash(_("Role granted. The account's sessions were ended."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/grants/<int:grant_id>/revoke")
@permission("admin.users")
def revoke(grant_id: int):
    db = get_session()
    found = db.get(Grant, grant_id)
    if found is None:
        raise NotFound()
    target = user_service.get_user_in_scope(db, current_user, found.user_id)
    form = AccountActionForm()
    if not form.validate_on_submit():
        return _user_page(target, error=_reason_error(form), status=400)
    try:
        user_service.revoke_grant(db, current_user, found, form.reason.data)
    except DomainError as exc:
        db.rollback()
        return _user_page(db.get(User, target.id), error=exc.message, status=exc.status)
    db.commit()
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
    try:
        if action == "disable":
            user_service.set_active(db, current_user, target, False, reason)
            message = _("The account is disabled and its sessions ended.")
        elif action == "enable":
            user_service.set_active(db, current_user, target, True, reason)
            message = _("The account is enabled.")
        elif action == "reset_second_factor":
            user_service.reset_second_factor(db, current_user, target, reason)
            message = _("The second factor was reset. The person sets it up again at the next "
                        "sign-in.")
        else:
            temp = user_service.reset_password(db, current_user, target, reason)
            db.commit()
            return render_template("admin/temporary_password.html", user=target, password=temp)
    except DomainError as exc:
        db.rollback()
        return _user_page(db.get(User, user_id), error=exc.message, status=exc.status)
    db.commit()
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
