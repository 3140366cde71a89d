"""The public self-report pages: find a school, its report form, the receipt (returned by the
POST itself, never by a URL holding the code), the receipt as an image, the follow page.

No page here touches the Flask session (no cookie is ever set); the language comes from the
``lang`` query parameter, carried in every link and form action."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, make_response, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from caseapp.access import PUBLIC, client_ip, permission
from caseapp.clock import local_today
from caseapp.db import get_session
from caseapp.errors import NotFound, ValidationFailed
from caseapp.intake import bp, words
from caseapp.intake.forms import (
    HONEYPOT,
    REQUEST_BYTES_MAX,
    TokenCheck,
    check_form_token,
    form_token,
    reply_token,
    report_input,
    report_of_reply_token,
    signed_form,
    uploads,
)
from caseapp.models import Unit
from caseapp.models.selfreports import (
    CONTACT_MAX,
    DETAILS_MAX,
    MESSAGE_MAX,
    NAME_MAX,
    PHOTOS_MAX,
    SelfReport,
    SelfReportPhoto,
)
from caseapp.public_paths import is_public_path
from caseapp.runtime import settings
from caseapp.services.selfreports import follow, seal
from caseapp.services.selfreports import intake as intake_service
from caseapp.services.selfreports import photos as photo_store
from caseapp.services.selfreports.intake import ReportInput, ReportsThrottled
from caseapp.services.selfreports.receipt_image import receipt_png


@bp.app_context_processor
def _public_globals() -> dict:
    # Every page under /r, the error pages of unrouted paths there too (caseapp.errors).
    if not is_public_path(request.path):
        return {}
    chosen = str(get_locale())
    default = current_app.extensions["caseapp.settings"].default_locale
    return {
        "lang_args": {} if chosen == default else {"lang": chosen},
        "other_lang": "en" if chosen == "vi" else "vi",
        "words": words,
        "limits_public": {
            "details": DETAILS_MAX,
            "name": NAME_MAX,
            "contact": CONTACT_MAX,
            "message": MESSAGE_MAX,
            "photos": PHOTOS_MAX,
        },
    }


@bp.before_request
def _public_request_limit() -> None:
    # Three phone photos and the form: more than the staff pages' MAX_CONTENT_LENGTH. A body
    # past it is a 413, answered by the public error page (caseapp.errors).
    request.max_content_length = REQUEST_BYTES_MAX


def _from_another_site() -> bool:
    """A POST another web page made the reporter's browser send (a hidden form): the browser
    says so in Sec-Fetch-Site, or names another origin in Origin. "Origin: null" proves
    nothing: browsers send it for our own forms, whose pages say Referrer-Policy no-referrer."""
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        return True
    origin = request.headers.get("Origin", "").strip()
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() != request.host.lower()


@bp.before_request
def _same_site_posts_only():
    # Another site must not send reports, guess codes (using up the reporter's own guesses)
    # or post messages from a pupil's browser. Refused before anything is read or counted.
    if request.method == "POST" and _from_another_site():
        return render_template(
            "intake/error.html",
            status=403,
            title=_("Not sent"),
            text=_(
                "This form was sent from another website, so nothing was sent. Open your "
                "school's page on this site and try again."
            ),
        ), 403
    return None


def _not_found():
    return render_template("intake/not_found.html"), 404


def _school(code: str) -> Unit | None:
    try:
        return intake_service.school_by_code(get_session(), code)
    except NotFound:
        return None


def _form_page(school: Unit, data: ReportInput | None = None, error: str = "", status=200):
    return render_template(
        "intake/school.html",
        school=school,
        data=data or ReportInput(),
        error=error,
        token=form_token("report", school=school.code),
    ), status


def _receipt(school: Unit, code: str, danger: bool):
    return render_template(
        "intake/receipt.html",
        school=school,
        code=code,
        shown=seal.grouped(code),
        day=local_today(),
        danger=danger,
        # The image draws what this token names, nothing a POST could choose.
        token=form_token("receipt", code=code, school=school.code),
    )


@bp.get("")
@permission(PUBLIC)
def find():
    typed = request.args.get("q", "")[:100]
    schools = intake_service.find_schools(get_session(), typed) if typed.strip() else []
    return render_template("intake/find.html", typed=typed, schools=schools)


@bp.get("/exit")
@permission(PUBLIC)
def exit_page():
    return render_template("intake/exit.html")


@bp.get("/<school_code>")
@permission(PUBLIC)
def school(school_code: str):
    found = _school(school_code)
    return _form_page(found) if found is not None else _not_found()


@bp.post("/<school_code>")
@permission(PUBLIC)
def submit(school_code: str):
    found = _school(school_code)
    if found is None:
        return _not_found()
    form = request.form
    data = report_input(form)
    if form.get(HONEYPOT):
        # A script filled the field no person sees: it gets a receipt like anyone, and
        # nothing is stored.
        return _receipt(found, seal.new_receipt_code(), danger=False)
    checked = check_form_token(
        form.get("token", ""),
        "report",
        settings().selfreport_min_fill_seconds,
        school=found.code,
    )
    if checked is TokenCheck.INVALID:
        return _form_page(
            found,
            data,
            _("This form was open for too long. Please check your answers and send it again."),
            400,
        )
    if checked is TokenCheck.TOO_FAST:
        return _form_page(
            found,
            data,
            _("That was very quick. Please check your answers and press Send again."),
            400,
        )
    session = get_session()
    try:
        report, code = intake_service.submit(
            session, found.code, data, uploads(request.files), client_ip()
        )
    except ReportsThrottled:
        session.rollback()
        return render_template("intake/throttled.html", school=found), 429
    except ValidationFailed as exc:
        session.rollback()
        return _form_page(found, data, exc.message, 400)
    _commit_or_discard(list(report.photos))
    return _receipt(found, code, danger=report.danger)


def _commit_or_discard(new_photos: list[SelfReportPhoto]) -> None:
    try:
        get_session().commit()
    except BaseException:
        photo_store.discard(new_photos)
        raise


@bp.post("/receipt.png")
@permission(PUBLIC)
def receipt_image():
    # Only a receipt this service drew (its code and school signed in the token) is drawn
    # again: no form field chooses the code or the school.
    checked, named = signed_form(request.form.get("token", ""), "receipt")
    code = seal.normalise_code(str(named.get("code", ""))) if checked is TokenCheck.OK else None
    found = _school(str(named.get("school", ""))) if code is not None else None
    if code is None or found is None:
        return _not_found()
    png = receipt_png(code, _("Receipt code"), found.name, _("Sent on"), local_today())
    response = make_response(png)
    response.mimetype = "image/png"
    response.headers["Content-Disposition"] = 'attachment; filename="receipt.png"'
    return response


@bp.get("/follow")
@permission(PUBLIC)
def follow_page():
    return render_template("intake/follow.html", error="")


def _status_page(report: SelfReport, token: str, note: str = ""):
    return render_template(
        "intake/follow_status.html",
        view=follow.view_of(get_session(), report),
        token=token,
        note=note,
    )


@bp.post("/follow")
@permission(PUBLIC)
def follow_code():
    session = get_session()
    report = follow.find_by_code(session, request.form.get("code", "")[:100], client_ip())
    session.commit()  # the throttle's counters
    if report is None:
        # A wrong code, an expired one and a blocked guess read exactly the same.
        return render_template(
            "intake/follow.html",
            error=_(
                "We could not find a report with this code. Check the 16 digits and try "
                "again, or wait a little."
            ),
        )
    return _status_page(report, reply_token(report.uid))


@bp.post("/follow/message")
@permission(PUBLIC)
def follow_message():
    """A message from the reporter. The reply token is never signed again here: it lives its
    hour from the moment the code was typed, however many messages are refused. A refusal
    never shows the conversation: only what went wrong (and the form again, with the same
    token, when the message itself was wrong)."""
    session = get_session()
    token = request.form.get("token", "")
    uid = report_of_reply_token(token)
    report = follow.report_by_uid(session, uid) if uid else None
    if report is None or follow.expired(session, report):
        return _follow_refused(_("This page was open for too long. Please enter your code again."))
    if follow.closed_on(session, report) is not None:
        return _follow_refused(
            _("This report is closed, so no new messages can be added. In danger? Call 111.")
        )
    body = request.form.get("message", "")[:20_000]
    try:
        _message, stored = follow.add_message(
            session, report, body, uploads(request.files), address=client_ip()
        )
    except ValidationFailed as exc:  # MessagesThrottled too (429)
        session.rollback()
        return render_template(
            "intake/follow_message.html", token=token, error=exc.message, typed=body
        ), exc.status
    _commit_or_discard(stored)
    return _status_page(report, token, note=_("Your message was sent."))


def _follow_refused(error: str):
    return render_template("intake/follow.html", error=error), 400
