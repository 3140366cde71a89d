"""The data-protection settings: the holiday calendar and the legal periods. Read by whoever
holds privacy.read; changed by an administrator over the whole service (the service says
who)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.db import get_session
from caseapp.form_submit import carry_out
from caseapp.labels import legal_period_names, period_unit_names
from caseapp.privacy import bp
from caseapp.privacy.settings_forms import HolidayForm, HolidayRemoveForm, PeriodForm
from caseapp.services.privacy import periods
from caseapp.services.privacy import settings as service

INCOMPLETE = "The form is incomplete. Reload the page."


def _holidays_page(year: int, form: HolidayForm | None = None, error=None, status=200):
    db = get_session()
    return render_template(
        "privacy/holidays.html",
        year=year,
        years=service.years_offered(db),
        holidays=service.holidays_of(db, year),
        can_change=service.may_change(db, current_user),
        form=form or HolidayForm(formdata=None),
        remove_form=HolidayRemoveForm(formdata=None),
        error=error,
    ), status


@bp.get("/settings/holidays")
@permission("privacy.read")
def holidays():
    return _holidays_page(service.chosen_year(request.args.get("year")))


@bp.post("/settings/holidays")
@permission("privacy.settings")
def add_holiday():
    form = HolidayForm()
    year = service.year_of(form.day.data or "")
    if not form.validate_on_submit():
        return _holidays_page(year, form, _(INCOMPLETE), 400)
    done = carry_out(
        lambda: service.add_holiday(
            get_session(), current_user, form.day.data or "", form.name.data or ""
        )
    )
    if done.ok:
        flash(
            _("%(day)s added as a holiday.", day=done.value.day.strftime(service.DAY_FORMAT)),
            "success",
        )
        return redirect(url_for("privacy.holidays", year=done.value.day.year))
    if done.status == 404:
        return _holidays_page(year, form, _("You cannot change the settings."), 404)
    return _holidays_page(year, form, done.message, done.status)


@bp.post("/settings/holidays/remove")
@permission("privacy.settings")
def remove_holiday():
    form = HolidayRemoveForm()
    if not form.validate_on_submit():
        return _holidays_page(service.chosen_year(None), error=_(INCOMPLETE), status=400)
    done = carry_out(lambda: service.remove_holiday(get_session(), current_user, form.day.data))
    if done.ok:
        flash(
            _("%(day)s is no longer a holiday.", day=done.value.strftime(service.DAY_FORMAT)),
            "success",
        )
        return redirect(url_for("privacy.holidays", year=done.value.year))
    return _holidays_page(
        service.chosen_year(None), error=_("No such holiday to remove."), status=done.status
    )


def _periods_page(error=None, status=200, error_key="", typed=None):
    db = get_session()
    return render_template(
        "privacy/periods.html",
        rows=periods.all_periods(db),
        names=legal_period_names(),
        unit_names=period_unit_names(),
        bounds=service.bounds,
        can_change=service.may_change(db, current_user),
        error=error,
        status=status,
        error_key=error_key,
        typed=typed or {},
    ), status


@bp.get("/settings/periods", endpoint="periods")
@permission("privacy.read")
def periods_page():
    return _periods_page()


@bp.post("/settings/periods")
@permission("privacy.settings")
def update_period():
    form = PeriodForm()
    key = form.key.data or ""
    typed = {"amount": form.amount.data or "", "basis": form.basis.data or ""}
    if not form.validate_on_submit():
        return _periods_page(_(INCOMPLETE), 400, key, typed)
    change = service.PeriodChange(
        key=key, amount=typed["amount"], basis=typed["basis"], version=form.version.data or ""
    )
    done = carry_out(lambda: service.update_period(get_session(), current_user, change))
    if done.ok:
        flash(_("Saved. The new period applies to what is recorded from now on."), "success")
        return redirect(url_for("privacy.periods") + f"#period-{key}")
    if done.status == 404:
        return _periods_page(_("You cannot change the settings."), 404, key)
    return _periods_page(done.message, done.status, key, typed)
