"""Routes that add to a case: notes, attachments (upload and download), consent, exclusions."""

from __future__ import annotations

from urllib.parse import quote

from flask import (
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.cases import bp
from caseapp.cases.actions import apply, form_errors
from caseapp.cases.forms import (
    AssignForm,
    AttachmentForm,
    ConsentForm,
    ExclusionForm,
    LiftExclusionForm,
    NoteForm,
    ReasonForm,
    WithdrawConsentForm,
)
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.forms import small_int
from caseapp.services.accounts import approvals
from caseapp.services.cases import content as case_content
from caseapp.services.cases import records as case_records
from caseapp.services.cases.access import can_read_content, get_case


def _back(public_id: str, confidential: bool = False):
    """Back to the case; to its confidential page when the change was made there (an officer
    returns to it while the reason they stated is in force, see services/cases/content.py)."""
    if confidential and can_read_content(
        current_user, get_case(get_session(), current_user, public_id)
    ):
        return redirect(url_for("cases.confidential", public_id=public_id))
    return redirect(url_for("cases.show", public_id=public_id))


@bp.post("/<public_id>/notes")
@permission("case.change")
def add_note(public_id: str):
    case = get_case(get_session(), current_user, public_id)
    form = NoteForm()
    corrects = small_int(form.corrects_id.data)
    return apply(
        form,
        lambda db: case_records.add_note(db, current_user, case, form.body.data, corrects),
        _("Note added."),
        _("The note was not saved."),
        lambda: _back(public_id, True),
    )


@bp.post("/<public_id>/attachments")
@permission("case.change")
def add_attachment(public_id: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    form = AttachmentForm()
    if not form.validate_on_submit():
        flash(form_errors(form) or _("Choose a file."), "error")
        return _back(public_id, True)
    upload = form.file.data
    stored = []  # the sealed file, removed again if its row is not committed

    def attach():
        attachment = case_records.add_attachment(
            db, current_user, case, upload.filename, upload.mimetype, upload.stream
        )
        stored.append(attachment)
        return attachment

    try:
        outcome = carry_out(attach)
    except Exception:
        for attachment in stored:
            case_records.discard_stored_file(attachment)
        raise
    if not outcome.ok:
        flash(outcome.message, "error")
        return _back(public_id, True)
    flash(_("File attached."), "success")
    return _back(public_id, True)


@bp.route("/<public_id>/attachments/<uid>", methods=["GET", "POST"])
@permission("case.read")
def download(public_id: str, uid: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    reason = ""
    if request.method == "POST":
        form = ReasonForm()
        if not form.validate_on_submit():
            flash(_("State why you need to open the confidential content."), "error")
            return _back(public_id)
        reason = form.reason.data
    # Committed (the download audited) before a byte leaves.
    outcome = carry_out(lambda: case_content.open_attachment(db, current_user, case, uid, reason))
    if isinstance(outcome.error, case_content.AttachmentFileMissing):
        return _file_missing(case, outcome.error)
    if outcome.error is not None:
        if outcome.status == 404:
            raise outcome.error
        flash(outcome.message, "error")
        return _back(public_id)
    assert outcome.value is not None
    name, content_type, size, chunks = outcome.value
    # A stored name may hold anything the uploader's client sent (a newline would break the
    # header): the plain-ASCII fallback keeps printable characters only.
    name = "".join(ch for ch in name if ch.isprintable()) or "tep-dinh-kem"
    ascii_name = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in name)
    return Response(
        stream_with_context(chunks),
        mimetype=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(name)}",
            "Content-Length": str(size),
            "X-Content-Type-Options": "nosniff",
        },
    )


def _file_missing(case, exc: case_content.AttachmentFileMissing):
    """A clear page for the person, and for the operators a line that finds the file: ids and
    the storage name only (never the file's name, which is confidential)."""
    current_app.logger.error(
        "attachment file missing: attachment %s of case %s, storage name %s, request %s",
        exc.attachment_id,
        exc.case_id,
        exc.storage_name,
        g.get("request_id", ""),
    )
    return render_template("cases/attachment_missing.html", case=case, message=exc.message), 404


@bp.post("/<public_id>/consents")
@permission("case.write")
def add_consent(public_id: str):
    case = get_case(get_session(), current_user, public_id)
    form = ConsentForm()
    form.fill_choices()
    return apply(
        form,
        lambda db: case_records.record_consent(
            db,
            current_user,
            case,
            form.party.data,
            form.purpose.data,
            form.given_on.data,
            form.about.data or None,
        ),
        _("Consent recorded."),
        _("The consent was not saved."),
        lambda: _back(public_id),
    )


@bp.post("/<public_id>/consents/<int:consent_id>/withdraw")
@permission("case.write")
def withdraw_consent(public_id: str, consent_id: int):
    case = get_case(get_session(), current_user, public_id)
    form = WithdrawConsentForm()
    return apply(
        form,
        lambda db: case_records.withdraw_consent(
            db, current_user, case, consent_id, form.withdrawn_on.data
        ),
        _("Consent withdrawn."),
        _("Enter a date."),
        lambda: _back(public_id),
        not_found_is_404=True,
    )


@bp.post("/<public_id>/exclusions/<int:exclusion_id>/lift")
@permission("case.oversee")
def lift_exclusion(public_id: str, exclusion_id: int):
    case = get_case(get_session(), current_user, public_id)
    form = LiftExclusionForm()
    return apply(
        form,
        lambda db: approvals.request_exclusion_lift(
            db, current_user, case, exclusion_id, form.reason.data
        ),
        _(
            "Lifting the exclusion was asked for. It takes effect when a second officer "
            "or administrator approves it."
        ),
        _("Please give a reason."),
        lambda: _back(public_id),
        not_found_is_404=True,
    )


@bp.post("/<public_id>/assign")
@permission("case.change")
def assign(public_id: str):
    case = get_case(get_session(), current_user, public_id)
    form = AssignForm()
    form.handler.choices = [
        (u.id, u.full_name) for u in case_records.handlers_available(get_session(), case)
    ]
    return apply(
        form,
        lambda db: case_records.assign(db, current_user, case, form.handler.data),
        _("The handler was changed."),
        _("Choose a focal point of the school."),
        lambda: _back(public_id),
    )


@bp.post("/<public_id>/exclusions")
@permission("case.change")
def add_exclusion(public_id: str):
    case = get_case(get_session(), current_user, public_id)
    form = ExclusionForm()
    return apply(
        form,
        lambda db: case_records.exclude_person(
            db, current_user, case, form.person.data, form.reason.data
        ),
        _("That person can no longer see this case."),
        _("Choose a person."),
        lambda: _back(public_id),
    )
