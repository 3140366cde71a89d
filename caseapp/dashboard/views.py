"""Daily screens: "my work" for focal points, monitoring for officers, notifications."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import BadRequest

from caseapp.access import permission
from caseapp.dashboard import bp
from caseapp.db import get_read_session, get_session
from caseapp.errors import NotFound
from caseapp.form_submit import read_or_refuse
from caseapp.forms import EmptyForm
from caseapp.labels import school_level_names
from caseapp.security.authz import SIGNED_IN
from caseapp.services.accounts import history
from caseapp.services.accounts import notices as account_notices
from caseapp.services.cases import monitoring, notifications
from caseapp.services.equality import reminders
from caseapp.services.privacy import requests as subject_requests
from caseapp.services.reports.periods import asked_level
from caseapp.services.reports.replica import replica_lag
from caseapp.services.selfreports import posters
from caseapp.services.selfreports.routing import NOTICE_KINDS as SELF_REPORT_KINDS


@bp.get("/work")
@permission("case.write")
def my_work():
    db = get_session()
    return render_template(
        "dashboard/work.html",
        work=monitoring.my_work(db, current_user),
        requests_overdue=subject_requests.overdue_requests(db, current_user),
        poster_schools=posters.own_schools(current_user),
    )


@bp.get("/monitoring")
@permission("case.oversee")
def monitor():
    db = get_read_session()  # counts only, nothing written: the read replica when there is one
    # A unit or a level asked for may be refused (a form error shown above the default). The
    # page only reads, like the case list's filters: nothing to commit or roll back in the
    # middle of it (a commit would also end the exclusions its sign-in session read:
    # services/cases/access.py).
    code, level_value = request.args.get("unit"), request.args.get("level")
    asked = read_or_refuse(
        lambda: monitoring.monitored_unit(db, current_user, code) if code else None
    )
    unit = asked.value or monitoring.default_unit(db, current_user)
    level_asked = read_or_refuse(lambda: asked_level(level_value) if level_value else None)
    level = level_asked.value
    error = " ".join(m for m in (asked.message, level_asked.message) if m) or None
    rows, trend = monitoring.overview(db, current_user, unit, level=level)
    children = monitoring.offices_below(db, unit)
    totals = {k: sum(r[k] for r in rows) for k in ("open", "overdue", "high_risk", "unassigned")}
    peak = max([1] + [max(t["received"], t["closed"]) for t in trend])
    return render_template(
        "dashboard/monitoring.html",
        unit=unit,
        rows=rows,
        trend=trend,
        peak=peak,
        totals=totals,
        children=children,
        error=error,
        level=level,
        levels=school_level_names(),
        requests_overdue=subject_requests.overdue_count_below(db, current_user, unit),
        replica=replica_lag(),
    )


@bp.get("/notifications")
@permission(SIGNED_IN)
def notices():
    db = get_session()
    rows = notifications.listing(db, current_user)
    return render_template(
        "dashboard/notifications.html",
        notices=rows,
        account_titles=account_notices.titles(db, current_user, [row[0] for row in rows]),
        report_titles=reminders.titles(db, [row[0] for row in rows]),
        form=EmptyForm(),
    )


@bp.post("/notifications/read")
@permission(SIGNED_IN)
def mark_all_read():
    db = get_session()
    if EmptyForm().validate_on_submit():
        count = notifications.mark_all_read(db, current_user)
        db.commit()
        flash(_("%(n)d notifications marked as read.", n=count), "success")
    return redirect(url_for("dashboard.notices"))


@bp.route("/notifications/<int:notification_id>", methods=["GET", "POST"])
@permission(SIGNED_IN)
def open_notice(notification_id: int):
    """To the case (or the account) a notice is about. Only the POST (the notice's button, with
    its CSRF token) marks it read; a GET (the link of a reminder e-mail) changes nothing."""
    db = get_session()
    if request.method == "GET":
        notice = notifications.visible_notice(db, current_user, notification_id)
    elif EmptyForm().validate_on_submit():
        notice = notifications.mark_read(db, current_user, notification_id)
    else:
        raise BadRequest()
    if notice is None:
        raise NotFound()
    if request.method == "POST":
        db.commit()
    if notice.case_id is None and notice.kind == reminders.KIND:
        # A reminder of a period report opens that report.
        reminder = reminders.reminder_of(db, notice)
        return redirect(reminder[1] if reminder else url_for("dashboard.notices"))
    if notice.case_id is None and notice.kind in SELF_REPORT_KINDS:
        return redirect(url_for("selfreports.index"))
    if notice.case_id is None:
        # A notice about an account opens that account's page: one's own, or (for an officer
        # above the person) the changes to theirs.
        subject = account_notices.subject_of(notice)
        if subject == current_user.id:
            return redirect(url_for("account.index"))
        if subject is not None and history.oversees(db, current_user, subject):
            return redirect(url_for("account.person", user_id=subject))
        return redirect(url_for("dashboard.notices"))
    public_id = notifications.case_of(db, current_user, notice)
    if public_id is None:
        raise NotFound()
    return redirect(url_for("cases.show", public_id=public_id))
