"""Throttling of tries at a secret (password, second factor, enrollment code, EHR
client secret), per account and client, so that nobody's failures lock out anybody
else.

A client is a device that signed in to this account before (it holds a signed device
cookie naming the account), else the client's address (after the trusted proxies,
IPv6 by its /64). Counts live in `sign_in_throttle`, one row a key:

- ``ac:<account>:<client>``: tries of one client at one account. A try is counted
  before the secret is checked, by one conditional upsert, so that tries sent at once
  cannot pass the limit; a right secret deletes the row.
- ``c:<address>``: failures of one address over all accounts, a far higher limit.
  Devices known to the account do not count here and are not stopped by it.
- ``a:<account>``: failures at one account from all clients. Past its own limit the
  account is under attack, and while it is, an unknown client may fail once there
  before it is stopped; clients that have not failed get in at once.

Nothing waits: a stopped client is answered 429 with Retry-After at once.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Response, current_app, request
from flask_babel import ngettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import and_, case, delete, literal, or_, select

from portal import db
from portal.blueprints.auth.models import SignInThrottle
from portal.db import UTCDateTime, utcnow

CLIENT_FACTOR = 20  # one address may fail 20 times the per-account limit in all
ALARM_FACTOR = 10  # an account failed 10 times its limit from everywhere: an attack
CHALLENGE_FACTOR = 20  # passkey sign-in challenges one address may ask for (100 a lock)
DEVICE_DAYS = 180
DEVICE_ACCOUNTS = 8  # accounts one device remembers (a shared desk computer)

THROTTLE = SignInThrottle.__table__


@dataclass(frozen=True)
class Attempt:
    """One counted try at one account's secret from one client."""

    pair: str
    address: str | None  # None for a device known to the account
    alarm: str
    wait: int  # seconds this client must wait; 0 when it may try now

    @property
    def refused(self) -> bool:
        return self.wait > 0


def claim_attempt(name: str, kind: str = "account") -> Attempt:
    """Count a try at the secret of `name` (an email, or an EHR client id with another
    `kind`) from this client, or say how long it must wait."""
    now, limit = utcnow(), current_app.config["MAX_FAILED_SIGN_INS"]
    account = _tag(f"{kind}:{_normalized(name)}")
    device = _device_of(account)
    client = f"device:{device}" if device else f"address:{client_address()}"
    pair = f"ac:{account}:{_tag(client)}"
    address = None if device else f"c:{_tag(client_address())}"
    alarm = f"a:{account}"
    keys = [key for key in (address, alarm) if key]
    rows = {
        row.key: row
        for row in db.session.execute(select(THROTTLE).where(THROTTLE.c.key.in_(keys)))
    }
    wait = _lock_seconds(rows.get(address), now)
    if wait == 0:
        under_attack = address is not None and _lock_seconds(rows.get(alarm), now)
        if not _count(pair, 1 if under_attack else limit, now):
            wait = _pair_wait(pair, now)
    return Attempt(pair, address, alarm, wait)


def claim_challenge() -> int:
    """Count a passkey sign-in challenge asked for from this address. Anyone may ask
    for one without an account, and each is a stored row: past CHALLENGE_FACTOR times
    the per-account limit within the lock time, the address waits like a locked one.
    Returns the seconds to wait, 0 when it may have one."""
    now, limit = utcnow(), current_app.config["MAX_FAILED_SIGN_INS"]
    key = f"pc:{_tag(client_address())}"
    return 0 if _count(key, CHALLENGE_FACTOR * limit, now) else _pair_wait(key, now)


def record_failure(attempt: Attempt) -> None:
    """The secret was wrong: count it for the address and the account."""
    now, limit = utcnow(), current_app.config["MAX_FAILED_SIGN_INS"]
    if attempt.address is not None:
        _count(attempt.address, CLIENT_FACTOR * limit, now)
    _count(attempt.alarm, ALARM_FACTOR * limit, now)


def record_success(attempt: Attempt) -> None:
    """The secret was right: this client's tries at this account start again."""
    db.session.execute(delete(THROTTLE).where(THROTTLE.c.key == attempt.pair))


def wait_text(seconds: int) -> str:
    """What a refused client is told, in the page's language: whole minutes."""
    minutes = -(-seconds // 60)
    return ngettext(
        "Too many tries. Please wait %(num)d minute, then try again.",
        "Too many tries. Please wait %(num)d minutes, then try again.",
        minutes,
    )


def client_address() -> str:
    """The client's address as the proxies we trust saw it; an IPv6 client by its
    /64, as one household or phone holds a whole /64."""
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return "unknown"
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(getattr(address, "ipv4_mapped", None) or address)


# ---- counting ------------------------------------------------------------------------


def _count(key: str, limit: int, now: datetime) -> bool:
    """Count one try under `key` in one statement; False, and nothing counted, when
    the key is at its limit. A key reaching its limit is locked for the lock time;
    a window with no lock starts again after the lock time."""
    lock = timedelta(seconds=current_app.config["SIGN_IN_LOCK_SECONDS"])
    lock_end = _at(now + lock)
    first_lock = lock_end if limit <= 1 else _at(None)
    over = or_(
        THROTTLE.c.locked_until <= now,
        and_(
            THROTTLE.c.locked_until.is_(None),
            THROTTLE.c.window_started_at <= now - lock,
        ),
    )
    statement = (
        db.upsert(SignInThrottle)
        .values(key=key, failures=1, window_started_at=now, locked_until=first_lock)
        .on_conflict_do_update(
            index_elements=[THROTTLE.c.key],
            set_={
                "failures": case((over, 1), else_=THROTTLE.c.failures + 1),
                "window_started_at": case(
                    (over, _at(now)), else_=THROTTLE.c.window_started_at
                ),
                "locked_until": case(
                    (over, first_lock),
                    (THROTTLE.c.failures + 1 >= limit, lock_end),
                    else_=_at(None),
                ),
            },
            where=or_(over, THROTTLE.c.failures < limit),
        )
        .returning(THROTTLE.c.key)
    )
    return db.session.execute(statement).first() is not None


def _pair_wait(pair: str, now: datetime) -> int:
    row = db.session.execute(select(THROTTLE).where(THROTTLE.c.key == pair)).first()
    if row is None:  # a right secret from this client just cleared it
        return 1
    lock = timedelta(seconds=current_app.config["SIGN_IN_LOCK_SECONDS"])
    return _seconds_until(row.locked_until or row.window_started_at + lock, now)


def _lock_seconds(row, now: datetime) -> int:
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return _seconds_until(row.locked_until, now)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def _at(moment: datetime | None):
    return literal(moment, UTCDateTime())


def _tag(text: str) -> str:
    """A keyed hash: neither the table nor the cookie holds an email or address."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def _normalized(name: str) -> str:
    return name.strip().lower()


# ---- devices that signed in before ---------------------------------------------------


def remember_device(response: Response, name: str, kind: str = "account") -> Response:
    """After a full sign-in: mark this device as one that knows this account."""
    account = _tag(f"{kind}:{_normalized(name)}")
    device, accounts = _read_device_cookie() or (secrets.token_urlsafe(16), [])
    accounts = [account, *[a for a in accounts if a != account]][:DEVICE_ACCOUNTS]
    response.set_cookie(
        _device_cookie_name(),
        _serializer().dumps({"d": device, "a": accounts}),
        max_age=DEVICE_DAYS * 24 * 60 * 60,
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        samesite="Lax",
        path="/",
    )
    return response


def _device_of(account: str) -> str | None:
    """This device's id, when it signed in to `account` before."""
    known = _read_device_cookie()
    return known[0] if known and account in known[1] else None


def _read_device_cookie() -> tuple[str, list[str]] | None:
    raw = request.cookies.get(_device_cookie_name(), "")
    if not raw or len(raw) > 2000:
        return None
    try:
        value = _serializer().loads(raw, max_age=DEVICE_DAYS * 24 * 60 * 60)
    except BadSignature:
        return None
    if not isinstance(value, dict):
        return None
    device, accounts = value.get("d"), value.get("a")
    if not isinstance(device, str) or not isinstance(accounts, list):
        return None
    return device, [a for a in accounts if isinstance(a, str)]


def _device_cookie_name() -> str:
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    return "__Host-portal_device" if secure else "portal_device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="portal.device")
