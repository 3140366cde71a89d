"""Self-report screens of the school side: the reports waiting (and those decided lately), a
report's page with its decisions, a photo, and the reply from a case's page."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session
from caseapp.errors import Conflict
from caseapp.form_submit import carry_out
from caseapp.forms import small_int
from caseapp.labels import selfreport_staff_names
from caseapp.models.selfreports import SelfReport
from caseapp.selfreports import bp
from caseapp.selfreports.forms import AcceptForm, CloseForm, MergeForm, ReplyForm, SpamForm
from caseapp.services.selfreports import conversation, decisions, handling, inbox

HANDLE = "selfreport.handle"


@bp.get("/")
@permission(HANDLE)
def index():
    db = get_session()
    tab = "decided" if request.args.get("tab") == "decided" else "open"
    page = small_int(request.args.get("page")) or 1
    listing = (inbox.decided if tab == "decided" else inbox.inbox)(db, current_user, page)
    return render_template(
        "selfreports/list.html",
        listing=listing,
        tab=tab,
        names=selfreport_staff_names(),
        choices=handling.choices_in_words,
    )


def _report(report_uid: str) -> SelfReport:
    return inbox.get_report(get_session(), current_user, report_uid)


def _accept_form(report: SelfReport, formdata=None) -> AcceptForm:
    defaults = decisions.accept_defaults(report)
    form = AcceptForm(formdata=formdata, obj=defaults, version=report.version)
    form.fill_choices()
    return form


@bp.get("/<report_uid>")
@permission(HANDLE)
def show(report_uid: str):
    db = get_session()
    report = _report(report_uid)
    view = handling.open_report(db, current_user, report)
    db.commit()  # the read (and the first opening) is audited before a word is shown
    return _page(view)


def _page(view: handling.ReportView):
    report = view.report
    school_side = decisions.school_side_readers(get_session(), report) if report.is_open else []
    return (
        render_template(
            "selfreports/show.html",
            view=view,
            report=report,
            names=selfreport_staff_names(),
            lines=handling.choices_in_words(report),
            may_reply=conversation.may_reply(current_user, report),
            reply_form=ReplyForm(formdata=None, version=report.version),
            accept_form=_accept_form(report),
            school_side=school_side,
            merge_form=MergeForm(formdata=None, version=report.version),
            close_form=CloseForm(formdata=None, version=report.version),
            spam_form=SpamForm(formdata=None, version=report.version),
        ),
        200,
        {"Cache-Control": "no-store"},
    )


@bp.get("/<report_uid>/photos/<photo_uid>")
@permission(HANDLE)
def photo(report_uid: str, photo_uid: str):
    db = get_session()
    report = _report(report_uid)
    content_type, size, chunks = handling.open_photo(db, current_user, report, photo_uid)
    db.commit()  # the download is audited before the file leaves
    return Response(
        chunks,
        mimetype=content_type,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="anh-{photo_uid[:8]}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _conflict(report_uid: str):
    """A decision made on a stale page: nothing changed; the way forward is the report as it
    is now."""
    return render_template("selfreports/conflict.html", report_uid=report_uid), 409


def _decide(report_uid: str, form, change, done: str, after, report=None, back=None):
    """Validate ``form``, run ``change(db, report, version)`` (one service call), commit and
    go ``after(value)``; a stale version is the 409 page, another refusal a message on the
    report's page (or ``back``)."""
    db = get_session()
    report = report or _report(report_uid)
    back = back or url_for("selfreports.show", report_uid=report_uid)
    if not form.validate_on_submit():
        errors = " ".join(str(e) for errs in form.errors.values() for e in errs)
        flash(errors or _("The form is incomplete. Reload the page."), "error")
        return redirect(back + "#messages")
    version = small_int(form.version.data) or 0
    outcome = carry_out(lambda: change(db, report, version))
    if isinstance(outcome.error, Conflict):
        return _conflict(report_uid)
    if outcome.error is not None:
        if outcome.status == 404 and not outcome.message:
            raise outcome.error
        flash(outcome.message, "error")
        return redirect(back + "#messages")
    flash(done, "success")
    return redirect(after(outcome.value))


def _case_url(case) -> str:
    return url_for("cases.show", public_id=case.public_id)


@bp.post("/<report_uid>/accept")
@permission(HANDLE)
def accept(report_uid: str):
    form = AcceptForm()
    form.fill_choices()

    def facts() -> decisions.AcceptFacts:
        return decisions.AcceptFacts(
            violence_types=list(form.violence_types.data or []),
            setting=form.setting.data,
            reporter_kind=form.reporter_kind.data,
            risk_level=form.risk_level.data,
            serious_risk_to_child=bool(form.serious_risk_to_child.data),
            child=bool(form.child.data),
            harmed_sex=form.harmed_sex.data,
            harmed_age_band=form.harmed_age_band.data,
            harmed_role=form.harmed_role.data,
            perpetrator_sex=form.perpetrator_sex.data,
            perpetrator_age_band=form.perpetrator_age_band.data,
            perpetrator_relationship=form.perpetrator_relationship.data,
        )

    # Each person the form offered to exclude comes back as "offered"; those left unticked are
    # kept. Anyone not offered (a raw request, or someone granted since) is excluded.
    offered = {small_int(v) for v in request.form.getlist("offered")}
    ticked = {small_int(v) for v in request.form.getlist("exclude")}
    keep = {i for i in offered - ticked if i}

    return _decide(
        report_uid,
        form,
        lambda db, report, version: decisions.accept_as_case(
            db, current_user, report, facts(), version, keep=keep
        ),
        _("The report was accepted as a new case."),
        _case_url,
    )


@bp.post("/<report_uid>/merge")
@permission(HANDLE)
def merge(report_uid: str):
    form = MergeForm()
    return _decide(
        report_uid,
        form,
        lambda db, report, version: decisions.merge_into_case(
            db, current_user, report, form.reference.data or "", version
        ),
        _("The report was added to the case."),
        _case_url,
    )


@bp.post("/<report_uid>/close")
@permission(HANDLE)
def close(report_uid: str):
    form = CloseForm()
    return _decide(
        report_uid,
        form,
        lambda db, report, version: decisions.close_report(
            db, current_user, report, form.message.data or "", version
        ),
        _("The report was closed and the reporter told."),
        lambda _report: url_for("selfreports.index"),
    )


@bp.post("/<report_uid>/spam")
@permission(HANDLE)
def spam(report_uid: str):
    return _decide(
        report_uid,
        SpamForm(),
        lambda db, report, version: decisions.mark_spam(db, current_user, report, version),
        _("The report was marked as spam."),
        lambda _report: url_for("selfreports.index"),
    )


@bp.post("/<report_uid>/reply")
@permission(HANDLE)
def reply(report_uid: str):
    """A reply from the report's page, or from the case's confidential page (``back`` =
    "case"), which it returns to."""
    form = ReplyForm()
    to_case = form.back.data == "case"
    report = conversation.report_to_answer(get_session(), current_user, report_uid)
    back = None
    if to_case and report.case is not None:
        back = url_for("cases.confidential", public_id=report.case.public_id)

    def after(message) -> str:
        report = message.report
        if to_case and report.case is not None:
            return url_for("cases.confidential", public_id=report.case.public_id) + "#conversation"
        return url_for("selfreports.show", report_uid=report.uid) + "#conversation"

    return _decide(
        report_uid,
        form,
        lambda db, report, _version: conversation.send_reply(
            db, current_user, report, form.body.data or ""
        ),
        _("Your message was sent. The reporter reads it with their receipt code."),
        after,
        report=report,
        back=back,
    )
