"""The signed-in person's own account: password, live sessions, recovery codes, the last
sign-ins and every change to it; for an officer, the changes to an account below them."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from caseapp.access import client_ip, permission
from caseapp.account import bp
from caseapp.account.forms import ChangePasswordForm
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.forms import EmptyForm
from caseapp.pagination import paginate
from caseapp.security.authz import SIGNED_IN
from caseapp.services.accounts import auth, history, sessions

PROBLEM_TEXT = {
    "too_short": lambda cfg: _("At least %(n)d characters.", n=cfg.password_min_length),
    "too_long": lambda cfg: _("At most %(n)d characters.", n=cfg.password_max_length),
    "common": lambda cfg: _("Not a commonly used password."),
    "contains_username": lambda cfg: _("Not containing your user name."),
    "contains_name": lambda cfg: _("Not containing your name."),
    "too_simple": lambda cfg: _("Not made of only a few repeated characters."),
}


def password_rules() -> list[str]:
    cfg = current_app.extensions["caseapp.settings"]
    return [
        PROBLEM_TEXT[k](cfg)
        for k in ("too_short", "too_long", "common", "contains_username", "too_simple")
    ]


def _end_browser_session() -> None:
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


@bp.get("/")
@permission(SIGNED_IN)
def index():
    db = get_session()
    rows, page, pages, _total = paginate(history.changes_to(current_user))
    return render_template(
        "account/index.html",
        live=sessions.live_sessions(db, current_user),
        current_id=current_user.session_record.id,
        recovery_left=auth.remaining_recovery_codes(db, current_user),
        sign_ins=history.recent_sign_ins(db, current_user),
        failures=history.recent_failures(db, current_user),
        changes=history.describe(db, current_user, rows),
        page=page,
        pages=pages,
        form=EmptyForm(),
    )


@bp.get("/people/<int:user_id>")
@permission("case.oversee")
def person(user_id: int):
    """For an officer above a person (told of changes to their account): those changes."""
    db = get_session()
    someone = history.overseen_person(db, current_user, user_id)
    rows, page, pages, _total = paginate(history.changes_to(someone, own=False))
    return render_template(
        "account/person.html",
        person=someone,
        changes=history.describe(db, current_user, rows),
        page=page,
        pages=pages,
    )


@bp.route("/password", methods=["GET", "POST"])
@permission(SIGNED_IN)
def change_password():
    form = ChangePasswordForm()
    cfg = current_app.extensions["caseapp.settings"]
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        problems = auth.password_problems(
            form.new.data, current_user.username, current_user.full_name
        )
        if problems:
            errors = [PROBLEM_TEXT[p](cfg) for p in problems]
            status = 400
        else:
            done = carry_out(
                lambda: auth.change_password(
                    get_session(), current_user, form.current.data, form.new.data, client_ip()
                ),
                keep=(auth.WrongCurrentPassword,),
            )  # the failure counts towards the lock
            if getattr(done.error, "locked", False):
                _end_browser_session()
                flash(_("Too many failed attempts. Sign in again later."), "error")
                return redirect(url_for("auth.login"))
            if not done.ok:
                errors, status = [done.message], 400
            else:
                _end_browser_session()
                flash(
                    _(
                        "Your password was changed and every session ended. "
                        "Sign in with the new password."
                    ),
                    "info",
                )
                return redirect(url_for("auth.login"))
    elif form.is_submitted():
        status = 400
        if form.new.data:  # say everything wrong with it at once, not only the mismatch
            errors = [
                PROBLEM_TEXT[p](cfg)
                for p in auth.password_problems(
                    form.new.data, current_user.username, current_user.full_name
                )
            ]
    return render_template(
        "account/password.html", form=form, errors=errors, rules=password_rules()
    ), status


@bp.post("/sign-out-everywhere")
@permission(SIGNED_IN)
def sign_out_everywhere():
    form = EmptyForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.index"))
    db = get_session()
    auth.sign_out_everywhere(db, current_user)
    db.commit()
    _end_browser_session()
    flash(_("Every session of your account has ended."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/recovery-codes")
@permission(SIGNED_IN)
def renew_recovery_codes():
    form = EmptyForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.index"))
    db = get_session()
    codes = auth.regenerate_recovery_codes(db, current_user)
    db.commit()
    return render_template("auth/recovery_codes.html", codes=codes, form=EmptyForm())
