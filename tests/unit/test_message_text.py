"""Message text: escaping with safe links, cleaning, and crisis phrase matching."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from portal.blueprints.messages.text import (
    DEFAULT_CRISIS_PHRASES,
    clean_body,
    clean_phrases,
    find_crisis_phrases,
    linkify,
)

PHRASES = list(DEFAULT_CRISIS_PHRASES)


def test_linkify_escapes_everything_and_links_only_web_addresses():
    html = linkify('<b>hi</b> & "you" https://a.example/x?y=1&z=2')
    assert isinstance(html, Markup)
    assert html == Markup(
        "&lt;b&gt;hi&lt;/b&gt; &amp; &#34;you&#34; "
        '<a href="https://a.example/x?y=1&amp;z=2" rel="noopener noreferrer nofollow">'
        "https://a.example/x?y=1&amp;z=2</a>"
    )


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox",
        "ftp://files.example/",
        "https://",
        "http:///nohost",
    ],
)
def test_linkify_makes_no_link_of_other_schemes_or_broken_addresses(text):
    assert "<a " not in linkify(text)


def test_linkify_leaves_sentence_punctuation_out_and_keeps_balanced_brackets():
    assert 'href="https://a.example/page"' in linkify("See https://a.example/page.")
    assert 'href="https://w.example/A_(b)"' in linkify("(https://w.example/A_(b))")
    assert 'href="https://a.example/"' in linkify('"https://a.example/"')


def test_linkify_cannot_break_out_of_the_attribute():
    html = linkify('https://a.example/"onmouseover="alert(1)')
    assert 'href="https://a.example/"' in html
    assert "onmouseover=&#34;" in html or "onmouseover" not in html.split(">")[0]


def test_clean_body_drops_hidden_characters_and_unifies_line_breaks():
    assert clean_body("  a\r\nb\u202ec\u200bd\x00 ") == "a\nbcd"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("I want to KILL MYSELF", ["kill myself"]),
        ("thinking about suicide...", ["suicide"]),
        ("i just wanna die", ["wanna die"]),
        ("No reason to live anymore", ["no reason to live"]),
        ("I can\u2019t go on", ["can't go on"]),  # a curly apostrophe, as phones type
        ("I don't want to die", ["want to die"]),  # negation still asks a person
        ("I killed it at work today", []),
        ("the diet is working", []),
        ("suicidesquad movie", []),
        # Spanish, with and without the accents phones drop
        ("Ya no aguanto, me quiero matar", ["me quiero matar"]),
        ("pienso en el SUICIDIO", ["suicidio"]),
        ("a veces quiero morirme", ["quiero morirme"]),
        ("Estarían mejor sin mí", ["mejor sin mí"]),
        ("estarian mejor sin mi", ["mejor sin mi"]),
        ("quiero hacerme dano", ["hacerme dano"]),
        ("No tengo razón para vivir", ["razón para vivir"]),
        ("Mi jefe me va a matar si llego tarde", []),
        ("me muero de risa", []),
    ],
)
def test_crisis_phrases_match_whole_words_whatever_the_case_and_punctuation(
    text, found
):
    assert find_crisis_phrases(text, PHRASES) == found


def test_clean_phrases_trims_and_removes_repeats():
    assert clean_phrases(["  end  my life ", "End my life", "", "hurt myself"]) == [
        "end my life",
        "hurt myself",
    ]
