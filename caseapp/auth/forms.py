"""Sign-in forms."""

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from caseapp.forms import FlaskForm, no_control_characters
from caseapp.models.users import USERNAME_MAX


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
