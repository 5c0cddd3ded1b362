"""The Nu HTML Checker (vnu, the W3C's validator) as a local service for the browser
tests: every page a browser test checks is sent, as the server sent it, and any error
fails that test.

`./test.sh` installs the `vnu-jar` package from the npm registry into `.cache/vnu/`; it
runs on the machine's Java 17. The checker starts once per test session (its schemas
take seconds to load) and answers each page in milliseconds."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JAR = Path(
    os.environ.get(
        "PORTAL_VNU_JAR", ROOT / ".cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar"
    )
)
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HtmlChecker:
    """A running vnu service; `errors(html)` lists the errors in one document."""

    def __init__(self, log: Path) -> None:
        java = shutil.which("java")
        if not java or not JAR.exists():
            raise RuntimeError(
                f"the Nu HTML Checker needs Java and {JAR}; ./test.sh installs it "
                "(npm install --prefix .cache/vnu vnu-jar)"
            )
        self.url = f"http://127.0.0.1:{_free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [
                    java,
                    "-Dnu.validator.servlet.bind-address=127.0.0.1",
                    "-cp",
                    str(JAR),
                    "nu.validator.servlet.Main",
                    port,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vnu exited early:\n{self.log.read_text()}")
            try:
                self.errors("<!doctype html><html lang=en><title>ready</title>")
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"vnu did not start within {STARTUP_SECONDS} s")

    def errors(self, html: str) -> list[str]:
        request = urllib.request.Request(  # noqa: S310 - our own local checker
            f"{self.url}/?out=json",
            data=html.encode(),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            messages = json.load(response)["messages"]
        return [
            f"line {m.get('lastLine', '?')}: {m['message']} "
            f"[{m.get('extract', '').strip()}]"
            for m in messages
            if m["type"] == "error" or m.get("subType") == "fatal"
        ]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
