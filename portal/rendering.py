"""One URL, two renderings: the whole page, or for an htmx request its fragment. The
page template includes the fragment template, so both come from one source."""

from __future__ import annotations

from flask import Response, make_response, render_template

from portal.extensions import htmx
from portal.headers import VARY


def wants_fragment() -> bool:
    """htmx asks for part of a page; a boosted link or form gets the whole page."""
    return bool(htmx) and not htmx.boosted


def render_page(page: str, fragment: str, status: int = 200, **context) -> Response:
    """Render `page`, or `fragment` for an htmx request; caches key on the headers."""
    template = fragment if wants_fragment() else page
    response = make_response(render_template(template, **context), status)
    for header in VARY:
        response.vary.add(header)
    return response


def refused_status() -> int:
    """The status of a form sent back with its errors: 422 for a plain form, 200 for
    htmx, which swaps only successful answers into the page."""
    return 200 if htmx else 422
