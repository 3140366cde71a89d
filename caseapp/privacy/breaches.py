"""The breach register: the list, recording a breach, its page (update, actions, closing) and
the notification document for the authority."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.labels import breach_category_names, breach_source_names, notify_people_names
from caseapp.models.privacy import BREACH_SOURCES
from caseapp.pagination import paginate
from caseapp.privacy import bp
from caseapp.privacy.forms import MOMENT, ActionForm, BreachForm, BreachUpdateForm, CloseForm
from caseapp.security.authz import covers, has_permission
from caseapp.services.org.units import open_units, unit_in_scope
from caseapp.services.privacy import breaches as service
from caseapp.services.privacy.notification import notification_docx

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _helpers() -> dict:
    return {
        "category_names": breach_category_names(),
        "source_names": breach_source_names(),
        "decision_names": notify_people_names(),
        "moment": service.shown_moment,
        "deadline": service.deadline,
        "notify_hours": service.notify_hours,
        "overdue": service.overdue,
        "remaining": service.remaining_hours,
        "categories_of": service.categories_of,
        "units_of": service.units_of,
        "moment_hint": MOMENT,
    }


@bp.get("/breaches")
@permission("privacy.read")
def breaches():
    rows, page, pages, total = paginate(service.visible_breaches(current_user))
    return render_template(
        "privacy/breaches.html",
        rows=rows,
        page=page,
        pages=pages,
        total=total,
        can_manage=has_permission(current_user, service.MANAGE),
        hours_now=service.hours_in_force(get_session()),
        **_helpers(),
    )


def _input(form: BreachForm) -> service.BreachInput:
    return service.BreachInput(
        discovered_at=form.discovered_at.data or "",
        discovered_by=form.discovered_by.data or "",
        description=form.description.data or "",
        data_categories=list(form.data_categories.data or []),
        units_affected=form.units_affected.data or "",
        people_affected=form.people_affected.data or "",
        source=form.source.data or "manual",
        source_ref=form.source_ref.data or "",
        occurred_at=form.occurred_at.data or "",
        records_affected=form.records_affected.data or "",
        consequences=form.consequences.data or "",
    )


@bp.route("/breaches/new", methods=["GET", "POST"])
@permission("breach.manage")
def new_breach():
    db = get_session()
    form = BreachForm()
    form.fill_choices()
    error, status = None, 200
    if request.method == "GET":
        source = request.args.get("source", "")
        form.source.data = source if source in BREACH_SOURCES else "manual"
        form.source_ref.data = (request.args.get("ref") or "")[:120]
        form.unit_code.data = current_user.unit.code if current_user.unit else ""
    elif form.validate_on_submit():
        done = carry_out(
            lambda: service.create(
                db,
                current_user,
                unit_in_scope(db, current_user, form.unit_code.data, service.MANAGE),
                _input(form),
            )
        )
        if done.ok:
            flash(_("Breach %(ref)s recorded.", ref=done.value.reference), "success")
            return redirect(url_for("privacy.breach", breach_id=done.value.id))
        error, status = done.message, done.status
    else:
        status = 400
    return render_template(
        "privacy/breach_form.html",
        form=form,
        error=error,
        unit_codes=open_units(db, current_user, service.MANAGE),
        source_names=breach_source_names(),
        moment_hint=MOMENT,
    ), status


def _page(found, error=None, status=200, update_form=None, action_form=None, close_form=None):
    if update_form is None:
        update_form = BreachUpdateForm(formdata=None)
        update_form.contained_at.data = service.shown_moment(found.contained_at)
        update_form.authority_notified_at.data = service.shown_moment(found.authority_notified_at)
        update_form.notify_people.data = found.notify_people
        update_form.notify_people_reason.data = found.notify_people_reason
        update_form.people_notified_at.data = service.shown_moment(found.people_notified_at)
        update_form.delay_reason.data = found.delay_reason
        update_form.occurred_at.data = service.shown_moment(found.occurred_at)
        update_form.records_affected.data = (
            "" if found.records_affected is None else str(found.records_affected)
        )
        update_form.consequences.data = found.consequences
    update_form.fill_choices()
    update_form.version.data = found.version
    close_form = close_form or CloseForm(formdata=None)
    close_form.version.data = found.version
    return render_template(
        "privacy/breach.html",
        breach=found,
        error=error,
        can_manage=covers(current_user, service.MANAGE, found.unit),
        update_form=update_form,
        action_form=action_form or ActionForm(formdata=None),
        close_form=close_form,
        **_helpers(),
    ), status


@bp.get("/breaches/<int:breach_id>")
@permission("privacy.read")
def breach(breach_id: int):
    return _page(service.get_breach(get_session(), current_user, breach_id))


@bp.post("/breaches/<int:breach_id>")
@permission("breach.manage")
def update_breach(breach_id: int):
    db = get_session()
    found = service.get_breach(db, current_user, breach_id, manage=True)
    form = BreachUpdateForm()
    if not form.validate_on_submit():
        return _page(found, _("The form is incomplete. Reload the page."), 400, update_form=form)
    data = service.BreachUpdate(
        contained_at=form.contained_at.data or "",
        authority_notified_at=form.authority_notified_at.data or "",
        notify_people=form.notify_people.data or "",
        notify_people_reason=form.notify_people_reason.data or "",
        people_notified_at=form.people_notified_at.data or "",
        occurred_at=form.occurred_at.data or "",
        records_affected=form.records_affected.data or "",
        consequences=form.consequences.data or "",
        delay_reason=form.delay_reason.data or "",
    )
    done = carry_out(lambda: service.update(db, current_user, found, data, int(form.version.data)))
    if done.ok:
        flash(_("Saved."), "success")
        return redirect(url_for("privacy.breach", breach_id=found.id))
    return _page(found, done.message, done.status, update_form=form)


@bp.post("/breaches/<int:breach_id>/actions")
@permission("breach.manage")
def add_action(breach_id: int):
    db = get_session()
    found = service.get_breach(db, current_user, breach_id, manage=True)
    form = ActionForm()
    if not form.validate_on_submit():
        return _page(found, _("The form is incomplete. Reload the page."), 400, action_form=form)
    done = carry_out(
        lambda: service.add_action(
            db, current_user, found, form.taken_at.data or "", form.text.data or ""
        )
    )
    if done.ok:
        flash(_("Action recorded."), "success")
        return redirect(url_for("privacy.breach", breach_id=found.id))
    return _page(found, done.message, done.status, action_form=form)


@bp.post("/breaches/<int:breach_id>/close")
@permission("breach.manage")
def close_breach(breach_id: int):
    db = get_session()
    found = service.get_breach(db, current_user, breach_id, manage=True)
    form = CloseForm()
    if not form.validate_on_submit():
        return _page(found, _("The form is incomplete. Reload the page."), 400, close_form=form)
    done = carry_out(
        lambda: service.close(
            db, current_user, found, int(form.version.data), form.reason.data or ""
        )
    )
    if done.ok:
        flash(_("The breach record is closed."), "success")
        return redirect(url_for("privacy.breach", breach_id=found.id))
    return _page(found, done.message, done.status, close_form=form)


@bp.get("/breaches/<int:breach_id>/notification.docx")
@permission("privacy.read")
def notification(breach_id: int):
    db = get_session()
    found = service.get_breach(db, current_user, breach_id)
    content = notification_docx(found, current_user)
    carry_out(lambda: service.note_export(db, current_user, found))
    return Response(
        content,
        mimetype=DOCX,
        headers={
            "Content-Disposition": f'attachment; filename="{found.reference}.docx"',
            "X-Content-Type-Options": "nosniff",
        },
    )
