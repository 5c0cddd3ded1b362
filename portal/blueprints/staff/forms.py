"""Access-reason and enrollment forms."""

from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

from portal.blueprints.staff.models import TeamRole

TEAM_LABELS = {
    TeamRole.THERAPIST: "Therapist",
    TeamRole.PRESCRIBER: "Psychiatrist or NP",
    TeamRole.NURSE: "Nurse",
    TeamRole.CASE_MANAGER: "Case manager",
    TeamRole.PEER: "Peer specialist",
}


class AccessReasonForm(FlaskForm):
    reason = TextAreaField(
        "Why do you need to see this patient?",
        validators=[
            DataRequired("Write your reason."),
            Length(min=10, max=500, message="Write 10 to 500 characters."),
        ],
        description="For example: covering for their therapist today. It is recorded.",
    )


class EnrollPatientForm(FlaskForm):
    display_name = StringField(
        "Name", validators=[DataRequired("Enter the name."), Length(max=120)]
    )
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter an email."),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter a valid email."),
            Length(max=254),
        ],
    )
    track_id = SelectField("Track", validators=[DataRequired("Choose a track.")])
    admitted_on = DateField(
        "Admission date", validators=[DataRequired("Enter the admission date.")]
    )
    therapist = SelectField("Therapist", validate_choice=False)
    prescriber = SelectField("Psychiatrist or NP", validate_choice=False)
    nurse = SelectField("Nurse", validate_choice=False)
    case_manager = SelectField("Case manager", validate_choice=False)
    peer = SelectField("Peer specialist", validate_choice=False)
