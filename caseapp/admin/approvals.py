"""Requests a second person approves: the list, one request, and its decision."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.admin import bp
from caseapp.admin.forms import DecisionForm
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.forms import small_int
from caseapp.models import ApprovalRequest
from caseapp.pagination import paginate
from caseapp.services.accounts import approvals
from caseapp.services.accounts import imports as account_imports


@bp.get("/approvals")
@permission("approval.decide")
def approvals_list():
    db = get_session()
    waiting = approvals.waiting_for(db, current_user)
    rows, page, pages, total = paginate(approvals.own_requests(current_user))
    return render_template(
        "admin/approvals.html",
        waiting=waiting,
        rows=rows,
        page=page,
        pages=pages,
        total=total,
        status_of=approvals.shown_status,
        payload=approvals.payload,
        text_of=approvals.text_of,
    )


BATCH_PAGE = 200


def _request_page(req: ApprovalRequest, form: DecisionForm | None = None, error=None, status=200):
    db = get_session()
    form = form or DecisionForm(formdata=None)
    form.version.data = req.version
    lines = account_imports.batch_lines(req)
    pages = max(1, -(-len(lines) // BATCH_PAGE))
    page = min(max(small_int(request.args.get("page")) or 1, 1), pages)
    return render_template(
        "admin/approval.html",
        req=req,
        form=form,
        error=error,
        shown=approvals.shown_status(req),
        details=approvals.payload(req),
        can_decide=req.status == "pending"
        and not approvals.is_expired(req)
        and approvals.may_decide(db, current_user, req),
        can_withdraw=req.status == "pending" and req.requested_by_id == current_user.id,
        subject=approvals.about_subject(db, req),
        payload_of=approvals.payload,
        text_of=approvals.text_of,
        batch_lines=lines[(page - 1) * BATCH_PAGE : page * BATCH_PAGE],
        batch_total=len(lines),
        batch_new=sum(1 for line in lines if line.get("new")),
        page=page,
        pages=pages,
    ), status


@bp.get("/approvals/<int:request_id>")
@permission("approval.decide")
def approval(request_id: int):
    req = approvals.get_request(get_session(), current_user, request_id)
    return _request_page(req)


def _decide(request_id: int, decision: str):
    db = get_session()
    req = approvals.get_request(db, current_user, request_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _request_page(req, form, _("The form is incomplete. Reload the page."), 400)
    act = {"approve": approvals.approve, "reject": approvals.reject, "cancel": approvals.cancel}
    done = carry_out(
        lambda: act[decision](
            db, current_user, req, form.note.data or "", small_int(form.version.data)
        )
    )
    if not done.ok:
        db.expire_all()
        fresh = approvals.get_request(db, current_user, request_id)
        return _request_page(fresh, None, done.message, done.status)
    if done.value.letters:
        return render_template(
            "admin/enrolment_letter.html",
            letters=list(done.value.letters),
            back_url=url_for("admin.approvals_list"),
        )
    flash(
        {
            "approve": _("Approved. The change has taken effect."),
            "reject": _("Rejected. Nothing was changed."),
            "cancel": _("Your request was withdrawn. Nothing was changed."),
        }[decision],
        "success",
    )
    return redirect(url_for("admin.approvals_list"))


@bp.post("/approvals/<int:request_id>/approve")
@permission("approval.decide")
def approve(request_id: int):
    return _decide(request_id, "approve")


@bp.post("/approvals/<int:request_id>/reject")
@permission("approval.decide")
def reject(request_id: int):
    return _decide(request_id, "reject")


@bp.post("/approvals/<int:request_id>/withdraw")
@permission("approval.decide")
def withdraw(request_id: int):
    return _decide(request_id, "cancel")
