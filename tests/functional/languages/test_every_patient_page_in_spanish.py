"""Every page a patient can open, read by a patient who chose Spanish, has no English
left: the test that fails when a patient-facing string has no translation, wherever it
comes from (a template, a form, a flash, words computed in Python).

The check looks for English words that Spanish never uses ("the", "your", "and" ...)
in the visible text and in the text read aloud (aria-label, alt, title, placeholder).
The named exceptions are marked in the page itself with lang="en": the C-SSRS screener,
which stays in its published English (docs/languages.md), and the switch back to
English. The test world's own data (names, group titles) holds none of those words.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from portal import db
from portal.security import has_permission
from tests.conftest import post_form, sign_in

ENGLISH = re.compile(
    r"\b(the|your|you|and|with|what|when|this|that|are|have|will|please|here|from"
    r"|for|not|can|to|of|is|was|were|been|has|it|we|our|about|there|which)\b",
    re.IGNORECASE,
)
READ_ALOUD = ("aria-label", "alt", "title", "placeholder")
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
# Not pages: files, feeds and answers for scripts.
NOT_PAGES = (
    "text/calendar",
    "json",
    "javascript",
    "manifest",
    "csv",
    "pdf",
    "text/plain",
)


class VisibleText(HTMLParser):
    """The text a patient sees or hears, leaving out what is marked lang="en"."""

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden from this check)
        self.words: list[str] = []

    @property
    def skipping(self) -> bool:
        return any(hidden for _, hidden in self.stack)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        hidden = tag in ("script", "style", "template") or values.get("lang") == "en"
        if not hidden and not self.skipping:
            self.words += [values[a] for a in READ_ALOUD if values.get(a)]
            if tag == "input" and values.get("type") in ("submit", "button"):
                self.words.append(values.get("value") or "")
        if tag not in VOID:
            self.stack.append((tag, hidden))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.words.append(data.strip())


def english_left(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return [text for text in parser.words if ENGLISH.search(text)]


def patient_pages(app, patient) -> list[str]:
    """Every GET route without arguments a patient may open (and the public ones)."""
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        if rule.endpoint.startswith("fhir") or rule.rule.startswith("/fhir"):
            continue
        allowed = getattr(view, "is_public", False) or any(
            has_permission(patient, p) for p in view.required_permissions
        )
        if allowed:
            found.append(rule.rule)
    return sorted(found)


@pytest.fixture
def spanish_patient(client, world):
    world.patient.preferred_language = "es"
    db.session.flush()
    sign_in(client, world.patient)
    return world.patient


def _page(client, url):
    response = client.get(url)
    kind = response.headers.get("Content-Type", "")
    if response.status_code != 200 or any(k in kind for k in NOT_PAGES):
        return None
    return response.get_data(as_text=True)


def test_every_patient_page_is_in_spanish(app, client, world, spanish_patient):
    urls = patient_pages(app, spanish_patient)
    assert "/" in urls and "/crisis" in urls
    left = {}
    for url in urls:
        html = _page(client, url)
        if html is not None:
            assert '<html lang="es">' in html, url
            if english := english_left(html):
                left[url] = english
    assert not left, "English left on Spanish pages:\n" + "\n".join(
        f"{url}: {texts}" for url, texts in left.items()
    )


def test_the_check_finds_english(client, world, spanish_patient):
    """The check itself: English text is found, text marked lang="en" is not."""
    assert english_left("<main><p>Your schedule</p></main>") == ["Your schedule"]
    assert english_left('<p lang="en">Have you wished you were dead?</p>') == []
    assert english_left('<button aria-label="Close the menu">x</button>') == [
        "Close the menu"
    ]
    assert english_left("<p>Su horario de hoy</p>") == []


def _english_on(html: str, url: str, left: dict) -> None:
    assert '<html lang="es">' in html, url
    if english := english_left(html):
        left[url] = english


def test_pages_that_name_something_are_in_spanish(client, world, spanish_patient):
    """The pages with an id or a name in their address: each questionnaire (the
    C-SSRS's own words marked lang="en"), each kind of help request, telling the
    program about a group, changing an appointment, one help request."""
    urls = [f"/questions/{slug}" for slug in ("a", "b", "c")]
    urls += [f"/help/new/{slug}" for slug in ("a", "b", "c")]
    urls += [
        f"/today/tell/{world.group.id}",
        f"/appointments/{world.appointment.id}/change",
    ]
    left: dict = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        _english_on(response.get_data(as_text=True), url, left)
    asked = post_form(
        client,
        "/help/new/c",
        {"need": "food", "urgency": "2", "details": "Comida para la semana"},
    )
    _english_on(client.get(asked.location).get_data(as_text=True), "a request", left)
    assert not left, "English left on Spanish pages:\n" + "\n".join(
        f"{url}: {texts}" for url, texts in left.items()
    )


def test_what_a_post_answers_is_in_spanish(client, world, spanish_patient):
    """A check-in with "I do not feel safe" (crisis help at once), a PHQ-9 and a form
    sent back with its errors."""
    left: dict = {}
    unsafe = post_form(
        client,
        "/check-in",
        {
            "mood": "2",
            "craving": "1",
            "sleep_hours": "5",
            "medication": "yes",
            "feels_safe": "no",
            "note": "",
        },
    )
    html = unsafe.get_data(as_text=True)
    assert "marque 2" in html and "AYUDA" in html
    _english_on(html, "check-in, not safe", left)
    phq9 = post_form(client, "/questions/a", {f"q{n}": "1" for n in range(1, 10)})
    _english_on(phq9.get_data(as_text=True), "PHQ-9 saved", left)
    refused = post_form(client, "/check-in", {"mood": "11"})
    assert refused.status_code == 422
    _english_on(refused.get_data(as_text=True), "check-in sent back", left)
    assert not left, "English left on Spanish pages:\n" + "\n".join(
        f"{url}: {texts}" for url, texts in left.items()
    )
