"""Daily screens: "my work" for focal points, monitoring for officers, notifications."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import BadRequest

from caseapp.access import permission
from caseapp.dashboard import bp
from caseapp.db import get_session
from caseapp.errors import NotFound
from caseapp.forms import EmptyForm
from caseapp.models import Case, Unit
from caseapp.security.authz import SIGNED_IN, covers, scope_paths
from caseapp.services.cases import monitoring, notifications
from caseapp.services.cases.access import visible_cases
from caseapp.services.org.units import unit_by_code


@bp.get("/work")
@permission("case.write")
def my_work():
    return render_template("dashboard/work.html", work=monitoring.my_work(get_session(),
                                                                          current_user))


def _monitoring_unit(db):
    code = (request.args.get("unit") or "").strip()
    if code:
        unit = unit_by_code(db, code)
        if unit is None or not covers(current_user, "case.oversee", unit):
            return None, _("No unit with the code %(code)s within your units.",
                           code=code.upper()[:20])
        return unit, None
    return _default_unit(db), None


@bp.get("/monitoring")
@permission("case.oversee")
def monitor():
    db = get_session()
    unit, error = _monitoring_unit(db)
    if unit is None:
        unit = _default_unit(db)
    rows = monitoring.school_rows(db, current_user, unit)
    trend = monitoring.monthly_trend(db, current_user, unit)
    children = list(db.scalars(select(Unit).where(Unit.parent_id == unit.id,
                                                  Unit.kind != "school").order_by(Unit.name)))
    totals = {k: sum(r[k] for r in rows) for k in ("open", "overdue", "high_risk",
                                                   "unassigned")}
    peak = max([1] + [max(t["received"], t["closed"]) for t in trend])
    return render_template("dashboard/monitoring.html", unit=unit, rows=rows, trend=trend,
                           peak=peak, totals=totals, children=children, error=error)


def _default_unit(db) -> Unit:
    return db.scalar(select(Unit).where(Unit.path == scope_paths(current_user,
                                                                 "case.oversee")[0]))


@bp.get("/notifications")
@permission(SIGNED_IN)
def notices():
    db = get_session()
    return render_template("dashboard/notifications.html",
                           notices=notifications.listing(db, current_user), form=EmptyForm())


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
    """To the case a notice is about. Only the POST (the notice's button, with its CSRF
    token) marks it read; a GET (the link of a reminder e-mail) changes nothing."""
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
    if notice.case_id is None:
        return redirect(url_for("dashboard.notices"))
    public_id = db.scalar(visible_cases(current_user).where(Case.id == notice.case_id)
                          .with_only_columns(Case.public_id))
    if public_id is None:
        raise NotFound()
    return redirect(url_for("cases.show", public_id=public_id))
