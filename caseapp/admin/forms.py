"""Administration forms; limits come from the model constants."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional, Regexp

from caseapp.forms import FlaskForm, VersionedForm, no_control_characters
from caseapp.limits import REASON_MAX
from caseapp.models.units import UNIT_CODE_MAX, UNIT_NAME_MAX
from caseapp.models.users import EMAIL_MAX, FULL_NAME_MAX, USERNAME_MAX
from caseapp.services.org.referrals import ADDRESS_MAX, NAME_MAX, PHONE_MAX


def _max(n: int) -> Length:
    return Length(max=n, message=_l("At most %(max)d characters.", max=n))


def unit_code_field(label) -> StringField:
    return StringField(
        label,
        validators=[DataRequired(_l("Enter a unit code.")), _max(UNIT_CODE_MAX)],
        render_kw={"list": "unit-codes", "autocapitalize": "characters", "spellcheck": "false"},
    )


def _trait_field(label) -> SelectField:
    """A school's level or ownership, a commune's local type: the service checks the value
    (an unknown one is refused with its reason); empty: guessed from the name."""
    return SelectField(label, validators=[Optional()], validate_choice=False)


class UnitTraitsMixin:
    level = _trait_field(_l("School level"))
    ownership = _trait_field(_l("Ownership"))
    local_type = _trait_field(_l("Commune, ward or special zone"))


class UnitForm(UnitTraitsMixin, FlaskForm):
    parent_code = unit_code_field(_l("Parent unit (code)"))
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(_l("Enter a unit code.")),
            _max(UNIT_CODE_MAX),
            Regexp(
                r"^[A-Za-z0-9][A-Za-z0-9_-]+$",
                message=_l("A unit code has 2 to 20 capital letters, digits, - or _."),
            ),
        ],
        render_kw={"autocapitalize": "characters", "spellcheck": "false"},
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter a name.")), _max(UNIT_NAME_MAX), no_control_characters],
    )
    kind = SelectField(_l("Kind"), validators=[InputRequired(_l("Choose the kind of unit."))])
    valid_from = DateField(_l("Open since"), validators=[Optional()], format="%Y-%m-%d")


class UnitEditForm(UnitTraitsMixin, VersionedForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter a name.")), _max(UNIT_NAME_MAX), no_control_characters],
    )
    kind = SelectField(_l("Kind"))


class CloseUnitForm(VersionedForm):
    valid_to = DateField(
        _l("Closed on"), validators=[DataRequired(_l("Enter a date."))], format="%Y-%m-%d"
    )


class MoveUnitForm(VersionedForm):
    new_parent_code = unit_code_field(_l("New parent unit (code)"))
    on = DateField(_l("From"), validators=[DataRequired(_l("Enter a date."))], format="%Y-%m-%d")


class UserForm(FlaskForm):
    username = StringField(
        _l("User name"),
        validators=[
            DataRequired(_l("Enter a user name.")),
            _max(USERNAME_MAX),
            Regexp(
                r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$",
                message=_l("A user name has 3 to 64 lower-case letters, digits, . _ or -."),
            ),
        ],
        render_kw={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"},
    )
    full_name = StringField(
        _l("Full name"),
        validators=[
            DataRequired(_l("Enter the full name.")),
            _max(FULL_NAME_MAX),
            no_control_characters,
        ],
    )
    email = StringField(
        _l("E-mail"),
        validators=[
            Optional(),
            _max(EMAIL_MAX),
            Email(message=_l("The e-mail address is not valid."), check_deliverability=False),
        ],
    )
    unit_code = unit_code_field(_l("Unit (code)"))
    # The first grant, on the same page: no role chosen (the prompt) creates the account alone.
    role = SelectField(_l("Role"), validators=[Optional()])
    role_unit_code = StringField(
        _l("At unit (code)"),
        validators=[Optional(), _max(UNIT_CODE_MAX)],
        render_kw={"list": "unit-codes", "autocapitalize": "characters", "spellcheck": "false"},
    )
    reason = TextAreaField(
        _l("Why (for the person who approves)"),
        validators=[Optional(), _max(REASON_MAX), no_control_characters],
    )


class UserEditForm(VersionedForm):
    full_name = StringField(
        _l("Full name"),
        validators=[
            DataRequired(_l("Enter the full name.")),
            _max(FULL_NAME_MAX),
            no_control_characters,
        ],
    )
    email = StringField(
        _l("E-mail"),
        validators=[
            Optional(),
            _max(EMAIL_MAX),
            Email(message=_l("The e-mail address is not valid."), check_deliverability=False),
        ],
    )


class GrantForm(FlaskForm):
    role = SelectField(_l("Role"), validators=[DataRequired(_l("Choose a role."))])
    unit_code = unit_code_field(_l("At unit (code)"))
    reason = TextAreaField(
        _l("Why (for the person who approves)"),
        validators=[Optional(), _max(REASON_MAX), no_control_characters],
    )


class DecisionForm(VersionedForm):
    """Approve, reject or withdraw a request; the note is required to reject."""

    note = TextAreaField(
        _l("Note"),
        validators=[Optional(), _max(REASON_MAX), no_control_characters],
    )


class AccountActionForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Please give a reason.")),
            _max(REASON_MAX),
            no_control_characters,
        ],
    )


class ContactForm(VersionedForm):
    unit_code = unit_code_field(_l("Unit (code)"))
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter a name.")), _max(NAME_MAX), no_control_characters],
    )
    kind = SelectField(_l("Kind of service"))
    phone = StringField(
        _l("Phone"), validators=[Optional(), _max(PHONE_MAX), no_control_characters]
    )
    address = TextAreaField(
        _l("Address"), validators=[Optional(), _max(ADDRESS_MAX), no_control_characters]
    )
    active = BooleanField(_l("In use"), default=True)


class ImportForm(FlaskForm):
    """An uploaded table of units or accounts (XLSX or CSV), checked or imported."""

    file = FileField(
        _l("File (.xlsx or .csv)"), validators=[FileRequired(_l("Choose the file to import."))]
    )


class AccountImportForm(ImportForm):
    reason = TextAreaField(
        _l("Why (for the approver, optional)"),
        validators=[Optional(), _max(REASON_MAX), no_control_characters],
    )


class ReformForm(FlaskForm):
    """A re-organisation file (school code, new parent code, from date)."""

    file = FileField(
        _l("Re-organisation file (XLSX or CSV)"),
        validators=[FileRequired(_l("Choose a file."))],
        render_kw={"accept": ".xlsx,.csv"},
    )
    close_emptied = BooleanField(_l("Close the offices no unit sits under any more"))


class ReferralDefaultsForm(FlaskForm):
    """Add the usual services (hotline 111, commune police, health station...) to a unit."""

    unit_code = unit_code_field(_l("Unit (code)"))
