"""Access-reason, enrollment and phone-number forms."""

from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
    TimeField,
    ValidationError,
)
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal import phones
from portal.blueprints.programs.models import TeamRole
from portal.blueprints.staff.audit_report import Filters
from portal.dates import date_in_range
from portal.db import utcnow
from portal.forms import PortalForm

TEAM_LABELS = {
    TeamRole.THERAPIST: "Therapist",
    TeamRole.PRESCRIBER: "Psychiatrist or NP",
    TeamRole.NURSE: "Nurse",
    TeamRole.CASE_MANAGER: "Case manager",
    TeamRole.PEER: "Peer specialist",
}


class AccessReasonForm(PortalForm):
    reason = TextAreaField(
        "Why do you need to see this patient?",
        validators=[
            DataRequired("Write your reason."),
            Length(min=10, max=500, message="Write 10 to 500 characters."),
        ],
        description="For example: covering for their therapist today. It is recorded.",
    )


class PhoneField(TelField):
    """A phone number as typed, checked with libphonenumber (portal/phones.py).
    `number` is what is stored: the number in E.164 (+12125550188). With
    `mobile=True` a number known not to be a mobile phone is refused."""

    def __init__(self, label: str, mobile: bool = True, **kwargs) -> None:
        self.mobile = mobile
        validators = [Optional(), Length(max=40, message=phones.INVALID)]
        super().__init__(label, validators=validators, **kwargs)
        self.number: str | None = None

    def pre_validate(self, form) -> None:
        self.number = None
        text = (self.data or "").strip()
        if not text:
            return
        check = phones.mobile_phone if self.mobile else phones.any_phone
        try:
            self.number = check(text)
        except phones.PhoneError as error:
            raise ValidationError(str(error)) from error


PHONE_HINT = (
    "The care team calls and texts the patient on it, for example when a safety "
    "alert opens. A patient with no email signs in with it."
)


class PhoneForm(PortalForm):
    mobile_phone = PhoneField("Mobile phone number", description=PHONE_HINT)


LANGUAGES = [("en", "English"), ("es", "Spanish (Español)")]
LANGUAGE_NAMES = dict(LANGUAGES)
NOT_ASKED = "Not asked yet: pages follow the language of their phone"
EMERGENCY_PHONE_MISSING = "Enter the emergency contact's phone number."
EMERGENCY_NAME_MISSING = "Enter the emergency contact's name."
NO_EMAIL_OR_PHONE = (
    "Enter an email or a mobile phone number: the patient signs in with one of them."
)


class EnrollPatientForm(PortalForm):
    display_name = StringField(
        "Legal name", validators=[DataRequired("Enter the name."), Length(max=120)]
    )
    preferred_name = StringField(
        "Preferred name (optional)",
        validators=[Optional(), Length(max=80, message="Use up to 80 characters.")],
        description="What the patient likes to be called. The whole team sees it.",
    )
    pronouns = StringField(
        "Pronouns (optional)",
        validators=[Optional(), Length(max=40, message="Use up to 40 characters.")],
        description="For example: she/her, he/him, they/them.",
    )
    date_of_birth = DateField(
        "Date of birth",
        validators=[DataRequired("Enter the date of birth."), date_in_range],
    )
    preferred_language = SelectField(
        "Language the patient reads best",
        choices=[("", NOT_ASKED), *LANGUAGES],
        default="",
        description="The patient can change it in the portal at any time.",
    )
    email = EmailField(
        "Email (optional)",
        validators=[
            Optional(),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter a valid email."),
            Length(max=254),
        ],
    )
    mobile_phone = PhoneField("Mobile phone number", description=PHONE_HINT)
    text_code = BooleanField("Also text the one-time code to this mobile number")
    track_id = SelectField("Track", validators=[DataRequired("Choose a track.")])
    admitted_on = DateField(
        "Admission date",
        validators=[DataRequired("Enter the admission date."), date_in_range],
    )
    emergency_name = StringField(
        "Emergency contact: name (optional)",
        validators=[Optional(), Length(max=120, message="Use up to 120 characters.")],
    )
    emergency_relationship = StringField(
        "Emergency contact: how they know the patient",
        validators=[Optional(), Length(max=60, message="Use up to 60 characters.")],
        description="For example: sister, partner, friend.",
    )
    emergency_phone = PhoneField("Emergency contact: phone number", mobile=False)
    therapist = SelectField("Therapist", validate_choice=False)
    prescriber = SelectField("Psychiatrist or NP", validate_choice=False)
    nurse = SelectField("Nurse", validate_choice=False)
    case_manager = SelectField("Case manager", validate_choice=False)
    peer = SelectField("Peer specialist", validate_choice=False)

    def validate_date_of_birth(self, field) -> None:
        if field.data and field.data > utcnow().date():
            raise ValidationError("The date of birth cannot be in the future.")

    def validate(self, extra_validators=None) -> bool:
        """The fields, then what needs two of them (their Optional() stops each
        field's own checks when it is empty)."""
        valid = super().validate(extra_validators)
        blank = {
            name: not (self[name].data or "").strip()
            for name in ("email", "mobile_phone", "emergency_name", "emergency_phone")
        }
        needs = []
        if blank["email"] and blank["mobile_phone"]:
            needs.append((self.mobile_phone, NO_EMAIL_OR_PHONE))
        if blank["emergency_phone"] and not blank["emergency_name"]:
            needs.append((self.emergency_phone, EMERGENCY_PHONE_MISSING))
        if blank["emergency_name"] and not blank["emergency_phone"]:
            needs.append((self.emergency_name, EMERGENCY_NAME_MISSING))
        for field, message in needs:
            field.errors = [*field.errors, message]
        return valid and not needs


AFTERCARE_HELP_DEFAULT = (
    "Call or text 988 any time, day or night (press 2 for Spanish). In danger now: "
    "call 911. You can still message your peer specialist here."
)


class DischargeForm(PortalForm):
    discharged_on = DateField(
        "Discharge date",
        validators=[DataRequired("Enter the discharge date."), date_in_range],
    )
    aftercare_appointments = TextAreaField(
        "Next appointments",
        validators=[
            DataRequired("Write the next appointments, or that none are set yet."),
            Length(max=2000, message="Use up to 2,000 characters."),
        ],
        description="Who, where and when. For example: Dr. Ames, Riverside Clinic, "
        "Tuesday Dec 15 at 10 AM, 617-555-0160.",
    )
    aftercare_help = TextAreaField(
        "Where to get help",
        default=AFTERCARE_HELP_DEFAULT,
        validators=[
            DataRequired("Write where the patient can get help."),
            Length(max=2000, message="Use up to 2,000 characters."),
        ],
    )

    def __init__(self, *args, admitted_on=None, today=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.admitted_on, self.today = admitted_on, today

    def validate_discharged_on(self, field) -> None:
        if not field.data:
            return
        if self.admitted_on and field.data < self.admitted_on:
            raise ValidationError("The discharge date cannot be before admission.")
        if self.today and field.data > self.today:
            raise ValidationError(
                "The discharge date cannot be in the future: discharge on the day."
            )


class AuditFilterForm(PortalForm):
    """The audit report's filters, sent in the address (ids and dates only)."""

    staff = SelectField("Staff member", choices=[("", "Anyone")], default="")
    what = SelectField(
        "What they did",
        choices=[
            ("", "Anything"),
            ("read", "Read"),
            ("shared", "Downloaded or shared"),
            ("changed", "Changed"),
        ],
        default="",
    )
    outcome = SelectField(
        "Allowed or refused",
        choices=[("", "Both"), ("allowed", "Allowed"), ("denied", "Refused")],
        default="",
    )
    since = DateField("From (day)", validators=[Optional()])
    until = DateField("To (day)", validators=[Optional()])

    def validate_on_staff(self, staff: list) -> bool:
        """False when the address names a staff member outside the programs."""
        wanted = self.staff.raw_data[0] if self.staff.raw_data else ""
        return not wanted or wanted in {member.id for member in staff}

    def filters(self, patient, before: str) -> Filters:
        """The report's filters from the checked form."""
        return Filters(
            patient_id=patient.id if patient else None,
            staff_id=self.staff.data or None,
            what=self.what.data or None,
            outcome=self.outcome.data or None,
            since=self.since.data,
            until=self.until.data,
            before=int(before) if before.isdigit() else None,
        )

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("Choose a day on or after the first day.")


# ---- the morning huddle -------------------------------------------------------------


class HuddleNoteForm(PortalForm):
    """What the team said about a patient (clinical: clinicians read it)."""

    body = TextAreaField(
        "Huddle note",
        validators=[
            DataRequired("Write the note."),
            Length(max=2000, message="Write at most 2,000 characters."),
        ],
    )


class HuddleActionForm(PortalForm):
    """Who does what for a patient, by when ("Maria to call about the ride by 11")."""

    what = StringField(
        "What to do",
        validators=[
            DataRequired("Say what is to be done."),
            Length(max=300, message="Write at most 300 characters."),
        ],
        description="For example: call about the ride",
    )
    owner = SelectField("Who does it", validators=[DataRequired("Choose who does it.")])
    due_on = DateField(
        "Due day",
        validators=[
            DataRequired("Enter the day it is due, like 2026-12-08."),
            date_in_range,
        ],
    )
    due_time = TimeField(
        "Due by",
        format="%H:%M",
        validators=[DataRequired("Enter the time it is due by, like 11:00.")],
    )
