"""Every `portal ...` command the README and the docs name exists: each one's --help
runs through the installed console command, in a process of its own, as an operator
would type it."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
# `portal` and its words up to the first option, argument or comment; `a / b` offers
# either word at that place.
COMMAND = re.compile(r"(?<![\w./:-])portal((?: +(?:/ +)?[a-z][a-z0-9-]*)+)")
PORTAL = Path(sys.executable).with_name("portal")


def _code_of(text: str) -> list[str]:
    blocks = FENCED.findall(text)
    return [*blocks, *INLINE.findall(FENCED.sub("", text))]


def _paths(words: str) -> list[tuple[str, ...]]:
    """`fhir-client add / list / revoke` -> the three commands it names."""
    levels: list[list[str]] = []
    for alternative, word in re.findall(r"(/ +)?([a-z][a-z0-9-]*)", words):
        if alternative:
            levels[-1].append(word)
        else:
            levels.append([word])
    return list(itertools.product(*levels))


def documented_commands() -> dict[tuple[str, ...], set[str]]:
    """Each command named in code in the README and docs/, with where it is named."""
    found: dict[tuple[str, ...], set[str]] = {}
    for document in DOCUMENTS:
        for code in _code_of(document.read_text()):
            for match in COMMAND.finditer(code):
                for path in _paths(match.group(1)):
                    found.setdefault(path, set()).add(document.name)
    return found


def _longest(commands: dict) -> dict:
    """Only the paths no other path extends (`audit verify` runs `audit` too), each
    with every document that names it or a shorter form of it."""
    longest = {
        path: set(places)
        for path, places in commands.items()
        if not any(len(o) > len(path) and o[: len(path)] == path for o in commands)
    }
    for path, places in commands.items():
        for other in longest:
            if other[: len(path)] == path:
                longest[other] |= places
    return longest


def _console_env(tmp_path: Path) -> dict:
    """This shell's environment without its PORTAL_ settings, on a scratch database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_DATABASE_URL"] = f"sqlite:///{tmp_path}/portal.db"
    return env


def test_the_documents_are_read_for_commands():
    commands = documented_commands()
    assert {
        ("migrate",),
        ("vapid-keys",),
        ("worker",),
        ("audit", "verify"),
        ("fhir-client", "revoke"),
    } <= {path[:2] for path in commands}
    assert {"README.md", "operations.md"} <= set().union(*commands.values())


def test_every_documented_command_answers_its_help(tmp_path):
    env = _console_env(tmp_path)

    def help_of(path: tuple[str, ...]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(PORTAL), *path, "--help"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    commands = _longest(documented_commands())
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = dict(zip(commands, pool.map(help_of, commands), strict=True))
    failed = [
        f"portal {' '.join(path)} (named in {', '.join(sorted(commands[path]))}): "
        f"exit {answer.returncode}: {answer.stderr.strip()[-300:]}"
        for path, answer in answers.items()
        if answer.returncode != 0 or "Usage: portal" not in answer.stdout
    ]
    assert failed == []


def test_push_keys_are_made_the_documented_way(tmp_path):
    """README's deploy step `portal vapid-keys --env`, typed at the console."""
    env = _console_env(tmp_path)
    made = subprocess.run(
        [str(PORTAL), "vapid-keys", "--env"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    lines = dict(line.split("=", 1) for line in made.stdout.splitlines() if "=" in line)
    assert set(lines) == {"PORTAL_VAPID_PRIVATE_KEY", "PORTAL_VAPID_PUBLIC_KEY"}
    key_file = tmp_path / "instance" / "vapid_private.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert lines["PORTAL_VAPID_PUBLIC_KEY"] in made.stdout.splitlines()[1]
