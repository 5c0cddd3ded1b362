"""Security headers on every response; authenticated pages are never stored."""

import json

from portal import db
from portal.blueprints.programs.on_call import on_call_numbers
from portal.security import Role
from tests import factories as f
from tests.conftest import csrf_from


def test_security_headers_on_public_pages(client, world):
    response = client.get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_authenticated_pages_are_no_store(client, login_as):
    login_as(Role.PATIENT)
    for url in ("/", "/week", "/calendar", "/account"):
        response = client.get(url)
        assert "no-store" in response.headers["Cache-Control"], url
        assert "HX-Request" in response.headers["Vary"], url


def test_pages_carry_no_inline_script_or_style(client, login_as):
    login_as(Role.PATIENT)
    for url in ("/", "/week", "/account", "/crisis", "/offline"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>" not in html and " style=" not in html and "<style" not in html
        assert "onclick" not in html


def test_hashed_static_files_are_cached_long(client, world):
    html = client.get("/sign-in").get_data(as_text=True)
    import re

    css = re.search(r'href="(/static/app\.css\?v=[0-9a-f]+)"', html).group(1)
    response = client.get(css)
    assert "immutable" in response.headers["Cache-Control"]


def test_crisis_page_works_signed_out_and_names_988_and_911(app, client, world):
    # the programs' numbers are kept in memory (refreshed after a response when
    # stale); this test's program is new, so read them now, as a refresh would
    on_call_numbers(app).refresh(db.session)
    html = client.get("/crisis").get_data(as_text=True)
    assert 'href="tel:988"' in html and 'href="tel:911"' in html and "sms:988" in html
    assert world.program.on_call_phone in html


def test_service_worker_and_manifest_are_served_from_the_root(client, world):
    sw = client.get("/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["Content-Type"]
    manifest = client.get("/manifest.webmanifest").get_json(force=True)
    assert manifest["display"] == "standalone"
    assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}


def test_manifest_has_id_lang_description_and_the_headers_neutral_name(
    client, login_as, world
):
    world.program.app_name = "Harbor App"
    login_as(Role.PATIENT)
    manifest = client.get("/manifest.webmanifest").get_json(force=True)
    page = client.get("/").get_data(as_text=True)
    name = client.application.config["APP_NAME"]
    assert manifest["name"] == name and f'class="brand" href="/">{name}<' in page
    assert "Harbor" not in json.dumps(manifest)  # never the program's own name
    assert manifest["id"] == "/" and manifest["start_url"] == "/"
    assert f'<html lang="{manifest["lang"]}"' in page
    assert f'name="description" content="{manifest["description"]}"' in page


def test_the_app_name_is_one_setting_for_manifest_and_header(
    client, app, world, monkeypatch
):
    monkeypatch.setitem(app.config, "APP_NAME", "Care Portal")
    manifest = client.get("/manifest.webmanifest").get_json(force=True)
    page = client.get("/crisis").get_data(as_text=True)
    assert manifest["name"] == "Care Portal" and manifest["short_name"] == "Care Portal"
    assert 'class="brand" href="/">Care Portal<' in page


def test_bad_ids_and_unknown_pages_get_a_calm_404(client, login_as):
    login_as(Role.THERAPIST)
    for url in (
        "/staff/patients/1%27%20OR%201=1",
        "/staff/patients/" + "x" * 500,
        "/no-such-page",
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert "We could not find that page" in response.get_data(as_text=True)


def test_a_form_posted_over_https_with_no_referer_is_taken(client, world):
    """Pages send Referrer-Policy: no-referrer, so browsers post forms with no Referer;
    over HTTPS (behind the TLS proxy) a sign-in must still work, and a forged post
    without the token must still be refused."""
    https = {"base_url": "https://portal.example.org"}
    page = client.get("/sign-in", **https).get_data(as_text=True)
    form = {"email": world.patient.email, "password": f.PASSWORD}
    forged = client.post("/sign-in", data=form, **https)
    assert forged.status_code == 400
    signed_in = client.post(
        "/sign-in", data={**form, "csrf_token": csrf_from(page)}, **https
    )
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:300]
