"""The referral directory: everyone who handles cases reads it; officers and admins keep it."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.admin import bp
from caseapp.admin.forms import ContactForm, ReferralDefaultsForm
from caseapp.admin.views import open_unit_codes
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.labels import referral_kind_names
from caseapp.models.units import REFERRAL_KINDS
from caseapp.pagination import paginate
from caseapp.security.authz import covers, has_permission
from caseapp.services.org import referral_defaults
from caseapp.services.org import referrals as referral_service
from caseapp.services.org.units import unit_in_scope


def _kind_choices():
    names = referral_kind_names()
    return [(k, names[k]) for k in REFERRAL_KINDS]


def _directory(defaults=None, error=None, status=200):
    rows, page, pages, total = paginate(referral_service.visible_contacts(current_user))
    can_manage = has_permission(current_user, "referral.manage")
    return render_template(
        "admin/referrals.html",
        rows=rows,
        page=page,
        pages=pages,
        total=total,
        can_manage=can_manage,
        manages=lambda c: covers(current_user, "referral.manage", c.unit),
        defaults=defaults or ReferralDefaultsForm(formdata=None),
        error=error,
        unit_codes=open_unit_codes("referral.manage") if can_manage else [],
    ), status


@bp.get("/referrals")
@permission("referral.read")
def referrals():
    return _directory()


@bp.post("/referrals/defaults")
@permission("referral.manage")
def referral_defaults_add():
    """Add the usual services to the directory of one unit (nothing twice)."""
    form = ReferralDefaultsForm()
    if not form.validate_on_submit():
        return _directory(defaults=form, status=400)
    db = get_session()
    done = carry_out(
        lambda: referral_defaults.add_defaults(
            db,
            current_user,
            unit_in_scope(db, current_user, form.unit_code.data, "referral.manage"),
        )
    )
    if not done.ok:
        return _directory(defaults=form, error=done.message, status=done.status)
    if done.value:
        flash(_("%(n)d usual services added to the directory.", n=len(done.value)), "success")
    else:
        flash(_("The directory of this unit already lists the usual services."), "info")
    return redirect(url_for("admin.referrals"))


@bp.route("/referrals/new", methods=["GET", "POST"])
@permission("referral.manage")
def new_referral():
    form = ContactForm()
    form.kind.choices = _kind_choices()
    error, status = None, 200
    if form.validate_on_submit():
        db = get_session()
        done = carry_out(
            lambda: referral_service.create_contact(
                db,
                current_user,
                unit_in_scope(db, current_user, form.unit_code.data, "referral.manage"),
                form.name.data,
                form.kind.data,
                form.phone.data or "",
                form.address.data or "",
            )
        )
        if done.ok:
            flash(_("Contact added to the directory."), "success")
            return redirect(url_for("admin.referrals"))
        error, status = done.message, 400
    elif form.is_submitted():
        status = 400
    form.version.data = "0"
    return render_template(
        "admin/referral_form.html",
        form=form,
        error=error,
        contact=None,
        unit_codes=open_unit_codes("referral.manage"),
    ), status


@bp.route("/referrals/<int:contact_id>", methods=["GET", "POST"])
@permission("referral.manage")
def referral(contact_id: int):
    db = get_session()
    contact = referral_service.get_contact_to_manage(db, current_user, contact_id)
    form = ContactForm(obj=contact) if request.method == "GET" else ContactForm()
    form.kind.choices = _kind_choices()
    form.unit_code.data = contact.unit.code
    error, status = None, 200
    if request.method == "POST":
        if form.validate_on_submit():
            done = carry_out(
                lambda: referral_service.update_contact(
                    db,
                    current_user,
                    contact,
                    form.name.data,
                    form.kind.data,
                    form.phone.data or "",
                    form.address.data or "",
                    form.active.data,
                    int(form.version.data),
                )
            )
            if done.ok:
                flash(_("Saved."), "success")
                return redirect(url_for("admin.referrals"))
            error, status = done.message, done.status
        else:
            status = 400
    form.version.data = contact.version if status == 200 else form.version.data
    return render_template(
        "admin/referral_form.html", form=form, error=error, contact=contact, unit_codes=[]
    ), status
