"""Sign-in in two steps (password, then TOTP or a recovery code), enrolment and sign-out."""

from __future__ import annotations

import segno
from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from caseapp.access import (
    PENDING_SECOND_FACTOR,
    PUBLIC,
    client_ip,
    local_target,
    permission,
    sign_in_session,
)
from caseapp.auth import bp
from caseapp.auth.forms import CodeForm, LoginForm
from caseapp.db import get_session
from caseapp.errors import SignInFailed, SignInThrottled, ValidationFailed
from caseapp.form_submit import carry_out
from caseapp.forms import EmptyForm
from caseapp.runtime import settings
from caseapp.security import totp
from caseapp.services.accounts import auth, sessions

GENERIC_FAILURE = "generic"


def _failure_message() -> str:
    return _("Sign-in failed. Check your user name, password and code, then try again.")


def _throttled_message(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return _("Too many failed attempts. Try again in %(n)d minutes.", n=minutes)


@bp.route("/login", methods=["GET", "POST"])
@permission(PUBLIC)
def login():
    if current_user.is_authenticated and current_user.session_record.second_factor_at:
        return redirect(url_for("main.index"))
    form = LoginForm()
    error, status = None, 200
    if form.validate_on_submit():
        # Sign-in keeps its own handling, not carry_out: every outcome commits (a failure counts
        # towards the throttle), and each refusal answers differently (429, a wait, a sign-out).
        db = get_session()
        try:
            user, token = auth.check_password(
                db,
                form.username.data,
                form.password.data,
                client_ip(),
                request.user_agent.string or "",
            )
        except SignInThrottled as exc:
            db.commit()
            error, status = _throttled_message(exc.retry_after), 429
        except SignInFailed:
            db.commit()
            error, status = _failure_message(), 200
        else:
            db.commit()
            record = sessions.load_session(db, token)
            sign_in_session(user, token, record)
            target = "auth.second_factor" if user.has_second_factor else "auth.enrol"
            return redirect(url_for(target))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/login/2fa", methods=["GET", "POST"])
@permission(PENDING_SECOND_FACTOR)
def second_factor():
    if current_user.session_record.second_factor_at is not None:
        return redirect(url_for("main.index"))
    if not current_user.has_second_factor:
        return redirect(url_for("auth.enrol"))
    form = CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        db = get_session()
        try:
            token = auth.check_second_factor(
                db, current_user, current_user.session_record, form.code.data, client_ip()
            )
        except SignInThrottled as exc:
            sessions.close_session(db, current_user.session_record, "throttled")
            db.commit()
            logout_user()
            session.clear()
            flash(_throttled_message(exc.retry_after), "error")
            return redirect(url_for("auth.login")), 303
        except auth.SecondFactorReused:
            db.commit()
            error = _(
                "This code has already been used. Wait for the next code in your "
                "authenticator app, then enter it."
            )
        except SignInFailed:
            db.commit()
            error = _failure_message()
        else:
            db.commit()
            target = local_target(session.pop("next", None)) or url_for("main.index")
            sign_in_session(current_user._get_current_object(), token, current_user.session_record)
            return redirect(target)
    elif request.method == "POST":
        status = 400
    return render_template("auth/second_factor.html", form=form, error=error), status


@bp.route("/login/enrol", methods=["GET", "POST"])
@permission(PENDING_SECOND_FACTOR)
def enrol():
    if current_user.has_second_factor:
        return redirect(url_for("auth.second_factor"))
    db = get_session()
    secret = auth.offer_enrolment(db, current_user, current_user.session_record)
    db.commit()
    form = CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: auth.confirm_enrolment(
                db, current_user, current_user.session_record, form.code.data, client_ip()
            ),
            keep=(ValidationFailed,),  # a wrong code counts towards the lock: kept
        )
        if not outcome.ok:
            error, status = outcome.message, 200
        else:
            sign_in_session(
                current_user._get_current_object(),
                outcome.value.token,
                current_user.session_record,
            )
            return render_template(
                "auth/recovery_codes.html", codes=outcome.value.recovery_codes, form=EmptyForm()
            )
    elif request.method == "POST":
        status = 400
    uri = totp.provisioning_uri(secret, current_user.username, settings().totp_issuer)
    qr_svg = segno.make(uri, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", omitsize=True
    )
    return render_template(
        "auth/enrol.html",
        form=form,
        error=error,
        qr_svg=qr_svg,
        secret=_grouped(totp.to_base32(secret)),
        uri=uri,
    ), status


def _grouped(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@bp.post("/logout")
@permission(PENDING_SECOND_FACTOR)
def logout():
    form = EmptyForm()
    if form.validate_on_submit():
        db = get_session()
        auth.sign_out(db, current_user, current_user.session_record)
        db.commit()
        logout_user()
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))
