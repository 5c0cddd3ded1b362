"""Can failures from one client keep someone else out? Sign-ins of the right password
refused because of failures from another client, under four attacks at once.

In-process through the Flask test client (real forms, CSRF, second factor), on a
temporary SQLite file or a PostgreSQL URL. 10 staff (password and code) and 10
patients each signed in once before on their usual device at the clinic's Wi-Fi
address. Then, at every account:

- 6 wrong passwords from an attacker's address;
- 6 from a new device on the clinic's Wi-Fi (the address the staff share);
- 6 from one address forging a new X-Forwarded-For each time (no proxy trusted);
- 60 from 60 addresses, one each (a spread attack).

Then everyone signs in with the right password from their usual device (at the
clinic) and from a new device at home. A refusal of either is a lockout caused by
another client's failures: the target is 0. A new device on the clinic's Wi-Fi is
the failing client's own address: its refusals are reported, not counted.

    .venv/bin/python bench/lockout.py [--database-url postgresql://...]

The cheap test profile of argon2 is used: this counts answers, it does not time them.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import tempfile
from pathlib import Path

import pyotp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "correct horse battery"  # noqa: S105 - accounts of this throwaway database
SECRET = pyotp.random_base32(32)
CLINIC = "192.0.2.10"
PEOPLE = 10  # of each kind


def make_app(url: str):
    from portal import create_app
    from portal.migrate import upgrade

    upgrade(url)
    return create_app(
        {"TESTING": True, "SQLALCHEMY_URL": url, "ARGON2_PROFILE": "test"}
        | {"SECRET_KEY": secrets.token_urlsafe(32)}
    )


def seed(app) -> list:
    from portal import db
    from portal.blueprints.auth.models import User
    from portal.blueprints.auth.services import hash_password
    from portal.security import Role

    with app.app_context():
        digest = hash_password(PASSWORD)
        people = [
            User(
                email=f"{kind}{n}@bench.test",
                display_name=f"{kind} {n}",
                role=Role.NURSE if kind == "nurse" else Role.PATIENT,
                password_hash=digest,
                totp_secret=SECRET if kind == "nurse" else None,
                totp_enabled=kind == "nurse",
            )
            for kind in ("nurse", "patient")
            for n in range(PEOPLE)
        ]
        db.session.add_all(people)
        db.session.commit()
        return [(p.id, p.email, p.role is Role.NURSE) for p in people]


class Browser:
    """One device: its cookies, its address, and the sign-in form's token."""

    def __init__(self, app, address: str):
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = address
        self.token = ""

    def post(self, path: str, data: dict, headers: dict | None = None):
        if not self.token:
            html = self.client.get(path).get_data(as_text=True)
            self.token = CSRF_RE.search(html).group(1)
        data = {"csrf_token": self.token, **data}
        return self.client.post(path, data=data, headers=headers or {})

    def sign_in(self, app, person) -> bool:
        """The right password, and for staff the current code; True when in."""
        person_id, email, staff = person
        self.token = ""
        answer = self.post("/sign-in", {"email": email, "password": PASSWORD})
        if answer.status_code != 302 or not staff:
            return answer.status_code == 302
        fresh_step(app, person_id)
        self.token = ""
        code = pyotp.TOTP(SECRET).now()
        return self.post("/sign-in/code", {"code": code}).status_code == 302


def fresh_step(app, person_id: str) -> None:
    """A code is good once; the bench signs the same person in many times a step."""
    from sqlalchemy import update

    from portal import db
    from portal.blueprints.auth.models import User

    with app.app_context():
        statement = update(User).where(User.id == person_id)
        db.session.execute(statement.values(totp_last_step=None))
        db.session.commit()


def attack(app, email: str, tally: dict) -> None:
    def fail(browser, times: int, forge: bool = False) -> None:
        for _ in range(times):
            headers = {"X-Forwarded-For": _random_address()} if forge else None
            form = {"email": email, "password": "a wrong guess"}
            status = browser.post("/sign-in", form, headers).status_code
            tally["checked" if status == 200 else "stopped"] += 1

    fail(Browser(app, "203.0.113.5"), 6)
    fail(Browser(app, CLINIC), 6)
    fail(Browser(app, "203.0.113.6"), 6, forge=True)
    for n in range(60):
        fail(Browser(app, f"198.18.{n}.1"), 1)


def _random_address() -> str:
    return ".".join(str(secrets.randbelow(250) + 1) for _ in range(4))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/lockout.db"
    app = make_app(url)
    people = seed(app)
    usual = {}
    for person in people:
        usual[person[1]] = Browser(app, CLINIC)
        assert usual[person[1]].sign_in(app, person), "first sign-in failed"
        usual[person[1]].client.delete_cookie("portal_session")
    tally = {"checked": 0, "stopped": 0}
    for person in people:
        attack(app, person[1], tally)
    refused = {"usual device at the clinic": 0, "new device at home": 0}
    new_at_clinic = 0
    for n, person in enumerate(people):
        refused["usual device at the clinic"] += not usual[person[1]].sign_in(
            app, person
        )
        refused["new device at home"] += not Browser(app, f"100.64.0.{n}").sign_in(
            app, person
        )
        new_at_clinic += not Browser(app, CLINIC).sign_in(app, person)
    result = {
        "accounts": len(people),
        "attacker_tries": tally,
        "right_password_refused_by_other_clients_failures": refused,
        "total_refused": sum(refused.values()),
        "new_device_at_the_failing_address_refused": new_at_clinic,
    }
    print(json.dumps(result, indent=2))
    return 0 if result["total_refused"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
