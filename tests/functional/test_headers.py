"""Security headers on every response; authenticated pages are never stored."""

from portal.blueprints.auth.models import Role


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


def test_crisis_page_works_signed_out_and_names_988_and_911(client, world):
    html = client.get("/crisis").get_data(as_text=True)
    assert 'href="tel:988"' in html and 'href="tel:911"' in html and "sms:988" in html
    assert world.program.on_call_phone in html


def test_service_worker_and_manifest_are_served_from_the_root(client, world):
    sw = client.get("/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["Content-Type"]
    manifest = client.get("/manifest.webmanifest").get_json(force=True)
    assert manifest["display"] == "standalone"
    assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}


def test_manifest_uses_the_patients_program_app_name(client, login_as, world):
    world.program.app_name = "Harbor App"
    login_as(Role.PATIENT)
    assert (
        client.get("/manifest.webmanifest").get_json(force=True)["name"] == "Harbor App"
    )


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
