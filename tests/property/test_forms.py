"""Every form of every role, filled from its own fields (read from the pages the role
can open, or from its WTForms class) with hostile values: no answer is a server
error, and a refused post saves nothing."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from portal.security import Role
from tests.conftest import _pick, csrf_from
from tests.property import strategies as hostile
from tests.property.conftest import (
    KEPT_FOR_RISK,
    ON_POSTGRES,
    baseline_counts,
    row_counts,
)
from tests.property.forms import add_class_fields, discover
from tests.property.world import furnish, signed_in_clients

COOKIE = "portal_session"
# Posts that may carry a risk answer: item 2 keeps the flag of a refused one.
RISK_FORMS = {
    "checkins.checkin",
    "checkins.screener",
    "messages.index",
    "messages.thread",
}
JSON_FORMS = {"notifications.add_device"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _subscription() -> dict:
    """A push subscription as a browser sends it: a real P-256 key, the same on
    every run so that examples repeat."""
    point = (
        ec.derive_private_key(20261207, ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    return {
        "endpoint": "https://fcm.googleapis.com/fcm/send/property-test",
        "keys": {"p256dh": _b64(point), "auth": _b64(b"sixteen byte key")},
    }


def _json_bodies(control: bool):
    """A subscription as push.js sends it, with parts of it spoiled."""
    good = _subscription()

    def part(offered: str):
        return hostile.mostly(st.just(offered), hostile.value_for([], control=control))

    value = hostile.value_for([], control=control)
    keys = st.fixed_dictionaries(
        {"p256dh": part(good["keys"]["p256dh"]), "auth": part(good["keys"]["auth"])}
    )
    shaped = st.fixed_dictionaries(
        {
            "endpoint": part(good["endpoint"]),
            "keys": hostile.mostly(keys, st.one_of(value, st.none())),
        }
    )
    other = st.one_of(value, st.lists(value, max_size=3), st.none())
    return hostile.mostly(shaped, other)


@st.composite
def _form_data(draw, form, token: str, control: bool) -> MultiDict:
    """The form as its page fills it, with some fields (none, one, several or all)
    spoiled: hostile, left out, or sent twice; with `control`, spoiled values and
    every text carry control characters."""
    names = sorted(n for n in form.fields if n != "csrf_token")
    spoil = draw(st.sets(st.sampled_from(names))) if names else set()
    data = MultiDict()
    for name in names:
        field = form.fields[name]
        if name not in spoil:
            value = hostile.plausible(field.offered, field.kind)
            if control and field.kind in ("text", "email"):
                value = hostile.with_control_character(value)
            data.add(name, draw(value))
            continue
        how = draw(st.sampled_from(["hostile", "hostile", "hostile", "out", "twice"]))
        bad = hostile.spoiled(field.offered, field.kind)
        if control:
            bad = hostile.with_control_character(bad)
        for _ in range({"hostile": 1, "out": 0, "twice": 2}[how]):
            data.add(name, draw(bad))
    if draw(hostile.mostly(st.just(False), st.just(True), 9)):
        data.add(draw(hostile.odd_text), draw(hostile.hostile))
    good = draw(hostile.mostly(st.just(True), st.just(False), 19))
    data["csrf_token"] = token if good else draw(hostile.hostile)
    return data


@st.composite
def posts(draw, forms, furnished, user, token, control=False):
    """One post: a form of the role, its URL (mostly the page's own; else another
    program's object or a made-up id) and its fields filled in."""
    form = draw(st.sampled_from(forms))
    own = st.sampled_from(sorted(form.urls))
    url = draw(hostile.mostly(own, furnished.urls(form.rule, user)))
    headers = {"HX-Request": "true"} if draw(st.integers(0, 3)) == 0 else {}
    if form.endpoint in JSON_FORMS:
        headers["X-CSRFToken"] = token
        return form.endpoint, url, {"json": draw(_json_bodies(control))}, headers
    body = {"data": draw(_form_data(form, token, control))}
    return form.endpoint, url, body, headers


def send(client, tally, endpoint, url: str, body: dict, headers: dict) -> int:
    """Post once, keeping the signed-in session whatever the post did to it; an
    exception (Flask lets it through in tests) counts as a 500."""
    cookie = client.get_cookie(COOKIE)
    try:
        status = client.post(url, headers=headers, **body).status_code
    except Exception:
        tally.saw(500, endpoint)
        raise
    finally:
        if cookie is not None:
            client.set_cookie(COOKIE, cookie.value)
    tally.saw(status, endpoint)
    return status


def _forms_of(app, client, furnished, user):
    """Read the person's forms from their pages (their class where a page shows a
    form only in some state), and a CSRF token as a browser would."""
    fill = lambda rule: furnished.path_values(rule, user)["own"]  # noqa: E731
    forms = discover(app, client, user, fill)
    add_class_fields(forms)
    for form in forms.values():
        own = form.rule.build(fill(form.rule), append_unknown=False)[1]
        form.urls = form.urls or {own}
    page = "/account" if user is not None else "/sign-in"
    token = csrf_from(client.get(page).get_data(as_text=True))
    return sorted(forms.values(), key=lambda f: f.endpoint), token


def _check(client, tally, each_example, baseline, endpoint, url, body, headers):
    with each_example():
        status = send(client, tally, endpoint, url, body, headers)
        assert status < 500, (status, url)
        if 400 <= status < 500:
            skip = KEPT_FOR_RISK if endpoint in RISK_FORMS else set()
            after = row_counts(skip)
            before = {k: v for k, v in baseline.items() if k in after}
            assert after == before, f"{status} from {url} saved rows"


ROLES = [*Role, None]
ROLE_IDS = [role.value if role else "signed_out" for role in ROLES]


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_no_form_of_any_role_ends_in_a_server_error_or_saves_when_refused(
    app, client, login_as, world, role, each_example, tally
):
    furnished = furnish(world)
    user = login_as(role) if role is not None else None
    forms, token = _forms_of(app, client, furnished, user)
    baseline = baseline_counts()

    @given(posts(forms, furnished, user, token))
    def post_anything(post):
        endpoint, url, body, headers = post
        _check(client, tally, each_example, baseline, endpoint, url, body, headers)

    post_anything()
    assert client.get("/account").status_code == (200 if user else 302)


def test_control_characters_in_any_form_of_any_role_never_end_in_a_server_error(
    app, world, each_example, tally
):
    furnished = furnish(world)
    clients = signed_in_clients(app, world, ROLES)
    targets = []
    for role, client in clients.items():
        user = _pick(world, role) if role is not None else None
        forms, token = _forms_of(app, client, furnished, user)
        targets += [(client, user, token, form) for form in forms]
    baseline = baseline_counts()

    @st.composite
    def control_posts(draw):
        client, user, token, form = draw(st.sampled_from(targets))
        post = draw(posts([form], furnished, user, token, control=True))
        return (client, *post)

    # Where item 2 is still to come a NUL fails at once; shrinking would only replay.
    phases = [Phase.generate] if ON_POSTGRES else list(Phase)

    @settings(phases=phases)
    @given(control_posts())
    def post_control_characters(post):
        client, endpoint, url, body, headers = post
        _check(client, tally, each_example, baseline, endpoint, url, body, headers)

    post_control_characters()


def _filled(form, token: str) -> MultiDict:
    """The form as a person fills it in: the page's first offer, else a default."""
    data = MultiDict({"csrf_token": token})
    for name, field in sorted(form.fields.items()):
        if name != "csrf_token":
            offered = sorted(v for v in field.offered if v)
            data[name] = offered[0] if offered else hostile.DEFAULTS[field.kind]
    return data


def test_every_field_of_every_form_takes_every_edge_value_of_its_kind(
    app, world, each_example, tally
):
    """Not random: each field, the rest of its form filled in, gets each edge value
    of its kind once (the random tests meet any one of them only now and then)."""
    furnished = furnish(world)
    clients = signed_in_clients(app, world, ROLES)
    posts = []
    for role, client in clients.items():
        user = _pick(world, role) if role is not None else None
        forms, token = _forms_of(app, client, furnished, user)
        posts += [
            (client, form.endpoint, sorted(form.urls)[0], data)
            for form in forms
            if form.endpoint not in JSON_FORMS
            for data in _each_edge(form, token)
        ]
    baseline = baseline_counts()
    for client, endpoint, url, data in posts:
        _check(client, tally, each_example, baseline, endpoint, url, {"data": data}, {})


def _each_edge(form, token: str):
    filled = _filled(form, token)
    for name, field in sorted(form.fields.items()):
        for value in hostile.EDGES[field.kind] if name != "csrf_token" else []:
            data = filled.copy()
            data[name] = value
            yield data
