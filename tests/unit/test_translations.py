"""Every string the patient pages mark for translation has its Spanish, keeps its
placeholders, and the compiled catalog the app reads is the one the .po says."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "portal/translations/es/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
}


def _spanish() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f)


def _marked() -> Catalog:
    """What `pybabel extract` finds in the sources today (babel.cfg)."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = Catalog()
    for path, line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message, locations=[(path, line)], context=context)
    return found


def test_every_marked_string_has_its_spanish():
    spanish = _spanish()
    missing = []
    for message in _marked():
        if not message.id:
            continue
        found = spanish.get(message.id, context=message.context)
        strings = found.string if found else None
        ok = all(strings) if isinstance(strings, tuple | list) else bool(strings)
        if not ok or (found and found.fuzzy):
            where = message.locations[0] if message.locations else ("?", 0)
            missing.append(f"{where[0]}:{where[1]}: {message.id!r}")
    assert not missing, "no Spanish (or fuzzy) for:\n" + "\n".join(missing)


def test_the_spanish_keeps_every_placeholder():
    problems = []
    for message in _spanish():
        if message.id:
            errors = message.check(_spanish())
            problems += [f"{message.id!r}: {e}" for e in errors]
    assert not problems, "\n".join(problems)


def test_the_compiled_catalog_is_the_po_file():
    compiled = io.BytesIO()
    write_mo(compiled, _spanish())
    assert MO.read_bytes() == compiled.getvalue(), (
        "messages.mo is stale: run `pybabel compile -d portal/translations`"
    )
