"""Administration of the organisation tree (units) within the administrator's subtree."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.admin import bp
from caseapp.admin.forms import CloseUnitForm, MoveUnitForm, UnitEditForm, UnitForm
from caseapp.clock import local_today
from caseapp.db import get_session
from caseapp.errors import NotFound
from caseapp.form_submit import carry_out
from caseapp.labels import local_type_names, ownership_names, school_level_names, unit_kind_names
from caseapp.pagination import paginate
from caseapp.runtime import settings
from caseapp.services.org import units as unit_service


def open_unit_codes(perm: str = "admin.units") -> list:
    return unit_service.open_units(get_session(), current_user, perm)


def _kind_choices():
    names = unit_kind_names()
    return [(k, names.get(k, k)) for k in settings().unit_kinds]


def _trait_choices(form) -> None:
    """The lists of a school's level and ownership and of a commune's local type; the empty
    choice leaves the value to the unit's name (or keeps the current one)."""
    guess = [("", _("— From the name —"))]
    form.level.choices = guess + list(school_level_names().items())
    form.ownership.choices = guess + list(ownership_names().items())
    form.local_type.choices = guess + list(local_type_names().items())


def _traits(form) -> unit_service.UnitTraits:
    """The traits the form gives for the kind it names (those of another kind are not used)."""
    kind = form.kind.data
    return unit_service.UnitTraits(
        level=(form.level.data or None) if kind == "school" else None,
        ownership=(form.ownership.data or None) if kind == "school" else None,
        local_type=(form.local_type.data or None) if kind == "commune" else None,
    )


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
    _trait_choices(form)
    if request.method == "GET" and request.args.get("parent"):
        form.parent_code.data = request.args.get("parent", "")[:20]
    error, status = None, 200
    if form.validate_on_submit():
        db = get_session()
        done = carry_out(
            lambda: unit_service.create_unit(
                db,
                current_user,
                unit_service.unit_in_scope(db, current_user, form.parent_code.data, "admin.units"),
                form.code.data,
                form.name.data,
                form.kind.data,
                form.valid_from.data,
                _traits(form),
            )
        )
        if done.ok:
            flash(_("Unit %(code)s created.", code=done.value.code), "success")
            return redirect(url_for("admin.unit", unit_id=done.value.id))
        error, status = done.message, 400
    elif form.is_submitted():
        status = 400
    return render_template(
        "admin/unit_new.html", form=form, error=error, unit_codes=open_unit_codes()
    ), status


def _unit_page(unit, edit=None, close=None, move=None, error=None, status=200):
    edit = edit or UnitEditForm(obj=unit, formdata=None)
    edit.kind.choices = _kind_choices()
    _trait_choices(edit)
    close = close or CloseUnitForm(formdata=None, version=unit.version, valid_to=local_today())
    move = move or MoveUnitForm(formdata=None, version=unit.version, on=local_today())
    for form in (edit, close, move):
        form.version.data = unit.version
    around = unit_service.surroundings(get_session(), unit)
    return render_template(
        "admin/unit.html",
        unit=unit,
        edit=edit,
        close=close,
        move=move,
        children=around.children,
        history=around.history,
        parents=around.parents,
        based_here=around.based_here,
        error=error,
        unit_codes=open_unit_codes(),
    ), status


def _unit_changed(unit, change, form_name: str, form, message: str):
    """Carry out one change of a unit from its page: on success back to the page with
    ``message``; on a refusal the page again (the unit as stored), the form as submitted and
    the reason."""
    done = carry_out(change)
    if not done.ok:
        return _unit_page(unit, error=done.message, status=done.status, **{form_name: form})
    flash(message, "success")
    return redirect(url_for("admin.unit", unit_id=unit.id))


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
@permission("admin.units")
def unit(unit_id: int):
    db = get_session()
    target = unit_service.get_unit_in_scope(db, current_user, unit_id)
    if request.method == "GET":
        return _unit_page(target)
    form = UnitEditForm()
    form.kind.choices = _kind_choices()
    _trait_choices(form)
    if not form.validate_on_submit():
        return _unit_page(target, edit=form, status=400)
    return _unit_changed(
        target,
        lambda: unit_service.update_unit(
            db,
            current_user,
            target,
            form.name.data,
            form.kind.data,
            int(form.version.data),
            _traits(form),
        ),
        "edit",
        form,
        _("Saved."),
    )


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
    return _unit_changed(
        target,
        lambda: unit_service.close_unit(
            db, current_user, target, form.valid_to.data, int(form.version.data)
        ),
        "close",
        form,
        _("Unit %(code)s closed.", code=target.code),
    )


@bp.post("/units/<int:unit_id>/move")
@permission("admin.units")
def move_unit(unit_id: int):
    db = get_session()
    target = unit_service.get_unit_in_scope(db, current_user, unit_id)
    form = MoveUnitForm()
    if not form.validate_on_submit():
        return _unit_page(target, move=form, status=400)
    return _unit_changed(
        target,
        lambda: unit_service.move_unit(
            db,
            current_user,
            target,
            unit_service.unit_in_scope(db, current_user, form.new_parent_code.data, "admin.units"),
            form.on.data,
            int(form.version.data),
        ),
        "move",
        form,
        _("Unit moved."),
    )
