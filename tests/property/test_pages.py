"""Every page any role can open, with hostile query strings (the week's start, the
timeline's dates and kinds, the queue's page, ...) and hostile ids in its path: never
a server error, and the week answers a plain 400 for a week out of range."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from portal.dates import in_range
from portal.security import Role
from tests.conftest import _pick
from tests.property import strategies as hostile
from tests.property.forms import SKIP, may_use
from tests.property.world import furnish, signed_in_clients

# Every name a page reads from its query string (request.args in the views).
QUERY_NAMES = {
    "start": "date",
    "from": "date",
    "to": "date",
    "kind": "choice",
    "view": "choice",
    "page": "number",
    "days": "number",
    "program": "text",
    "saved": "number",
    "away": "number",
    "before": "number",
    "after": "number",
    "v": "text",
}
# The pages that read a query string, and what they read.
QUERY_PAGES = {
    "schedule.week": ["start"],
    "record.timeline": ["from", "to", "kind"],
    "needs.queue": ["view", "kind", "page"],
    "needs.report": ["days"],
    "messages.index": ["before"],
    "messages.thread": ["before"],
    "messages.updates": ["after"],
    "messages.sharing": ["saved"],
    "messages.phrases": ["program", "saved"],
    "auth.sign_in": ["away"],
}
PATH_KINDS = {"day": "date"}
ROLES = [Role.PATIENT, Role.PEER, Role.CASE_MANAGER, Role.NURSE, Role.DIRECTOR]
ROLES += [Role.ADMIN, None]


def _pages(app, furnished, role) -> list:
    user = _pick(furnished.world, role) if role is not None else None
    return [
        (role, rule, furnished.path_values(rule, user))
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and rule.endpoint not in SKIP
        and not rule.rule.startswith("/fhir")
        and may_use(app, user, rule)
    ]


@st.composite
def _visit(draw, pages):
    """A page (half the time one that reads a query string), its path with the
    person's own object, another program's or a made-up id, and a query."""
    endpoints = sorted(pages)
    reading = sorted(e for e in pages if e in QUERY_PAGES)
    endpoint = draw(
        hostile.mostly(st.sampled_from(endpoints), st.sampled_from(reading), 1)
    )
    role, rule, values = draw(st.sampled_from(pages[endpoint]))
    if rule.arguments and draw(hostile.mostly(st.just(False), st.just(True), 2)):
        chosen = {}
        for name in rule.arguments:
            kind = PATH_KINDS.get(name, "text")
            value = draw(hostile.in_url(hostile.for_kind(kind))) or "x"
            chosen[name] = quote(value, safe="")
        path = rule.rule
        for name, value in chosen.items():
            path = path.replace(f"<{name}>", value).replace(f"<path:{name}>", value)
    else:
        which = draw(hostile.mostly(st.just("own"), st.just("other"), 3))
        path = rule.build(values[which], append_unknown=False)[1]
    names = st.sampled_from(sorted(QUERY_NAMES))
    if rule.endpoint in QUERY_PAGES:
        names = hostile.mostly(st.sampled_from(QUERY_PAGES[rule.endpoint]), names)

    def pair(name):
        kind = QUERY_NAMES[name]
        return st.tuples(st.just(name), hostile.in_url(hostile.value_for([], kind)))

    query = draw(st.lists(names.flatmap(pair), max_size=4))
    htmx = draw(hostile.mostly(st.just(False), st.just(True)))
    return role, rule.endpoint, path, query, {"HX-Request": "true"} if htmx else {}


def _week_status(query) -> int:
    """The week's answer: this week for a start not understood, 400 out of range."""
    start = next((value for name, value in query if name == "start"), "")
    try:
        chosen = date.fromisoformat(start) if start else None
    except ValueError:
        chosen = None
    return 400 if chosen is not None and not in_range(chosen) else 200


def test_no_page_of_any_role_ends_in_a_server_error_whatever_its_query(
    app, world, each_example, tally
):
    furnished = furnish(world)
    clients = signed_in_clients(app, world, ROLES)
    pages = {}
    for role in ROLES:
        for page in _pages(app, furnished, role):
            pages.setdefault(page[1].endpoint, []).append(page)

    @given(_visit(pages))
    def visit(page):
        role, endpoint, path, query, headers = page
        client = clients[role]
        with each_example():
            try:
                response = client.get(path, query_string=query, headers=headers)
            except Exception:
                tally.saw(500, endpoint)
                raise
            tally.saw(response.status_code, endpoint)
            assert response.status_code < 500, (role, path, query)
            if endpoint == "schedule.week" and role is Role.PATIENT:
                assert response.status_code == _week_status(query), query

    visit()
