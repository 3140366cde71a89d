"""Sign-in forms."""

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from caseapp.forms import FlaskForm, no_control_characters
from caseapp.models.users import USERNAME_MAX

# A half is printed "ABCD-EFGH"; spaces and dashes typed around it do not matter.
HALF_MAX = 40
HALF_INPUT = {
    "autocomplete": "off",
    "autocapitalize": "characters",
    "spellcheck": "false",
    "class": "code-half",
}


class LoginForm(FlaskForm):
    username = StringField(
        _l("User name"),
        validators=[
            DataRequired(_l("Enter your user name.")),
            Length(max=USERNAME_MAX, message=_l("At most %(max)d characters.", max=USERNAME_MAX)),
            no_control_characters,  # a NUL would reach the user lookup: PostgreSQL refuses it
        ],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(_l("Enter your password.")),
            Length(max=512, message=_l("At most %(max)d characters.", max=512)),
        ],
        render_kw={"autocomplete": "current-password"},
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(_l("Enter the code.")),
            Length(max=20, message=_l("At most %(max)d characters.", max=20)),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "autocapitalize": "none",
        },
    )


class EnrolmentCodeForm(FlaskForm):
    """First sign-in with the two halves of an enrolment code and a password of one's own."""

    username = StringField(
        _l("User name"),
        validators=[
            DataRequired(_l("Enter your user name.")),
            Length(max=USERNAME_MAX, message=_l("At most %(max)d characters.", max=USERNAME_MAX)),
            no_control_characters,
        ],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    first_half = StringField(
        _l("Part 1 of the code"),
        validators=[
            DataRequired(_l("Enter part 1 of the code.")),
            Length(max=HALF_MAX, message=_l("At most %(max)d characters.", max=HALF_MAX)),
            no_control_characters,
        ],
        render_kw=HALF_INPUT,
    )
    second_half = StringField(
        _l("Part 2 of the code"),
        validators=[
            DataRequired(_l("Enter part 2 of the code.")),
            Length(max=HALF_MAX, message=_l("At most %(max)d characters.", max=HALF_MAX)),
            no_control_characters,
        ],
        render_kw=HALF_INPUT,
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(_l("Enter a new password.")),
            Length(max=512, message=_l("At most %(max)d characters.", max=512)),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    repeat = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Enter the new password again.")),
            EqualTo("new_password", message=_l("The two new passwords differ.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
