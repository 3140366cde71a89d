"""Auditor screens: the trail within the auditor's units, one event, chain status, CSV export,
the attention list."""

from __future__ import annotations

import json

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.audit import bp, export
from caseapp.audit.forms import AttentionReviewForm, AttentionWindowForm, EventFilterForm
from caseapp.db import get_session, open_session
from caseapp.errors import Forbidden, NotFound, ValidationFailed
from caseapp.form_submit import carry_out
from caseapp.forms import EmptyForm, kept_query, small_int
from caseapp.i18n import number
from caseapp.labels import audit_action_names, object_type_names, role_names
from caseapp.readable import change_rows
from caseapp.runtime import keyring, settings
from caseapp.services.audit import attention as audit_attention
from caseapp.services.audit import integrity as audit_integrity
from caseapp.services.audit import queries as audit_queries
from caseapp.services.audit import sealed_text
from caseapp.services.audit.trail import record
from caseapp.services.org.units import unit_in_scope


def _filter_from_request() -> tuple[EventFilterForm, audit_queries.EventFilter, str | None]:
    db = get_session()
    form = EventFilterForm(request.args)
    names = audit_action_names()
    form.action.choices = [("", _("All actions"))] + sorted(
        ((a, f"{names.get(a, a)} ({a})") for a in audit_queries.known_actions(db)),
        key=lambda choice: choice[1],
    )
    flt = audit_queries.EventFilter()
    error = None
    if not form.validate():
        error = _("Some filters are not valid; they were ignored.")
        return form, flt, error
    flt.date_from, flt.date_to = form.date_from.data, form.date_to.data
    flt.actor = (form.actor.data or "").strip().lower()
    flt.action = form.action.data or ""
    flt.reference = (form.reference.data or "").strip()
    flt.reason = " ".join((form.reason.data or "").split())
    code = (form.unit.data or "").strip()
    if code:
        # A filter only reads (no carry_out): a unit outside the auditor's is the message above.
        try:
            flt.unit_path = unit_in_scope(db, current_user, code, "audit.read").path
        except ValidationFailed as exc:
            error, flt.unit_path = exc.message, "/none/"
    return form, flt, error


@bp.get("/events")
@permission("audit.read")
def events():
    form, flt, error = _filter_from_request()
    raw = request.args.get("before")
    before = small_int(raw, digits=18) if raw else None  # seq is a 64-bit column
    if raw and before is None:
        abort(400)
    db = get_session()
    rows, next_before = audit_queries.page(db, current_user, flt, before, settings().page_size)
    args = kept_query(drop=("before",))
    return render_template(
        "audit/events.html",
        form=form,
        rows=rows,
        reasons=sealed_text.reasons(db, rows, current_user),
        error=error,
        next_before=next_before,
        args=args,
        first_page=before is None,
        export_max=settings().audit_export_max_events,
        action_names=audit_action_names(),
        object_names=object_type_names(),
    )


@bp.get("/events/<int:seq>")
@permission("audit.read")
def event(seq: int):
    found = audit_queries.get_event(get_session(), current_user, seq)
    changes = json.loads(found.changes or "{}")
    names = role_names()
    roles = [
        f"{names.get(r.split('@')[0], r)} @ {r.split('@', 1)[1]}" if "@" in r else r
        for r in json.loads(found.actor_roles or "[]")
    ]
    return render_template(
        "audit/event.html",
        event=found,
        reason=sealed_text.reason_text(get_session(), found, current_user),
        rows=change_rows(changes),
        roles=roles,
        action_names=audit_action_names(),
        object_names=object_type_names(),
    )


@bp.get("/events.csv")
@permission("audit.read")
def export_csv():
    _form, flt, error = _filter_from_request()
    back = url_for("audit.events", **kept_query())
    if error:
        # Filters that are not valid select more than was asked for: nothing is exported (the
        # trail's page says which).
        flash(_("Nothing was exported: correct the filters first."), "error")
        return redirect(back)
    db = get_session()
    # The scope, and the events there are now: the count and the rows are of the same events.
    selection = audit_queries.filtered_until_now(db, current_user, flt)
    ceiling = settings().audit_export_max_events
    if audit_queries.more_than(db, selection, ceiling):
        # One download must finish within a worker's time limit (deploy/gunicorn.conf.py):
        # past it the worker is stopped and the file cut short. Nothing was read.
        flash(
            _(
                "These filters select more than %(n)s events, more than one export can carry. "
                "Narrow them (dates, a unit, a person or an action) and export in parts.",
                n=number(ceiling),
            ),
            "error",
        )
        return redirect(back)
    record(
        db,
        current_user,
        "audit.export",
        object_type="audit_events",
        changes={"filters": flt.as_recorded(), "format": "csv"},
    )
    db.commit()
    return Response(
        # The keyring and translations open the sealed reasons while the rows stream.
        stream_with_context(export.csv_stream(open_session(), selection, flt.reason)),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=audit-events.csv"},
    )


@bp.get("/status")
@permission("audit.read")
def status():
    db = get_session()
    last = audit_integrity.last_event(db, "audit.verify")
    last_result = json.loads(last.changes) if last else None
    checkpoint = audit_integrity.last_event(db, "audit.checkpoint")
    return render_template(
        "audit/status.html",
        last=last,
        last_result=last_result,
        checkpoint=checkpoint,
        checkpoint_info=json.loads(checkpoint.changes) if checkpoint else None,
        form=EmptyForm(),
    )


@bp.post("/verify")
@permission("audit.read")
def verify_now():
    form = EmptyForm()
    if form.validate_on_submit():
        db = get_session()
        report = audit_integrity.verify(db, keyring())
        if audit_integrity.cannot_chain(report):
            # Not evidence of tampering, and nothing can be chained without the key: the
            # operator must start the service with the keyring of this database.
            db.rollback()
            flash(
                _(
                    "The audit trail cannot be verified from event %(seq)d: this server lacks "
                    "a key it was written with. Tell your administrator.",
                    seq=report.bad_seq,
                ),
                "error",
            )
            return redirect(url_for("audit.status"))
        audit_integrity.record_verification(db, current_user, report)
        db.commit()
        if report.ok:
            flash(_("The audit trail is intact: %(n)d events verified.", n=report.count), "success")
        else:
            flash(
                _(
                    "The audit trail is BROKEN at event %(seq)d. Report this at once.",
                    seq=report.bad_seq,
                ),
                "error",
            )
    return redirect(url_for("audit.status"))


@bp.get("/attention")
@permission("audit.read")
def attention():
    form = AttentionWindowForm(request.args)
    error, since = None, None
    if form.since.data:
        if form.validate():
            since = audit_attention.parse_since(form.since.data)
        else:
            error = _(
                "The date is not valid; the last %(n)d days are shown.",
                n=settings().attention_window_days,
            )
    found = audit_attention.items(get_session(), current_user, since)
    size = settings().page_size
    pages = max(1, -(-len(found) // size))
    page = min(small_int(request.args.get("page")) or 1, pages)
    shown = found[(page - 1) * size : page * size]
    since_text = (since or audit_attention.default_since()).strftime("%d/%m/%Y")
    return render_template(
        "audit/attention.html",
        form=form,
        error=error,
        groups=[(s, [i for i in shown if i.severity == s]) for s in audit_attention.SEVERITIES],
        total=len(found),
        waiting_high=len(audit_attention.unreviewed_high(found)),
        page=page,
        pages=pages,
        since=since_text if since else "",
        since_shown=since_text,
        review_form=AttentionReviewForm(),
        note_of=audit_attention.note_of,
    )


@bp.post("/attention/review")
@permission("audit.read")
def review_attention():
    form = AttentionReviewForm()
    back = url_for("audit.attention", since=form.since.data or None)
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return redirect(back)
    since = audit_attention.parse_since(form.since.data) if form.since.data else None
    outcome = carry_out(
        lambda: audit_attention.mark_reviewed(
            get_session(), current_user, form.key.data, form.note.data, since
        )
    )
    if isinstance(outcome.error, NotFound):
        abort(404)
    if isinstance(outcome.error, Forbidden):  # the page offers no form for it
        abort(403)
    if outcome.ok:
        flash(_("The item is marked reviewed."), "success")
    else:
        flash(outcome.message, "error")
    return redirect(back)
