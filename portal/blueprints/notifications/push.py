"""Web Push plumbing: settings and VAPID keys, checking a browser's subscription, the
lock-screen payload, one signed VAPID token per push service, pooled connections, and
sending one message with pywebpush.

Nothing here touches the database; `delivery.py` runs the outbox with it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from py_vapid import Vapid

from portal.blueprints.notifications.kinds import KINDS
from portal.blueprints.notifications.models import NotificationKind
from portal.config import ConfigError

log = logging.getLogger("portal.push")

VAPID_KEY_FILE = "vapid_private.pem"
# The push services of the browsers that support Web Push. A subscription naming any
# other host is refused: the worker would otherwise POST to any URL a user gives it.
KNOWN_PUSH_HOSTS = (
    "fcm.googleapis.com",  # Chrome, Edge on Android, Samsung Internet, Opera
    "updates.push.services.mozilla.com",  # Firefox
    "web.push.apple.com",  # Safari on iPhone (home-screen apps), iPad and Mac
    "notify.windows.com",  # Edge on Windows (wns2-*.notify.windows.com)
)
# RFC 8291 aes128gcm adds 86 bytes of header, a 16-byte tag and a 1-byte delimiter to
# the text; push services accept at most 4096 bytes in all.
MAX_PAYLOAD_BYTES = 4096 - 103


@dataclass(frozen=True)
class PushSettings:
    vapid: Vapid | None
    public_key: str | None  # applicationServerKey for the browser, base64url
    subject: str
    allow_http: bool  # only for the local fake push service in tests
    hosts: tuple[str, ...]
    concurrency: int = 128  # messages in flight at once
    batch: int = 64  # rows claimed at a time (refilled as sends finish)
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_attempts: int = 6
    backoff_seconds: float = 30.0
    max_backoff_seconds: float = 3600.0
    lease_seconds: float = 120.0
    round_seconds: float = 20.0  # most time one worker round spends on the outbox
    max_devices: int = 10


def _setting(app: Flask, name: str, default, cast=str):
    if name in app.config:
        return app.config[name]
    raw = os.environ.get("PORTAL_" + name)
    if raw in (None, ""):
        return default
    try:
        return cast(raw)
    except ValueError:
        raise ConfigError(f"PORTAL_{name} must be a number") from None


def _flag(raw) -> bool:
    return str(raw).lower() in {"1", "true", "yes", "on"}


def push_settings(app: Flask) -> PushSettings:
    """The push settings of this app (config first, then PORTAL_* environment)."""
    if "push_settings" not in app.extensions:
        app.extensions["push_settings"] = _build_settings(app)
    return app.extensions["push_settings"]


def _build_settings(app: Flask) -> PushSettings:
    vapid = load_vapid(app)
    production = app.config.get("ENV_NAME") == "production"
    hosts = _setting(app, "PUSH_HOSTS", ",".join(KNOWN_PUSH_HOSTS))
    if isinstance(hosts, str):
        hosts = tuple(h.strip().lower() for h in hosts.split(",") if h.strip())
    return PushSettings(
        vapid=vapid,
        public_key=public_key_of(vapid) if vapid else None,
        subject=_setting(app, "VAPID_SUBJECT", "mailto:push-admin@example.invalid"),
        allow_http=not production and _flag(_setting(app, "PUSH_ALLOW_HTTP", "0")),
        hosts=tuple(hosts),
        concurrency=_setting(app, "PUSH_CONCURRENCY", 128, int),
        batch=_setting(app, "PUSH_BATCH", 64, int),
        connect_timeout=_setting(app, "PUSH_CONNECT_TIMEOUT", 5.0, float),
        read_timeout=_setting(app, "PUSH_READ_TIMEOUT", 10.0, float),
        max_attempts=_setting(app, "PUSH_MAX_ATTEMPTS", 6, int),
        backoff_seconds=_setting(app, "PUSH_BACKOFF_SECONDS", 30.0, float),
        max_backoff_seconds=_setting(app, "PUSH_MAX_BACKOFF_SECONDS", 3600.0, float),
        lease_seconds=_setting(app, "PUSH_LEASE_SECONDS", 120.0, float),
        round_seconds=_setting(app, "PUSH_ROUND_SECONDS", 20.0, float),
    )


# ---- VAPID keys ----------------------------------------------------------------------


def load_vapid(app: Flask) -> Vapid | None:
    """The VAPID key from PORTAL_VAPID_PRIVATE_KEY or instance/vapid_private.pem.

    The demo makes one in its instance folder when there is none; anywhere else, run
    `portal vapid-keys`. Keys never live in the repository.
    """
    raw = _setting(app, "VAPID_PRIVATE_KEY", None)
    key_file = Path(app.instance_path) / VAPID_KEY_FILE
    if raw:
        vapid = _readable_key(raw, "PORTAL_VAPID_PRIVATE_KEY")
    elif key_file.exists():
        vapid = _readable_key(key_file.read_text(), str(key_file))
    elif app.config.get("DEMO"):
        vapid = write_vapid_key(key_file)
    else:
        return None
    expected = _setting(app, "VAPID_PUBLIC_KEY", None)
    if expected and expected.strip() != public_key_of(vapid):
        raise ConfigError(
            "PORTAL_VAPID_PUBLIC_KEY does not match PORTAL_VAPID_PRIVATE_KEY: browsers "
            "subscribed with one key refuse pushes signed with another"
        )
    return vapid


def _readable_key(text: str, where: str) -> Vapid:
    """The key, or a refusal that names where it came from and quotes none of it."""
    try:
        return vapid_from_text(text)
    except Exception:  # py_vapid raises several kinds; none may print the key
        raise ConfigError(
            f"{where} is not a VAPID private key (PEM, or 32 bytes in base64url); "
            "make one with `portal vapid-keys`"
        ) from None


def vapid_from_text(text: str) -> Vapid:
    text = text.strip().replace("\\n", "\n")
    if "-----BEGIN" in text:
        return Vapid.from_pem(text.encode())
    return Vapid.from_string(text)


def write_vapid_key(path: Path) -> Vapid:
    """Make a new P-256 key and write it as PEM, readable by its owner only."""
    vapid = Vapid()
    vapid.generate_keys()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(vapid.private_pem())
    return vapid


def public_key_of(vapid: Vapid) -> str:
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)


def private_key_text(vapid: Vapid) -> str:
    """The private key as 32 raw bytes in base64url, for PORTAL_VAPID_PRIVATE_KEY."""
    number = vapid.private_key.private_numbers().private_value
    return b64url(number.to_bytes(32, "big"))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class VapidSigner:
    """Signs one VAPID token per push service and reuses it until it nears expiry,
    instead of one ECDSA signature per message as `webpush()` does."""

    lifetime = 12 * 60 * 60
    renew_before = 60 * 60

    def __init__(self, vapid: Vapid, subject: str, clock=time.time):
        self.vapid, self.subject, self.clock = vapid, subject, clock
        self._tokens: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()
        self.signatures = 0

    def authorization(self, endpoint: str) -> str:
        audience = audience_of(endpoint)
        now = int(self.clock())
        with self._lock:
            cached = self._tokens.get(audience)
            if cached and cached[1] - now > self.renew_before:
                return cached[0]
            expires = now + self.lifetime
            claims = {"aud": audience, "exp": expires, "sub": self.subject}
            header = self.vapid.sign(claims)["Authorization"]
            self._tokens[audience] = (header, expires)
            self.signatures += 1
            return header


def audience_of(endpoint: str) -> str:
    url = urlsplit(endpoint)
    return f"{url.scheme}://{url.netloc}"


# ---- a browser's subscription --------------------------------------------------------


class SubscriptionError(ValueError):
    """A subscription we will not store; `reason` is a short code for the log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedSubscription:
    endpoint: str
    p256dh: str
    auth: str

    @property
    def endpoint_hash(self) -> str:
        return endpoint_hash(self.endpoint)


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def parse_subscription(data, settings: PushSettings) -> ParsedSubscription:
    """Check a PushSubscription's JSON: an https endpoint of a known push service and
    a valid P-256 key with a 16-byte secret. Raises SubscriptionError."""
    if not isinstance(data, dict):
        raise SubscriptionError("not_an_object")
    endpoint, keys = data.get("endpoint"), data.get("keys")
    if not isinstance(endpoint, str) or not 12 <= len(endpoint) <= 1024:
        raise SubscriptionError("bad_endpoint")
    url = urlsplit(endpoint)
    if url.scheme != "https" and not (settings.allow_http and url.scheme == "http"):
        raise SubscriptionError("not_https")
    host = (url.hostname or "").lower()
    if not host or url.username or url.password or url.fragment:
        raise SubscriptionError("bad_endpoint")
    if not any(host == h or host.endswith("." + h) for h in settings.hosts):
        raise SubscriptionError("unknown_push_service")
    if not isinstance(keys, dict):
        raise SubscriptionError("missing_keys")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not isinstance(p256dh, str) or not isinstance(auth, str):
        raise SubscriptionError("missing_keys")
    if len(p256dh) > 100 or len(auth) > 40:
        raise SubscriptionError("bad_keys")
    try:
        point, secret = b64url_decode(p256dh), b64url_decode(auth)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, binascii.Error) as error:
        raise SubscriptionError("bad_keys") from error
    if len(point) != 65 or len(secret) != 16:
        raise SubscriptionError("bad_keys")
    return ParsedSubscription(endpoint, b64url(point), b64url(secret))


def device_label(user_agent: str | None) -> str:
    """A coarse name for the list of devices ("Chrome on Android phone"); the
    user-agent string itself is not stored."""
    ua = user_agent or ""
    device = next(
        (
            name
            for marker, name in (
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Android", "Android phone"),
                ("Windows", "Windows computer"),
                ("Macintosh", "Mac"),
                ("CrOS", "Chromebook"),
                ("Linux", "Linux computer"),
            )
            if marker in ua
        ),
        "device",
    )
    browser = next(
        (
            name
            for marker, name in (
                ("Edg", "Edge"),
                ("SamsungBrowser", "Samsung Internet"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            )
            if marker in ua
        ),
        "A browser",
    )
    return f"{browser} on {device}"


# ---- the message ---------------------------------------------------------------------


def build_payload(kind: NotificationKind, notification_id: str, app_name: str) -> bytes:
    """What a lock screen may show: the app's name, a generic sentence, and an opaque
    link. No names, no scores, no words that reveal treatment."""
    body = {
        "title": app_name,
        "body": str(KINDS[kind].text),  # in the language forced by the caller
        "url": f"/n/{notification_id}",
        "tag": notification_id,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def topic_of(notification_id: str) -> str:
    """Topic header (at most 32 URL-safe characters): a push service keeps only the
    newest message per topic, so a retry never stacks up beside the first try."""
    return notification_id.replace("-", "")[:32]


@dataclass
class PushJob:
    delivery_id: str
    lease: str
    attempts: int
    subscription_id: str
    notification_id: str
    endpoint: str
    p256dh: str
    auth: str
    request_id: str | None = None  # of the request that made the delivery
    payload: bytes = b""
    ttl: int = 0
    urgency: str = "normal"
    authorization: str = ""


@dataclass
class PushResult:
    job: PushJob
    status: int | None  # the push service's HTTP status, None when there was none
    error: str | None = None  # short code for the log: timeout, connection, bad_keys…
    retry_after: float | None = None


class PushConnections:
    """Where the sending happens: one asyncio loop in its own thread, with one aiohttp
    connection pool that stays open between messages and rounds. pywebpush encrypts
    and posts each message through it (`WebPusher.send_async`), many at once.

    A loop rather than a pool of threads: the same concurrency costs about a third
    less CPU per message (no thread switching on every read and write), which is
    what bounds a fan-out on a small machine (see bench/README.md).
    """

    def __init__(self, concurrency: int, connect_timeout: float, read_timeout: float):
        self.concurrency = concurrency
        self.timeout = (connect_timeout, read_timeout)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="portal-push", daemon=True
        )
        self._thread.start()
        self.session = self.run(self._open()).result()

    async def _open(self):
        import aiohttp

        connect, read = self.timeout
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.concurrency, limit_per_host=self.concurrency
            ),
            timeout=aiohttp.ClientTimeout(
                total=connect + read, sock_connect=connect, sock_read=read
            ),
        )

    def run(self, coroutine) -> Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def post(self, url, timeout=None, **params):
        """What pywebpush calls on its `aiohttp_session`: never follow a redirect."""
        return self.session.post(url, allow_redirects=False, **params)

    def send_all(self, jobs: list[PushJob], deliver_answer) -> None:
        """Start sending the jobs; each answer goes to `deliver_answer` as it comes."""

        async def send(job):
            deliver_answer(await send_push(job, self))

        async def start():
            for job in jobs:
                self.loop.create_task(send(job))

        self.run(start())

    def close(self) -> None:
        if self.loop.is_running():
            self.run(self.session.close()).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


async def send_push(job: PushJob, connections: PushConnections) -> PushResult:
    """Encrypt (aes128gcm) and post one message with pywebpush; never raises."""
    # Imported here: only the worker sends, and pywebpush brings aiohttp and requests
    # (about 20 MB) that a web process has no use for.
    import aiohttp
    from pywebpush import WebPusher, WebPushException

    subscription = {
        "endpoint": job.endpoint,
        "keys": {"p256dh": job.p256dh, "auth": job.auth},
    }
    headers = {
        "Authorization": job.authorization,
        "Urgency": job.urgency,
        "Topic": topic_of(job.notification_id),
    }
    try:
        pusher = WebPusher(subscription, aiohttp_session=connections)
        response = await pusher.send_async(job.payload, headers, ttl=job.ttl)
    except (WebPushException, ValueError, TypeError, binascii.Error):
        return PushResult(job, None, "bad_keys")
    except TimeoutError:
        return PushResult(job, None, "timeout")
    except aiohttp.ClientError:
        return PushResult(job, None, "connection")
    except Exception:  # a bug must not leave the round waiting for this answer
        log.exception("push delivery %s failed unexpectedly", job.delivery_id)
        return PushResult(job, None, "error")
    retry_after = _retry_after(response.headers.get("Retry-After"))
    return PushResult(job, response.status, None, retry_after)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
