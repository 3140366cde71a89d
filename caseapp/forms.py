"""Form pieces shared by every blueprint."""

import threading
from typing import Any

from flask import request
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm as _FlaskForm
from markupsafe import Markup, escape
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import Select, html_params

from caseapp.limits import REASON_MAX
from caseapp.security.text import refused_characters


class _Translations:
    """WTForms' own messages ("Not a valid choice.") from our catalogue: WTForms ships no
    Vietnamese. The msgids are listed in caseapp/wtforms_messages.py for extraction."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


_TRANSLATIONS = _Translations()


class FlaskForm(_FlaskForm):
    """The base of every form here: CSRF from Flask-WTF, messages in the user's language."""

    class Meta:
        def get_translations(self, form):
            return _TRANSLATIONS


class EmptyForm(FlaskForm):
    """A POST button with its CSRF token and nothing else."""


class VersionedForm(FlaskForm):
    version = HiddenField()

    def validate_version(self, field) -> None:
        if small_int(field.data) is None:
            raise ValidationError(_l("The form is incomplete. Reload the page."))


def small_int(raw, digits: int = 9) -> int | None:
    """``raw`` (a form or query value) as a whole number >= 0 that fits an integer column, or
    None: plain ASCII digits only ("²" is a digit to str.isdigit(), not to int()), at most
    ``digits`` of them (9 fit a 32-bit column, 18 a 64-bit one)."""
    text = ("" if raw is None else str(raw)).strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= digits else None


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Please give a reason.")),
            Length(max=REASON_MAX, message=_l("At most %(max)d characters.", max=REASON_MAX)),
        ],
    )


def clean_text(field: StringField) -> str:
    return (field.data or "").strip()


def no_control_characters(_form, field) -> None:
    value = field.data or ""
    if refused_characters(value):
        raise ValidationError(_l("This field holds characters that are not allowed."))


class KeptSelect(Select):
    """WTForms' select, its HTML kept and given again when the same field is drawn with the
    same choices (already translated, so one language's are not another's), the same value
    and the same attributes: the case list draws five of them on every page, and building
    their options took a tenth of the page. Only a value among the choices (or none) is
    kept, so what a request puts in the address cannot grow the store; a field with errors
    is drawn afresh. At most ``limit`` drawings are kept per widget."""

    def __init__(self, limit: int = 512) -> None:
        super().__init__()
        self.limit = limit
        self._kept: dict[tuple, Markup] = {}
        self._lock = threading.Lock()

    def __call__(self, field, **kwargs) -> Markup:
        key = self._key(field, kwargs)
        if key is None:
            return super().__call__(field, **kwargs)
        html = self._kept.get(key)
        if html is None:
            html = super().__call__(field, **kwargs)
            with self._lock:
                if len(self._kept) >= self.limit:
                    self._kept.clear()
                self._kept[key] = html
        return html

    @staticmethod
    def _key(field, kwargs: dict) -> tuple | None:
        choices = field.choices
        if field.errors or not isinstance(choices, list | tuple):
            return None
        try:
            # Labels as drawn (escaped; Markup as it is), attributes as drawn (True and "True"
            # differ), so that two inputs drawn differently never share a key.
            pairs = tuple((str(value), str(escape(label))) for value, label in choices)
            attributes = html_params(**kwargs)
        except (TypeError, ValueError):
            return None  # groups, or a choice not a (value, label) pair
        value = field.data
        if value not in (None, "") and str(value) not in {v for v, _label in pairs}:
            return None
        flags = tuple(sorted(k for k in ("required", "disabled") if getattr(field.flags, k, False)))
        return (field.id, field.name, pairs, value, attributes, flags)


def kept_query(drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The query's choices, for the links of a page that keep them (its next page, its
    export): those given, less ``drop`` (the links set them), and never a key url_for takes as
    an option of its own (``endpoint``, ``_method``, ``_external``...), which turned a typed
    ``?_method=POST`` into a server error."""
    return {
        k: v
        for k, v in request.args.items()
        if v and k not in drop and k != "endpoint" and not k.startswith("_")
    }
