"""Requests from data subjects: the list, recording one, its page (acknowledge, extend, find the
person through the name index, decide) and the export of an access request (prepared, reviewed
by another officer, released, printed)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session, utcnow
from caseapp.form_submit import carry_out
from caseapp.forms import small_int
from caseapp.labels import (
    case_choice_names,
    export_withheld_names,
    legal_ground_names,
    request_channel_names,
    request_kind_names,
    request_outcome_names,
    request_relation_names,
    request_status_names,
    status_names,
    step_choice_names,
    violence_names,
)
from caseapp.pagination import paginate
from caseapp.privacy import bp
from caseapp.privacy.forms import MOMENT
from caseapp.privacy.request_forms import (
    DecideForm,
    ExtendForm,
    MatchForm,
    RejectForm,
    ReleaseForm,
    RequestForm,
    StepForm,
)
from caseapp.security.authz import covers
from caseapp.services.org.units import open_units, unit_in_scope
from caseapp.services.privacy import request_decisions, request_export, request_matches
from caseapp.services.privacy import requests as service
from caseapp.services.privacy.breaches import shown_moment


def _incomplete() -> str:
    return _("The form is incomplete. Reload the page.")


def _names() -> dict:
    return {
        "kind_names": request_kind_names(),
        "relation_names": request_relation_names(),
        "channel_names": request_channel_names(),
        "status_names": request_status_names(),
        "outcome_names": request_outcome_names(),
        "ground_names": legal_ground_names(),
        "moment": shown_moment,
        "overdue": service.overdue,
        "ack_overdue": service.ack_overdue,
        "decision_overdue": service.decision_overdue,
    }


@bp.get("/requests")
@permission("request.manage")
def subject_requests():
    db = get_session()
    show = request.args.get("show", "open")
    show = show if show in service.FILTERS else "open"
    rows, page, pages, total = paginate(service.visible_requests(current_user, show))
    return render_template(
        "privacy/requests.html",
        rows=rows,
        page=page,
        pages=pages,
        total=total,
        show=show,
        days_left=service.days_left_of(db, list(rows)),
        **_names(),
    )


def _input(form: RequestForm) -> service.RequestInput:
    return service.RequestInput(
        unit_code=form.unit_code.data or "",
        kind=form.kind.data or "",
        relation=form.relation.data or "",
        channel=form.channel.data or "",
        received_at=form.received_at.data or "",
        requester_name=form.requester_name.data or "",
        requester_contact=form.requester_contact.data or "",
        subject_name=form.subject_name.data or "",
        case_reference=form.case_reference.data or "",
        details=form.details.data or "",
    )


@bp.route("/requests/new", methods=["GET", "POST"])
@permission("request.manage")
def new_subject_request():
    db = get_session()
    form = RequestForm()
    form.fill_choices()
    error, status = None, 200
    if request.method == "GET":
        form.unit_code.data = current_user.unit.code if current_user.unit else ""
        form.received_at.data = shown_moment(utcnow())
    elif form.validate_on_submit():
        data = _input(form)
        done = carry_out(
            lambda: service.create(
                db,
                current_user,
                unit_in_scope(db, current_user, data.unit_code, service.MANAGE),
                data,
            )
        )
        if done.ok:
            flash(_("Request %(ref)s recorded.", ref=done.value.reference), "success")
            return redirect(url_for("privacy.subject_request", subject_request_id=done.value.id))
        error, status = done.message, done.status
    else:
        error, status = _incomplete(), 400
    return render_template(
        "privacy/request_form.html",
        form=form,
        error=error,
        unit_codes=open_units(db, current_user, service.MANAGE),
        moment_hint=MOMENT,
    ), status


def _distinct_ids(form, prefix: str):
    """The fields of ``form`` with ids of their own (two forms of a page share field names)."""
    for f in form:
        f.id = f"{prefix}-{f.name}"
        f.label.field_id = f.id
    return form


def _page(found, error=None, status=200, **forms):
    db = get_session()
    version = found.version
    step = StepForm(formdata=None)
    step.version.data = version
    extend_form = forms.get("extend_form") or ExtendForm(formdata=None)
    extend_form.version.data = version
    decide_form = forms.get("decide_form") or DecideForm(formdata=None)
    decide_form.fill_choices(request_decisions.outcomes_for(current_user, found))
    decide_form.version.data = version
    pending = request_export.pending(found)
    release_form = forms.get("release_form") or ReleaseForm(formdata=None)
    release_form.fill_choices(("granted", "limited"))
    reject_form = forms.get("reject_form") or RejectForm(formdata=None)
    if pending is not None:
        release_form.version.data = pending.version
        reject_form.version.data = pending.version
    matches = request_matches.visible_matches(db, current_user, found)
    _distinct_ids(extend_form, "extend")
    _distinct_ids(decide_form, "decide")
    return render_template(
        "privacy/request.html",
        req=found,
        view=service.opened(found),
        error=error,
        can_manage=covers(current_user, service.MANAGE, found.unit),
        position=request_matches.position_for(found),
        matches=matches,
        pending=pending,
        released=request_export.released(found),
        may_review=pending is not None and request_export.may_review(current_user, found, pending),
        days_left=service.days_left(db, found),
        received_on=service.received_on(found),
        rejected=[
            (e, request_export.review_note(found, e))
            for e in found.exports
            if e.status == "rejected"
        ],
        step_form=step,
        extend_form=extend_form,
        decide_form=decide_form,
        release_form=release_form,
        reject_form=reject_form,
        match_form=MatchForm(formdata=None),
        position_names=case_choice_names()["position"],
        **_names(),
    ), status


@bp.get("/requests/<int:subject_request_id>")
@permission("request.manage")
def subject_request(subject_request_id: int):
    return _page(service.get_request(get_session(), current_user, subject_request_id))


def _done(found, done, message: str, form_name: str | None = None, form=None):
    if done.ok:
        flash(message, "success")
        return redirect(url_for("privacy.subject_request", subject_request_id=found.id))
    return _page(found, done.message, done.status, **({form_name: form} if form_name else {}))


def _managed(subject_request_id: int):
    return service.get_request(get_session(), current_user, subject_request_id, service.MANAGE)


@bp.post("/requests/<int:subject_request_id>/acknowledge")
@permission("request.manage")
def acknowledge_subject_request(subject_request_id: int):
    db, found = get_session(), _managed(subject_request_id)
    form = StepForm()
    if not form.validate_on_submit():
        return _page(found, _incomplete(), 400)
    done = carry_out(lambda: service.acknowledge(db, current_user, found, int(form.version.data)))
    return _done(found, done, _("The request is acknowledged."))


@bp.post("/requests/<int:subject_request_id>/extend")
@permission("request.manage")
def extend_subject_request(subject_request_id: int):
    db, found = get_session(), _managed(subject_request_id)
    form = ExtendForm()
    if not form.validate_on_submit():
        return _page(found, _incomplete(), 400, extend_form=form)
    done = carry_out(
        lambda: service.extend(
            db, current_user, found, int(form.version.data), form.reason.data or ""
        )
    )
    return _done(found, done, _("The deadline is extended."), "extend_form", form)


@bp.post("/requests/<int:subject_request_id>/decide")
@permission("request.manage")
def decide_subject_request(subject_request_id: int):
    db, found = get_session(), _managed(subject_request_id)
    form = DecideForm()
    if not form.validate_on_submit():
        return _page(found, _incomplete(), 400, decide_form=form)
    done = carry_out(
        lambda: request_decisions.decide(
            db,
            current_user,
            found,
            int(form.version.data),
            form.outcome.data or "",
            form.legal_ground.data or "",
            form.reason.data or "",
        )
    )
    return _done(found, done, _("The decision is recorded."), "decide_form", form)


@bp.post("/requests/<int:subject_request_id>/matches/search")
@permission("request.manage")
def search_subject_matches(subject_request_id: int):
    db, found = get_session(), _managed(subject_request_id)
    form = StepForm()
    if not form.validate_on_submit():
        return _page(found, _incomplete(), 400)
    done = carry_out(
        lambda: request_matches.search(db, current_user, found, int(form.version.data))
    )
    count = done.value if done.ok else 0
    return _done(found, done, _("%(n)d new possible matches found.", n=count or 0))


@bp.post("/requests/<int:subject_request_id>/matches")
@permission("request.manage")
def confirm_subject_match(subject_request_id: int):
    db, found = get_session(), _managed(subject_request_id)
    form = MatchForm()
    match_id = small_int(form.match_id.data)
    if not form.validate_on_submit() or match_id is None:
        return _page(found, _incomplete(), 400)
    confirmed = form.confirmed.data == "y"
    done = carry_out(lambda: request_matches.confirm(db, current_user, found, match_id, confirmed))
    return _done(found, done, _("Match confirmed.") if confirmed else _("Match set aside."))


@bp.post("/requests/<int:subject_request_id>/export")
@permission("request.manage")
def prepare_subject_export(subject_request_id: int):
    db, found = get_session(), _managed(subject_request_id)
    form = StepForm()
    if not form.validate_on_submit():
        return _page(found, _incomplete(), 400)
    done = carry_out(
        lambda: request_export.prepare(db, current_user, found, int(form.version.data))
    )
    return _done(
        found, done, _("The export is prepared. Another officer reviews it before release.")
    )


@bp.get("/requests/<int:subject_request_id>/exports/<int:export_id>")
@permission("request.manage")
def subject_export(subject_request_id: int, export_id: int):
    db = get_session()
    found = service.get_request(db, current_user, subject_request_id)
    export = request_export.get_export(found, export_id)
    done = carry_out(lambda: request_export.read(db, current_user, found, export))
    if not done.ok:
        return _page(found, done.message, done.status)
    release_form = ReleaseForm(formdata=None)
    release_form.fill_choices(("granted", "limited"))
    release_form.version.data = export.version
    reject_form = RejectForm(formdata=None)
    reject_form.version.data = export.version
    return render_template(
        "privacy/request_export.html",
        req=found,
        export=export,
        body=done.value,
        may_review=request_export.may_review(current_user, found, export),
        release_form=release_form,
        reject_form=reject_form,
        withheld_names=export_withheld_names(),
        case_status_names=status_names(),
        violence_names=violence_names(),
        choice_names=case_choice_names(),
        step_names=step_choice_names(),
        **_names(),
    )


def _export_of(subject_request_id: int, export_id: int):
    found = _managed(subject_request_id)
    return found, request_export.get_export(found, export_id)


@bp.post("/requests/<int:subject_request_id>/exports/<int:export_id>/release")
@permission("request.review")
def release_subject_export(subject_request_id: int, export_id: int):
    db = get_session()
    found, export = _export_of(subject_request_id, export_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        return _page(found, _incomplete(), 400, release_form=form)
    done = carry_out(
        lambda: request_export.release(
            db,
            current_user,
            found,
            export,
            int(form.version.data),
            form.outcome.data or "",
            form.legal_ground.data or "",
            form.reason.data or "",
            verified=bool(form.verified.data),
        )
    )
    return _done(
        found, done, _("The export is released; the request is completed."), "release_form", form
    )


@bp.post("/requests/<int:subject_request_id>/exports/<int:export_id>/reject")
@permission("request.review")
def reject_subject_export(subject_request_id: int, export_id: int):
    db = get_session()
    found, export = _export_of(subject_request_id, export_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _page(found, _incomplete(), 400, reject_form=form)
    done = carry_out(
        lambda: request_export.reject(
            db, current_user, found, export, int(form.version.data), form.note.data or ""
        )
    )
    return _done(found, done, _("The export is sent back; prepare a new one."), "reject_form", form)
