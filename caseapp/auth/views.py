"""Sign-in in two steps (password, then TOTP or a recovery code), enrolment, the first sign-in
with an enrolment code, and sign-out."""

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
from caseapp.account.views import PROBLEM_TEXT, password_rules
from caseapp.auth import bp
from caseapp.auth.forms import CodeForm, EnrolmentCodeForm, LoginForm
from caseapp.db import get_session
from caseapp.errors import SignInFailed, SignInThrottled, ValidationFailed
from caseapp.form_submit import carry_out
from caseapp.forms import EmptyForm
from caseapp.runtime import settings
from caseapp.security import totp
from caseapp.services.accounts import auth, enrolment, sessions
from config import Settings

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
        except auth.TemporaryPasswordWithdrawn:
            db.commit()
            error = _(
                "This account still has a temporary password that an administrator was "
                "shown. For your safety it no longer signs in: ask your administrator for a "
                "sign-in reset. You will receive an enrolment code in two parts."
            )
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


def _code_failure_message() -> str:
    return _(
        "The code was not accepted. Check your user name and both parts of the code, then try "
        "again. A code works only once, and only for 72 hours after part 2 was issued."
    )


@bp.app_template_global()
def enrolment_address() -> str:
    """The address of the first sign-in page as the service publishes it (its base URL), for
    the printed letters. Without a configured base URL, the address the letter's page was
    reached by (behind the proxy: its host and scheme), never the development default."""
    if settings().base_url == Settings.base_url:
        return url_for("auth.enrolment_code", _external=True)
    return settings().base_url.rstrip("/") + url_for("auth.enrolment_code")


@bp.route("/login/code", methods=["GET", "POST"])
@permission(PUBLIC)
def enrolment_code():
    """First sign-in with an enrolment code: part 1 and part 2 from two different people, a
    password of one's own; then the authenticator is enrolled (auth.enrol)."""
    if current_user.is_authenticated and current_user.session_record.second_factor_at:
        return redirect(url_for("main.index"))
    form = EnrolmentCodeForm()
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        # Like sign-in: every failure commits (it counts towards the throttle); a refused
        # password rolls back (the code stays usable).
        db = get_session()
        try:
            user, token = enrolment.redeem(
                db,
                form.username.data,
                form.first_half.data,
                form.second_half.data,
                form.new_password.data,
                form.repeat.data,
                client_ip(),
                request.user_agent.string or "",
            )
        except SignInThrottled as exc:
            db.commit()
            errors, status = [_throttled_message(exc.retry_after)], 429
        except SignInFailed:
            db.commit()
            errors = [_code_failure_message()]
        except enrolment.PasswordRefused as exc:
            db.rollback()
            cfg = settings()
            errors = [exc.message] + [PROBLEM_TEXT[p](cfg) for p in exc.problems]
            status = 400
        except ValidationFailed as exc:
            db.rollback()
            errors, status = [exc.message], 400
        else:
            if current_user.is_authenticated:  # someone's half-finished sign-in on this browser
                sessions.close_session(db, current_user.session_record, "logout")
            db.commit()
            record = sessions.load_session(db, token)
            sign_in_session(user, token, record)
            flash(
                _("Your password is set. Now set up the authenticator app on your phone."),
                "info",
            )
            return redirect(url_for("auth.enrol"), 303)
    elif request.method == "POST":
        status = 400
    return render_template(
        "auth/enrolment_code.html", form=form, errors=errors, rules=password_rules()
    ), status


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
