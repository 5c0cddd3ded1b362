"""The base of every form: CSRF (Flask-WTF), and each field's text cleaned of control
and invisible characters in one place, so no form can store a NUL byte or a disguised
message, whatever the feature. The CSRF field renders without an `id`: a page may hold
several forms, and ids must be unique on a page."""

from __future__ import annotations

from flask_wtf import FlaskForm

from portal.text import remove_hidden_characters


def _clean(value):
    return remove_hidden_characters(value) if isinstance(value, str) else value


def _first_choice_has_value(field) -> bool:
    choices = list(field.iter_choices())
    return bool(choices) and choices[0][0] not in ("", None)


class PortalForm(FlaskForm):
    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = [*unbound_field.kwargs.get("filters", ()), _clean]
            return unbound_field.bind(form=form, filters=filters, **options)

        def render_field(self, field, render_kw):
            if field.type == "CSRFTokenField":
                render_kw = {"id": False, **render_kw}
            elif field.type == "SelectField" and _first_choice_has_value(field):
                # always has a value chosen; HTML allows `required` on a select only
                # when its first option is an empty placeholder
                render_kw = {**render_kw, "required": False}
            elif field.type == "DateField" and field.errors:
                # what was typed is not a date; an <input type=date> cannot hold it
                render_kw = {**render_kw, "value": ""}
            return super().render_field(field, render_kw)
