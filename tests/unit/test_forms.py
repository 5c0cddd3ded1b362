"""Every form of the portal is a PortalForm, so control and invisible characters are
removed from its text in one place."""

from __future__ import annotations

import importlib
import pkgutil

from flask_wtf import FlaskForm

import portal.blueprints
from portal.forms import PortalForm
from portal.text import remove_hidden_characters


def _every_subclass(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _every_subclass(sub)


def test_every_form_is_a_portal_form(app):
    for module in pkgutil.walk_packages(portal.blueprints.__path__, "portal."):
        importlib.import_module(module.name.replace("portal.", "portal.blueprints.", 1))
    forms = [c for c in _every_subclass(FlaskForm) if c.__module__.startswith("portal")]
    assert len(forms) > 20
    assert [c for c in forms if not issubclass(c, PortalForm)] == []


def test_hidden_characters_are_removed_and_line_breaks_kept():
    raw = "a\x00b\tc\r\nd\re\u202ef\u200bg\x85h"
    assert remove_hidden_characters(raw) == "ab\tc\nd\nefgh"
