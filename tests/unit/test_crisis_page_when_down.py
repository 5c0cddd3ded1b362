"""The crisis page nginx serves itself when no app host answers
(deploy/nginx/crisis/_portal_down.html) cannot know the patient's language: it says
everything in English, then in Spanish in its own section marked lang="es", with
988's Spanish line (press 2, or text AYUDA), 911 and the program's on-call line."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "deploy/nginx/crisis/_portal_down.html"


class _Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections: list[tuple[str | None, list[str]]] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append((attrs.get("lang"), []))
            self.depth += 1
        elif self.depth and tag == "a":
            self.sections[-1][1].append(attrs.get("href", ""))

    def handle_endtag(self, tag):
        if tag == "section":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.sections[-1][1].append(data)


def _sections():
    parser = _Sections()
    parser.feed(PAGE.read_text())
    return {lang: " ".join(words) for lang, words in parser.sections}


def test_the_page_is_english_then_spanish():
    text = PAGE.read_text()
    assert '<html lang="en">' in text
    spanish = text.index('<section lang="es">')
    assert text.index("We cannot reach your records") < spanish
    assert list(_sections()) == [None, "es"]


def test_the_spanish_section_says_press_2_or_text_ayuda():
    spanish = _sections()["es"]
    assert "Llame al 988 y marque 2 para español" in spanish
    assert "sms:988?body=AYUDA" in spanish and "Envíe AYUDA" in spanish
    assert "tel:911" in spanish
    assert "línea de guardia" in spanish and "_portal_on_call.txt" in PAGE.read_text()
    english = _sections()[None]
    assert "tel:988" in english and "tel:911" in english
