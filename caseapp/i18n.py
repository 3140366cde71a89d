"""Language and time: Vietnamese first, English selectable; dd/mm/yyyy in Asia/Ho_Chi_Minh."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

from babel import Locale, numbers
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Domain, format_decimal, get_locale
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

from caseapp.clock import zone
from caseapp.extensions import babel
from caseapp.public_paths import is_public_path

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


def select_locale() -> str:
    locales = current_app.extensions["caseapp.settings"].locales
    if not has_request_context():
        return current_app.extensions["caseapp.settings"].default_locale
    if is_public_path(request.path):
        # The public pages read no cookie: the language travels in the address (?lang=en).
        given = request.args.get("lang", "")
        return (
            given if given in locales else current_app.extensions["caseapp.settings"].default_locale
        )
    chosen = session.get("lang")
    if isinstance(chosen, str) and chosen in locales:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in locales:
        return current_user.locale
    return current_app.extensions["caseapp.settings"].default_locale


def select_timezone() -> str:
    return current_app.extensions["caseapp.settings"].timezone


def _date(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _datetime(value)[:10]
    if isinstance(value, date):
        # Digits only, the same in every language: Babel's pattern engine is not needed for
        # the fifty dates of a page.
        return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"
    return str(value)


def _datetime(value) -> str:
    """The moment in the service's time zone, dd/mm/yyyy hh:mm (a naive one is UTC, as Flask-
    Babel reads it): digits only, the same in every language, as Babel's pattern "dd/MM/yyyy
    HH:mm" writes them, without its pattern engine (fifty moments on the audit trail's page
    took 1.3 ms; tests/unit/test_numbers.py compares the two)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone())
    return f"{local.day:02d}/{local.month:02d}/{local.year:04d} {local.hour:02d}:{local.minute:02d}"


def number(value, digits: int = 1) -> str:
    """A number in the user's language: 5,5 in Vietnamese, 5.5 in English; whole numbers
    without a decimal part (5, not 5,0)."""
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        # Counts fill the daily screens (the monitoring page writes some fifty): Babel parses
        # the pattern on every call, so each whole number is formatted once per language.
        return _whole_number(get_locale(), value, digits)
    return format_decimal(value, format=_pattern(digits))


def _pattern(digits: int) -> str:
    return "#,##0" + ("." + "#" * digits if digits else "")


@functools.lru_cache(maxsize=4096)
def _whole_number(locale: Locale | None, value: int, digits: int) -> str:
    # What flask_babel.format_decimal does, with the request's locale passed in.
    return numbers.format_decimal(value, format=_pattern(digits), locale=locale)


def file_size(size: int) -> str:
    """Bytes as KB or MB, in the user's language."""
    if size < 1024 * 1024:
        return f"{number(max(size / 1024, 0.1))} KB"
    return f"{number(size / (1024 * 1024))} MB"


# The translations kept by KeptDomain: one per locale object, at most this many.
_LOCALES_KEPT = 64


class KeptDomain(Domain):
    """Flask-Babel's domain of the app's messages, its translations kept per locale object.
    Domain.get_translations looks the request's context up twice and spells the locale's name
    out again at each call (19 us on a slow machine, some forty times a page: the templates'
    _(), the views' gettext, the forms' lazy labels). A request's locale is one object for the
    whole request (get_locale keeps it) and force_locale's another, so the translations found
    for an object are the ones Domain would find again; outside a request (no locale) it asks
    Domain each time. Installed as the Babel object's domain (init_app), which gettext,
    lazy_gettext and the forms' messages all go through."""

    def __init__(self, domain: str) -> None:
        super().__init__(domain=domain)
        self._kept: dict[int, tuple[Locale, object]] = {}

    def get_translations(self):
        locale = get_locale()
        if locale is None:
            return super().get_translations()
        hit = self._kept.get(id(locale))
        if hit is None or hit[0] is not locale:
            if len(self._kept) >= _LOCALES_KEPT:
                self._kept.clear()
            hit = self._kept[id(locale)] = (locale, super().get_translations())
        return hit[1]


@pass_context
def template_gettext(context, string: str, /, **variables):
    """A template's ``_()`` and ``gettext()``: what Jinja's newstyle gettext does with the
    callable Flask-Babel installs (jinja2.ext._make_new_gettext), in one call instead of
    three through the template's context (a staff page has some thirty of them, and each
    took 60 us on a slow machine): the translation, Markup when the template escapes, and
    the variables formatted in. A text without variables and without "%" is what the
    formatting would give back; one with "%" is formatted as Jinja formats it ("%%"), and so
    is anything not a text (an undefined name fails as it does in Jinja's). The context and the
    text are positional only, so that a variable may be called "string" or "context"."""
    rv = babel.domain_instance.get_translations().ugettext(string)
    if context.eval_ctx.autoescape:
        # The catalogue's own text, trusted as Jinja trusts it; the variables are escaped by %.
        rv = Markup(rv)  # noqa: S704
    if variables or not isinstance(rv, str) or "%" in rv:
        rv = rv % variables
    return rv


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    # Babel's own domain_instance (a cached property) made once, as KeptDomain.
    if not isinstance(vars(babel).get("domain_instance"), KeptDomain):
        babel.domain_instance = KeptDomain(domain=app.extensions["babel"].default_domain)
    app.jinja_env.globals.update(_=template_gettext, gettext=template_gettext)
    app.jinja_env.filters["ddmmyyyy"] = _date
    app.jinja_env.filters["datetime"] = _datetime
    app.jinja_env.filters["number"] = number
    app.jinja_env.filters["file_size"] = file_size
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["SMALL_CELL_THRESHOLD"] = app.extensions[
        "caseapp.settings"
    ].small_cell_threshold
    app.jinja_env.globals["get_locale"] = lambda: str(get_locale())
