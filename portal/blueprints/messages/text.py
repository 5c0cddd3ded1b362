"""Message text: clean what comes in, show it safely with clickable links, and find the
program's crisis phrases in it. Pure functions, no database."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from portal.text import remove_hidden_characters

DEFAULT_CRISIS_PHRASES = (
    "kill myself",
    "killing myself",
    "end my life",
    "ending my life",
    "take my own life",
    "suicide",
    "suicidal",
    "want to die",
    "wanna die",
    "wish i was dead",
    "better off dead",
    "better off without me",
    "hurt myself",
    "hurting myself",
    "no reason to live",
    "can't go on",
    "overdose on purpose",
    # Spanish: patients read and write the portal in Spanish too. Phones often drop
    # accents, so a phrase with one is there both ways.
    "suicidarme",
    "suicidio",
    "suicida",
    "me quiero matar",
    "quiero matarme",
    "me voy a matar",
    "voy a matarme",
    "quitarme la vida",
    "acabar con mi vida",
    "terminar con mi vida",
    "quiero morir",
    "quiero morirme",
    "me quiero morir",
    "ganas de morir",
    "no quiero vivir",
    "no quiero seguir viviendo",
    "mejor muerto",
    "mejor muerta",
    "mejor sin mi",
    "mejor sin mí",
    "hacerme daño",
    "hacerme dano",
    "razon para vivir",
    "razón para vivir",
    "ya no puedo mas",
    "ya no puedo más",
)

_URL = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}>"


def clean_body(raw: str) -> str:
    """Line breaks made uniform, hidden characters removed, ends trimmed."""
    return remove_hidden_characters(raw).strip()


def linkify(text: str) -> Markup:
    """The text escaped, with http and https addresses made into links.

    Built only from escaped pieces: the message itself is never trusted as markup.
    """
    pieces: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = _trim(match.group(0))
        start, end = match.start(), match.start() + len(url)
        pieces.append(escape(text[position:start]))
        pieces.append(_link(url) if _is_web_address(url) else escape(url))
        position = end
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)


def _trim(url: str) -> str:
    """Leave sentence punctuation out of the link; keep a closing bracket it opened."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _is_web_address(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _link(url: str) -> Markup:
    return Markup('<a href="{0}" rel="noopener noreferrer nofollow">{0}</a>').format(
        url
    )


# ---- crisis phrases ------------------------------------------------------------------


def normalize(text: str) -> str:
    """Lower case, straight apostrophes dropped, anything else not a letter or digit
    turned into one space: "Can't  go-on!" becomes "cant go on"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub("['\u2018\u2019\u02bc`]", "", text)
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def clean_phrases(lines: list[str]) -> list[str]:
    """One phrase per line, trimmed, without blanks or repeats, in the order given."""
    seen: dict[str, str] = {}
    for line in lines:
        phrase = " ".join(line.split())
        key = normalize(phrase)
        if key and key not in seen:
            seen[key] = phrase
    return list(seen.values())


def find_crisis_phrases(text: str, phrases: list[str]) -> list[str]:
    """The phrases that appear in the text as whole words (case and punctuation
    ignored). Negations still match ("I don't want to die"): a person reads it."""
    haystack = f" {normalize(text)} "
    return [p for p in phrases if (key := normalize(p)) and f" {key} " in haystack]
