"""Forms of the narrative of a period report, its compilation and its submission."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired

from caseapp.forms import FlaskForm, VersionedForm
from caseapp.services.equality.sections import SECTIONS, section_names


def _section_name(key: str) -> str:
    return section_names()[key]


class NarrativeForm(VersionedForm):
    number = StringField(_l("Number of the document"))
    signer_title = StringField(_l("Signing title"))
    signer_name = StringField(_l("Name of the signer"))
    recipients = TextAreaField(_l("Recipients (one per line)"))

    def section_fields(self) -> list:
        return [self[f"section_{key}"] for key in SECTIONS]

    def sections(self) -> dict[str, str]:
        return {key: self[f"section_{key}"].data or "" for key in SECTIONS}


for _key in SECTIONS:
    setattr(
        NarrativeForm,
        f"section_{_key}",
        TextAreaField(LazyString(_section_name, _key), render_kw={"rows": 8}),
    )


class CompileForm(FlaskForm):
    unit = HiddenField()
    period = HiddenField()
    version = HiddenField()  # the draft's, as the page showed it (0: none yet)
    replace = BooleanField(_l("Replace the text written so far"))


class WorkSubmitForm(FlaskForm):
    unit = HiddenField()
    period = HiddenField()
    confirm = BooleanField(
        _l("I have checked the text and the figures: they are final"),
        validators=[DataRequired(_l("Tick the box to confirm the report is final."))],
    )
