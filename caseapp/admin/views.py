"""Administration of the organisation tree (units) within the administrator's subtree."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from caseapp.access import permission
from caseapp.admin import bp
from caseapp.admin.forms import CloseUnitForm, MoveUnitForm, UnitEditForm, UnitForm
from caseapp.clock import local_today
from caseapp.db import get_session
from caseapp.errors import DomainError, NotFound
from caseapp.labels import unit_kind_names
from caseapp.pagination import paginate
from caseapp.runtime import settings
from caseapp.security.authz import covers
from caseapp.services.org import units as unit_service


def unit_in_scope_by_code(code: str, perm: str = "admin.units"):
    """The unit named by ``code`` if it lies within the actor's scope; else a translated error."""
    unit = unit_service.unit_by_code(get_session(), code or "")
    if unit is None or not covers(current_user, perm, unit):
        return None, _("No unit with the code %(code)s within your units.",
                       code=(code or "").strip().upper()[:20])
    return unit, None


def open_unit_codes(perm: str = "admin.units") -> list:
    return unit_service.open_units(get_session(), current_user, perm)


def _kind_choices():
    names = unit_kind_names()
    return [(k, names.get(k, k)) for k in settings().unit_kinds]


@bp.get("/units")
@permission("admin.units")
def units():
    rows, page, pages, total = paginate(unit_service.visible_units(current_user), 200)
    return render_template("admin/units.html", rows=rows, page=page, pages=pages, total=total)


@bp.route("/units/new", methods=["GET", "POST"])
@permission("admin.units")
def new_unit():
    form = UnitForm()
    form.kind.choices = [("", _("— Choose —")), *_kind_choices()]  # no kind by default
    if request.method == "GET" and request.args.get("parent"):
        form.parent_code.data = request.args.get("parent", "")[:20]
    error, status = None, 200
    if form.validate_on_submit():
        parent, error = unit_in_scope_by_code(form.parent_code.data)
        if parent is not None:
            db = get_session()
            try:
                unit = unit_service.create_unit(db, current_user, parent, form.code.data,
                                                form.name.data, form.kind.data,
                                                form.valid_from.data)
            except DomainError as exc:
                db.rollback()
                error = exc.message
            else:
                db.commit()
                flash(_("Unit %(code)s created.", code=unit.code), "success")
                return redirect(url_for("admin.unit", unit_id=unit.id))
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("admin/unit_new.html", form=form, error=error,
                           unit_codes=open_unit_codes()), status


def _unit_page(unit, edit=None, close=None, move=None, error=None, status=200):
    edit = edit or UnitEditForm(obj=unit, formdata=None)
    edit.kind.choices = _kind_choices()
    close = close or CloseUnitForm(formdata=None, version=unit.version, valid_to=local_today())
    move = move or MoveUnitForm(formdata=None, version=unit.version, on=local_today())
    for form in (edit, close, move):
        form.version.data = unit.version
    db = get_session()
    children = list(db.scalars(select(unit_service.Unit).where(
        unit_service.Unit.parent_id == unit.id).order_by(unit_service.Unit.code)))
    history = list(db.scalars(select(unit_service.UnitParentHistory).where(
        unit_service.UnitParentHistory.unit_id == unit.id).order_by(
        unit_service.UnitParentHistory.valid_from)))
    parents = {u.id: u for u in db.scalars(select(unit_service.Unit).where(
        unit_service.Unit.id.in_({h.parent_id for h in history if h.parent_id})))}
    return render_template("admin/unit.html", unit=unit, edit=edit, close=close, move=move,
                           children=children, history=history, parents=parents, error=error,
                           unit_codes=open_unit_codes()), status


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
@permission("admin.units")
def unit(unit_id: int):
    db = get_session()
    target = unit_service.get_unit_in_scope(db, current_user, unit_id)
    if request.method == "GET":
        return _unit_page(target)
    form = UnitEditForm()
    form.kind.choices = _kind_choices()
    if not form.validate_on_submit():
        return _unit_page(target, edit=form, status=400)
    try:
        unit_service.update_unit(db, current_user, target, form.name.data, form.kind.data,
                                 int(form.version.data))
    except DomainError as exc:
        db.rollback()
        return _unit_page(db.get(unit_service.Unit, unit_id), edit=form, error=exc.message,
                          status=exc.status)
    db.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("admin.unit", unit_id=unit_id))


@bp.post("/units/<int:unit_id>/close")
@permission("admin.units")
def close_unit(unit_id: int):
    db = get_session()
    target = unit_service.get_unit_in_scope(db, current_user, unit_id)
    if target.parent_id is None:
        raise NotFound()
    form = CloseUnitForm()
    if not form.validate_on_submit():
        return _unit_page(target, close=form, status=400)
    try:
        unit_service.close_unit(db, current_user, target, form.valid_to.data,
                                int(form.version.data))
    except DomainError as exc:
        db.rollback()
        return _unit_page(db.get(unit_service.Unit, unit_id), close=form, error=exc.message,
                          status=exc.status)
    db.commit()
    flash(_("Unit %(code)s closed.", code=target.code), "success")
    return redirect(url_for("admin.unit", unit_id=unit_id))


@bp.post("/units/<int:unit_id>/move")
@permission("admin.units")
def move_unit(unit_id: int):
    db = get_session()
    target = unit_service.get_unit_in_scope(db, current_user, unit_id)
    form = MoveUnitForm()
    if not form.validate_on_submit():
        return _unit_page(target, move=form, status=400)
    new_parent, error = unit_in_scope_by_code(form.new_parent_code.data)
    if new_parent is None:
        return _unit_page(target, move=form, error=error, status=400)
    try:
        unit_service.move_unit(db, current_user, target, new_parent, form.on.data,
                               int(form.version.data))
    except DomainError as exc:
        db.rollback()
        return _unit_page(db.get(unit_service.Unit, unit_id), move=form, error=exc.message,
                          status=exc.status)
    db.commit()
    flash(_("Unit moved."), "success")
    return redirect(url_for("admin.unit", unit_id=unit_id))
