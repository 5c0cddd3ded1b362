"""The steps of a risk alert and the safety plan."""

from __future__ import annotations

from wtforms import (
    IntegerField,
    RadioField,
    TextAreaField,
)
from wtforms.validators import (
    InputRequired,
    Length,
    Optional,
)

from portal.blueprints.safety.models import SAFETY_PLAN_SECTIONS, RiskLevel
from portal.forms import PortalForm


class AssessForm(PortalForm):
    # No default: a form saved untouched must not record a risk level nobody chose.
    risk_level = RadioField(
        "Risk level",
        choices=[(r.value, r.value.capitalize()) for r in RiskLevel],
        validators=[InputRequired("Choose a risk level: low, moderate or high.")],
    )
    plan = TextAreaField(
        "Plan", validators=[InputRequired("Write the plan."), Length(max=2000)]
    )
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


class ReplyForm(PortalForm):
    """A button and its CSRF token: the patient's answer is the address it posts to."""


class ResolveForm(PortalForm):
    note = TextAreaField(
        "How was this resolved?",
        validators=[InputRequired("Write how it was resolved."), Length(max=2000)],
    )


class SafetyPlanForm(PortalForm):
    version = IntegerField(validators=[Optional()])


for _key, _label, _hint in SAFETY_PLAN_SECTIONS:
    setattr(
        SafetyPlanForm,
        _key,
        TextAreaField(
            _label, description=_hint, validators=[Optional(), Length(max=2000)]
        ),
    )
