"""The notification preferences form: which kinds to push, and quiet hours."""

from __future__ import annotations

from datetime import time

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, TimeField
from wtforms.validators import Optional

from portal.blueprints.notifications.kinds import KINDS, kinds_for
from portal.blueprints.notifications.models import (
    NotificationKind,
    NotificationPreference,
)
from portal.forms import PortalForm


class PreferencesForm(PortalForm):
    quiet = BooleanField(_l("Keep my phone quiet at night"))
    quiet_start = TimeField(_l("Quiet from"), format="%H:%M", validators=[Optional()])
    quiet_end = TimeField(_l("Until"), format="%H:%M", validators=[Optional()])

    kinds: list[NotificationKind] = []

    def kind_fields(self):
        return [self[f"push_{kind.value}"] for kind in self.kinds]

    def pushed_kinds(self) -> set[NotificationKind]:
        return {kind for kind in self.kinds if self[f"push_{kind.value}"].data}

    def quiet_hours(self):
        return (self.quiet_start.data, self.quiet_end.data) if self.quiet.data else None

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not self.quiet.data:
            return True
        if self.quiet_start.data is None or self.quiet_end.data is None:
            self.quiet_start.errors = [_l("Choose when quiet hours start and end.")]
            return False
        if self.quiet_start.data == self.quiet_end.data:
            self.quiet_end.errors = [_l("The start and end must be different times.")]
            return False
        return True


def preferences_form(is_staff: bool, pref: NotificationPreference) -> PreferencesForm:
    """A form with one checkbox per kind this person can get (always-on kinds are
    not offered: they cannot be turned off)."""
    kinds = [kind for kind in kinds_for(is_staff) if not KINDS[kind].always_on]
    fields = {f"push_{kind.value}": BooleanField(KINDS[kind].label) for kind in kinds}
    form_class = type("PersonPreferencesForm", (PreferencesForm,), fields)
    form_class.kinds = kinds
    off = set(pref.push_off or [])
    data = {f"push_{kind.value}": kind.value not in off for kind in kinds}
    quiet = pref.quiet_start is not None and pref.quiet_end is not None
    data.update(
        quiet=quiet,
        quiet_start=pref.quiet_start or time(21, 0),
        quiet_end=pref.quiet_end or time(8, 0),
    )
    return form_class(data=data)
