"""The patient's consent form and the staff timeline's filter."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, RadioField, SelectMultipleField
from wtforms.validators import DataRequired, InputRequired

from portal.blueprints.record.kinds import PATIENT_LABELS, RecordKind
from portal.forms import PortalForm

DURATION_CHOICES = [("3", "3 months"), ("6", "6 months"), ("12", "1 year")]


class ShareForm(PortalForm):
    """Consent to share kinds of the record with one recipient (42 CFR 2.31)."""

    recipient = HiddenField()
    kinds = SelectMultipleField(
        "What to share",
        validators=[DataRequired("Choose at least one kind of information to share.")],
    )
    months = RadioField(
        "For how long",
        choices=DURATION_CHOICES,
        default="12",
        validators=[InputRequired("Choose how long to share.")],
    )
    agree = BooleanField(
        "I have read this. I agree to share what I chose, with this recipient, "
        "for my care.",
        validators=[DataRequired("Tick the box to show you agree.")],
    )


def share_form(recipient_id: str, kinds: list[RecordKind], **kwargs) -> ShareForm:
    form = ShareForm(prefix=f"r-{recipient_id[:8]}", **kwargs)
    form.kinds.choices = [(k.value, PATIENT_LABELS[k]) for k in kinds]
    form.recipient.data = recipient_id
    return form


class PaymentConsentForm(PortalForm):
    """Consent to send a payer what it needs to pay for the patient's care."""

    payer = HiddenField()
    months = RadioField(
        "For how long",
        choices=DURATION_CHOICES,
        default="12",
        validators=[InputRequired("Choose how long to share.")],
    )
    agree = BooleanField(
        "I agree that my program may send this review to my insurance, so that my "
        "care is paid.",
        validators=[DataRequired("Tick the box to show you agree.")],
    )


def payment_form(index: int, payer: str, **kwargs) -> PaymentConsentForm:
    form = PaymentConsentForm(prefix=f"pay-{index}", **kwargs)
    form.payer.data = payer
    return form
