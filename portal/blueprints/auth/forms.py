"""Sign-in, second-factor, enrollment-code and password forms."""

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from portal.forms import PortalForm

PASSWORD_RULES = [
    DataRequired("Choose a password."),
    Length(min=10, max=128, message="Use at least 10 characters (up to 128)."),
]


SIGN_IN_NAME = "Email or mobile phone number"
SIGN_IN_NAME_RULES = [
    DataRequired("Enter your email or mobile phone number."),
    Length(max=254),
]


class SignInForm(PortalForm):
    # Named "email" as before; a patient without email types their mobile number.
    email = StringField(SIGN_IN_NAME, validators=SIGN_IN_NAME_RULES)
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=128)]
    )


class CodeForm(PortalForm):
    code = StringField(
        "6-digit code",
        validators=[
            DataRequired("Enter the 6-digit code from your app."),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="The code is 6 digits."),
        ],
    )


class SetPasswordForm(PortalForm):
    email = StringField(SIGN_IN_NAME, validators=SIGN_IN_NAME_RULES)
    code = StringField(
        "Code from the program staff",
        validators=[DataRequired("Enter the code you were given."), Length(max=20)],
    )
    password = PasswordField("New password", validators=PASSWORD_RULES)
    confirm = PasswordField(
        "New password again",
        validators=[
            DataRequired("Type the password again."),
            EqualTo("password", message="The two passwords are not the same."),
        ],
    )


class ChangePasswordForm(PortalForm):
    current = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password.")]
    )
    password = PasswordField("New password", validators=PASSWORD_RULES)
    confirm = PasswordField(
        "New password again",
        validators=[
            DataRequired("Type the password again."),
            EqualTo("password", message="The two passwords are not the same."),
        ],
    )
