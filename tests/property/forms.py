"""The forms a person can send, read from the pages they can open (as a browser
would): each form's action, and its fields with the values the page offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from wtforms.fields.core import UnboundField

from portal.security import has_permission

SKIP = {"static", "auth.sign_out"}  # sign-out ends the test's own session
FIELD_TAGS = {"input", "select", "textarea", "button"}


@dataclass
class Field:
    """What a page says about one field: its kind and the values it offers."""

    kinds: set[str] = field(default_factory=set)
    offered: set[str] = field(default_factory=set)

    @property
    def kind(self) -> str:
        for kind in ("number", "date", "time", "choice", "email"):
            if kind in self.kinds:
                return kind
        if self.offered and all(_is_number(v) for v in self.offered if v):
            return "number" if any(self.offered) else "text"
        return "text"


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


@dataclass
class Form:
    """One POST route, the URL a page sends it to and the fields of its forms."""

    endpoint: str
    rule: Rule
    urls: set[str] = field(default_factory=set)
    fields: dict[str, Field] = field(default_factory=dict)

    def offer(self, name: str, value: str | None, kind: str | None = None) -> None:
        info = self.fields.setdefault(name, Field())
        if value is not None:
            info.offered.add(value)
        if kind is not None:
            info.kinds.add(kind)


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, str, list[tuple[str, str | None, str]]]] = []
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            method = (attrs.get("method") or "get").lower()
            self.forms.append((attrs.get("action") or "", method, []))
        elif not self.forms:
            return
        elif tag == "select":
            self._select = attrs.get("name")
            self.forms[-1][2].append((self._select, None, "choice"))
        elif tag == "option" and self._select:
            self.forms[-1][2].append((self._select, attrs.get("value", ""), "choice"))
        elif tag in FIELD_TAGS and attrs.get("name"):
            value = attrs.get("value", "" if tag == "input" else None)
            self.forms[-1][2].append((attrs["name"], value, _kind(tag, attrs)))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def _kind(tag: str, attrs: dict) -> str:
    kind = attrs.get("type", "text") if tag == "input" else tag
    if kind in ("radio", "checkbox", "button", "submit"):
        return "choice"
    if attrs.get("inputmode") in ("numeric", "decimal"):
        return "number"
    return kind


def read_forms(html: str, page: str) -> list[tuple[str, str, list]]:
    parser = _FormParser()
    parser.feed(html)
    return [(action or page, method, fields) for action, method, fields in parser.forms]


def may_use(app, user, rule: Rule) -> bool:
    view = app.view_functions[rule.endpoint]
    if view.is_public:
        return True
    return user is not None and any(
        has_permission(user, p) for p in view.required_permissions
    )


def _posts_to(app, user, rule: Rule) -> bool:
    """The signed-out test takes the open forms; a role, the forms behind sign-in."""
    if "POST" not in rule.methods or rule.endpoint in SKIP:
        return False
    if app.view_functions[rule.endpoint].is_public:
        return user is None
    return may_use(app, user, rule)


def discover(app, client, user, fill) -> dict[str, Form]:
    """The POST routes of `user` (the open ones when None), with the fields their
    forms have on the pages `user` can open; `fill(rule)` gives path values."""
    forms = {
        rule.endpoint: Form(rule.endpoint, rule)
        for rule in app.url_map.iter_rules()
        if _posts_to(app, user, rule)
    }
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP or "GET" not in rule.methods:
            continue
        if rule.rule.startswith("/fhir") or not may_use(app, user, rule):
            continue
        page = rule.build(fill(rule), append_unknown=False)[1]
        response = client.get(page)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        for action, method, fields in read_forms(response.get_data(as_text=True), page):
            if method != "post":
                continue
            path = urlsplit(action).path
            try:
                endpoint, _args = adapter.match(path, method="POST")
            except HTTPException:
                continue
            if endpoint in forms:
                forms[endpoint].urls.add(path)
                for name, value, kind in fields:
                    forms[endpoint].offer(name, value, kind)
    return forms


CLASS_KINDS = {
    "IntegerField": "number",
    "DecimalField": "number",
    "DateField": "date",
    "TimeField": "time",
    "SelectField": "choice",
    "RadioField": "choice",
    "BooleanField": "choice",
    "EmailField": "email",
}


def _class_fields(form_class, prefix: str = "") -> dict[str, list[str]]:
    """Field names (and offered choices) of a WTForms class, as its page would name
    them."""
    fields = {}
    for name, unbound in vars(form_class).items():
        if isinstance(unbound, UnboundField):
            choices = unbound.kwargs.get("choices") or []
            offered = [str(c[0] if isinstance(c, tuple) else c) for c in choices]
            kind = CLASS_KINDS.get(unbound.field_class.__name__, "text")
            fields[f"{prefix}-{name}" if prefix else name] = (kind, offered)
    return fields


def _forms_not_always_on_a_page() -> dict[str, list[tuple]]:
    """Forms that a page shows only in some state (a flag already acknowledged, a
    patient's first message, a second-factor step): their fields from the class."""
    from portal.blueprints.auth.forms import CodeForm
    from portal.blueprints.messages.forms import (
        FlagForm,
        HandledForm,
        MessageForm,
        StartForm,
    )
    from portal.blueprints.safety.forms import AssessForm, ResolveForm

    return {
        "safety.assess_flag": [(AssessForm, "assess")],
        "safety.resolve_flag": [(ResolveForm, "resolve")],
        "messages.flag": [(FlagForm, "flag")],
        "messages.handled": [(HandledForm, "handled")],
        "messages.index": [(StartForm, ""), (MessageForm, "")],
        "messages.thread": [(MessageForm, "")],
        "auth.second_factor": [(CodeForm, "")],
        "auth.set_up_code": [(CodeForm, "")],
    }


def add_class_fields(forms: dict[str, Form]) -> None:
    for endpoint, classes in _forms_not_always_on_a_page().items():
        if endpoint not in forms:
            continue
        for form_class, prefix in classes:
            for name, (kind, offered) in _class_fields(form_class, prefix).items():
                forms[endpoint].offer(name, None, kind)
                for value in offered:
                    forms[endpoint].offer(name, value)
