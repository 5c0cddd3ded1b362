"""Sign-in, second-factor, enrollment-code and password forms."""

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from portal.forms import PortalForm

PASSWORD_RULES = [
    DataRequired(_l("Choose a password.")),
    Length(min=10, max=128, message=_l("Use at least 10 characters (up to 128).")),
]


SIGN_IN_NAME = _l("Email or mobile phone number")
SIGN_IN_NAME_RULES = [
    DataRequired(_l("Enter your email or mobile phone number.")),
    Length(max=254),
]


class SignInForm(PortalForm):
    # Named "email" as before; a patient without email types their mobile number.
    email = StringField(SIGN_IN_NAME, validators=SIGN_IN_NAME_RULES)
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=128)],
    )


class CodeForm(PortalForm):
    code = StringField(
        _l("6-digit code"),
        validators=[
            DataRequired(_l("Enter the 6-digit code from your app.")),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("The code is 6 digits.")),
        ],
    )


class SetPasswordForm(PortalForm):
    email = StringField(SIGN_IN_NAME, validators=SIGN_IN_NAME_RULES)
    code = StringField(
        _l("Code from the program staff"),
        validators=[DataRequired(_l("Enter the code you were given.")), Length(max=20)],
    )
    password = PasswordField(_l("New password"), validators=PASSWORD_RULES)
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Type the password again.")),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
    )


class ChangePasswordForm(PortalForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
    )
    password = PasswordField(_l("New password"), validators=PASSWORD_RULES)
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Type the password again.")),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
    )
