"""The patient's consent form and the staff timeline's filter."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, RadioField, SelectMultipleField
from wtforms.validators import DataRequired, InputRequired

from portal.blueprints.record.kinds import PATIENT_LABELS, RecordKind
from portal.forms import PortalForm

DURATION_CHOICES = [("3", _l("3 months")), ("6", _l("6 months")), ("12", _l("1 year"))]


class ShareForm(PortalForm):
    """Consent to share kinds of the record with one recipient (42 CFR 2.31)."""

    recipient = HiddenField()
    kinds = SelectMultipleField(
        _l("What to share"),
        validators=[
            DataRequired(_l("Choose at least one kind of information to share."))
        ],
    )
    months = RadioField(
        _l("For how long"),
        choices=DURATION_CHOICES,
        default="12",
        validators=[InputRequired(_l("Choose how long to share."))],
    )
    agree = BooleanField(
        _l(
            "I have read this. I agree to share what I chose, with this recipient, "
            "for my care."
        ),
        validators=[DataRequired(_l("Tick the box to show you agree."))],
    )


def share_form(recipient_id: str, kinds: list[RecordKind], **kwargs) -> ShareForm:
    form = ShareForm(prefix=f"r-{recipient_id[:8]}", **kwargs)
    form.kinds.choices = [(k.value, gettext(PATIENT_LABELS[k])) for k in kinds]
    form.recipient.data = recipient_id
    return form


class PaymentConsentForm(PortalForm):
    """Consent to send a payer what it needs to pay for the patient's care."""

    payer = HiddenField()
    months = RadioField(
        _l("For how long"),
        choices=DURATION_CHOICES,
        default="12",
        validators=[InputRequired(_l("Choose how long to share."))],
    )
    agree = BooleanField(
        _l(
            "I agree that my program may send this review to my insurance, so that "
            "my care is paid."
        ),
        validators=[DataRequired(_l("Tick the box to show you agree."))],
    )


def payment_form(index: int, payer: str, **kwargs) -> PaymentConsentForm:
    form = PaymentConsentForm(prefix=f"pay-{index}", **kwargs)
    form.payer.data = payer
    return form
