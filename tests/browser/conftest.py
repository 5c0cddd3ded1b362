"""Browser fixtures: the real `portal demo` server in a subprocess, Debian's Chromium
driven by Playwright on a phone-sized viewport, and sign-in helpers that use the forms
as a person would."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.checks import PageChecker
from tests.browser.html_validity import HtmlChecker

DEMO_PASSWORD = "demo-portal-2026"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "locale": "en-US",
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def transaction():
    """Replaces the suite's rolled-back transaction: the server here is another process
    with its own database, so there is nothing to roll back."""
    yield None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _portal_command() -> str:
    beside_python = Path(sys.executable).with_name("portal")
    found = str(beside_python) if beside_python.exists() else shutil.which("portal")
    if not found:
        pytest.skip("the `portal` command is not installed (pip install -e .)")
    return found


def _wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"portal demo exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 - our own local server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"portal demo did not answer /healthz within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.skip(
            "Debian's chromium is not installed (apt-get install chromium); "
            "browser tests need it"
        )
    return path


@pytest.fixture(scope="session")
def server(tmp_path_factory, chromium_path):
    """`portal demo` on a free port with its own SQLite file and instance folder."""
    folder = tmp_path_factory.mktemp("browser")
    port = _free_port()
    env = dict(os.environ)
    env.pop("PORTAL_ENV", None)
    env["PORTAL_DATABASE_URL"] = f"sqlite:///{folder}/browser.db"
    log = folder / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [_portal_command(), "demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process, log)
        yield {"url": url, "folder": folder, "database": folder / "browser.db"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser(chromium_path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Python playwright is not installed"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def base_url(server) -> str:
    return server["url"]


@pytest.fixture(scope="session")
def html_checker(tmp_path_factory, chromium_path):
    """The Nu HTML Checker, started once for the session (see html_validity.py)."""
    try:
        checker = HtmlChecker(tmp_path_factory.mktemp("vnu") / "vnu.log")
    except RuntimeError as error:
        pytest.fail(str(error))
    yield checker
    checker.stop()


@pytest.fixture
def check(html_checker):
    """check(page, name): axe, reflow at 320 px, tap targets, CSP and valid HTML for
    one page."""
    return PageChecker(html_checker)


@pytest.fixture
def new_phone(browser, base_url, check):
    """Open fresh phone-sized browser contexts (each its own cookies, storage and
    service worker); all are closed at the end of the test."""
    contexts = []

    def open_context(**options):
        """`options` add to or override the phone's (e.g. java_script_enabled, or
        base_url at http://localhost for passkeys)."""
        context = browser.new_context(**({"base_url": base_url} | PHONE | options))
        context.set_default_timeout(15_000)
        context.on("page", check.watch)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def phone(new_phone):
    """A page in a fresh phone-sized context."""
    return new_phone().new_page()


def fill_sign_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def sign_in_patient(page, email: str = "patient@demo.test") -> None:
    page.goto("/sign-in")
    fill_sign_in(page, email)
    page.wait_for_url("**/")


def enter_demo_code(page) -> None:
    """On the code page, type the current code that the demo shows. A code works once
    per 30-second step, so if this account already used this step's code, wait for
    the next one."""
    for _attempt in range(2):
        code = page.locator(".notice.demo strong").inner_text().strip()
        page.get_by_label("code").fill(code)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()
        if not page.url.endswith("/sign-in/code"):
            return
        page.wait_for_timeout(1000 * (30 - time.time() % 30) + 500)
        page.goto("/sign-in/code")
    raise AssertionError("the demo's TOTP code was refused twice")


def sign_in_staff(page, email: str, check=None) -> None:
    """Password, then the TOTP code; `check` (if given) audits the code page."""
    page.goto("/sign-in")
    fill_sign_in(page, email)
    page.wait_for_url("**/sign-in/code")
    if check is not None:
        check(page, "second-factor code page")
    enter_demo_code(page)
