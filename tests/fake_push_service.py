"""A Web Push service on 127.0.0.1, for the notification tests and bench/push_fanout.py.

It checks what a real push service checks and reads each message as the browser would:
- the VAPID header `vapid t=<JWT>, k=<key>`: the ES256 signature against `k`, `k` equal
  to the app's public key (a subscription made for another key is answered 403, as FCM
  does), the audience is this service's origin, the expiry is in the next 24 hours and
  the subject is a mailto: or https: URL;
- `TTL` present, `Urgency` and `Topic` well formed, `Content-Encoding: aes128gcm`, at
  most 4096 bytes;
- it decrypts the body (RFC 8291) with the subscription's own private key and secret.

Subscriptions are made here: their private keys come from a seed and the subscription
id, so a copy of the service in another process can decrypt them too. Per subscription
the test can script answers ("gone", 503, "hang", ...) that come before the normal 201.
deploy/rehearse.py runs it over TLS on an address the app hosts' network namespaces
reach, and reads which (subscription, Topic) pairs arrived and from which host.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import jwt as vapid_jwt

URGENCIES = {"very-low", "low", "normal", "high"}
TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def subscription_keys(
    seed: str, sub_id: str
) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """The browser side of a subscription: its P-256 key and 16-byte auth secret."""
    digest = hashlib.sha256(f"{seed}:{sub_id}".encode()).digest()
    number = int.from_bytes(digest, "big") % (P256_ORDER - 1) + 1
    key = ec.derive_private_key(number, ec.SECP256R1())
    secret = hashlib.sha256(f"{seed}:{sub_id}:auth".encode()).digest()[:16]
    return key, secret


def subscription_info(base_url: str, seed: str, sub_id: str) -> dict:
    """What a browser's PushSubscription.toJSON() gives for this subscription."""
    key, secret = subscription_keys(seed, sub_id)
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "endpoint": f"{base_url}/push/{sub_id}",
        "keys": {"p256dh": b64url(public), "auth": b64url(secret)},
    }


@dataclass
class Message:
    """One request the service answered."""

    sub_id: str
    status: int
    payload: dict | None = None
    ttl: int | None = None
    urgency: str | None = None
    topic: str | None = None
    claims: dict | None = None
    problem: str | None = None
    at: float = field(default_factory=time.time)
    source: str | None = None  # the sending worker's address


class FakePushService:
    def __init__(
        self,
        vapid_public_key: str | None = None,
        delay: float = 0.0,
        seed: str = "fake-push",
        gone: set[str] | frozenset[str] = frozenset(),
        hang_seconds: float = 30.0,
        decrypt_every: int = 1,
    ):
        self.vapid_public_key = vapid_public_key
        self.delay, self.seed, self.hang_seconds = delay, seed, hang_seconds
        self.decrypt_every = decrypt_every
        self.gone: set[str] = set(gone)
        self.scripts: dict[str, list] = {}
        self.messages: list[Message] = []
        self.hanging = 0
        self.port: int | None = None
        self.host, self.scheme = "127.0.0.1", "http"
        self._keys: dict[str, tuple] = {}
        self._verified: dict[str, dict] = {}
        self._count = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    # ---- the test's side ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def subscribe(self, sub_id: str | None = None, script=()) -> dict:
        """A new subscription; `script` lists answers to give before the normal 201:
        an HTTP status, "gone" (410 from then on) or "hang" (no answer for a while)."""
        with self._lock:
            self._count += 1
            sub_id = sub_id or f"s{self._count}"
            self.scripts[sub_id] = list(script)
        return subscription_info(self.base_url, self.seed, sub_id)

    def accepted(self) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.status == 201]

    def answers(self) -> Counter:
        with self._lock:
            return Counter(m.status for m in self.messages)

    def problems(self) -> list[str]:
        with self._lock:
            return [m.problem for m in self.messages if m.problem]

    def stats(self) -> dict:
        with self._lock:
            accepted = [m for m in self.messages if m.status == 201]
            return {
                "answers": dict(Counter(m.status for m in self.messages)),
                "accepted": len(accepted),
                "decrypted": sum(1 for m in accepted if m.payload is not None),
                "distinct_tokens": len(self._verified),
                "problems": [m.problem for m in self.messages if m.problem][:20],
                "payload_texts": sorted(
                    {
                        json.dumps(m.payload, sort_keys=True)
                        for m in accepted
                        if m.payload
                    }
                )[:50],
                "pairs": len(
                    {(m.sub_id, (m.payload or {}).get("tag")) for m in accepted}
                ),
                "topic_pairs": sorted({(m.sub_id, m.topic) for m in accepted}),
                "untagged": sum(
                    1
                    for m in accepted
                    if m.payload
                    and m.topic != str(m.payload.get("tag", "")).replace("-", "")[:32]
                ),
                "sources": dict(Counter(m.source for m in accepted)),
            }

    # ---- running -----------------------------------------------------------------

    def start(self) -> FakePushService:
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-push")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake push service did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakePushService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self.serve())

    async def serve(
        self, port: int = 0, ready=None, host: str = "127.0.0.1", ssl_context=None
    ) -> None:
        from aiohttp import web

        self.host, self.scheme = host, "https" if ssl_context else "http"

        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/push/{sub}", self._handle)
        app.router.add_get("/_stats", self._stats)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=2048, ssl_context=ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        if ready is not None:
            ready(self.port)
        await self._stopping.wait()
        await runner.cleanup()

    async def _stats(self, _request):
        from aiohttp import web

        return web.json_response(self.stats())

    # ---- one request -------------------------------------------------------------

    async def _handle(self, request):
        from aiohttp import web

        sub_id = request.match_info["sub"]
        body = await request.read()
        with self._lock:
            step = self.scripts[sub_id].pop(0) if self.scripts.get(sub_id) else None
            if step == "gone":
                self.gone.add(sub_id)
        if sub_id in self.gone:
            return self._answer(web, Message(sub_id, 410))
        if step == "hang":
            with self._lock:
                self.hanging += 1
            await asyncio.sleep(self.hang_seconds)
            with self._lock:
                self.hanging -= 1
            return self._answer(web, Message(sub_id, 503, problem=None))
        if isinstance(step, int):
            return self._answer(web, Message(sub_id, step))
        message = self._check(request, body, sub_id)
        if message.status == 201 and self.delay:
            await asyncio.sleep(self.delay)
        return self._answer(web, message, request)

    def _answer(self, web, message: Message, request=None):
        message.source = request.remote if request is not None else None
        with self._lock:
            self.messages.append(message)
        return web.Response(status=message.status)

    def _check(self, request, body: bytes, sub_id: str) -> Message:
        headers = request.headers
        claims, problem = self._check_vapid(headers.get("Authorization", ""))
        if problem:
            return Message(sub_id, 403 if "key" in problem else 401, problem=problem)
        ttl = headers.get("TTL", "")
        if not ttl.isdigit():
            return Message(sub_id, 400, problem="TTL missing")
        urgency, topic = headers.get("Urgency"), headers.get("Topic")
        if urgency is not None and urgency not in URGENCIES:
            return Message(sub_id, 400, problem=f"bad Urgency {urgency!r}")
        if topic is not None and not TOPIC_RE.match(topic):
            return Message(sub_id, 400, problem="bad Topic")
        if headers.get("Content-Encoding") != "aes128gcm":
            return Message(sub_id, 415, problem="not aes128gcm")
        if len(body) > 4096:
            return Message(sub_id, 413, problem="payload over 4096 bytes")
        message = Message(sub_id, 201, None, int(ttl), urgency, topic, claims)
        with self._lock:
            self._seen = getattr(self, "_seen", 0) + 1
            decrypt = self._seen % self.decrypt_every == 0
        if decrypt:
            try:
                message.payload = json.loads(self._decrypt(sub_id, body))
            except Exception as error:  # any failure is a bad message
                return Message(sub_id, 400, problem=f"cannot decrypt: {error!r}")
        return message

    def _check_vapid(self, header: str) -> tuple[dict | None, str | None]:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            return None, "no vapid Authorization"
        parts = dict(
            part.strip().split("=", 1) for part in params.split(",") if "=" in part
        )
        token, key = parts.get("t"), parts.get("k")
        if not token or not key:
            return None, "vapid t or k missing"
        if self.vapid_public_key and key != self.vapid_public_key:
            return None, "vapid key is not the one the subscription was made for"
        claims = self._verified.get(token)
        if claims is None:
            try:
                claims = vapid_jwt.decode(token, key)
            except InvalidSignature:
                return None, "vapid signature does not verify"
            self._verified[token] = claims
        now = time.time()
        if claims.get("aud") != self.base_url:
            return None, f"vapid aud {claims.get('aud')!r} is not {self.base_url}"
        if not now < int(claims.get("exp", 0)) <= now + 24 * 3600:
            return None, "vapid exp not within 24 hours"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return None, "vapid sub is not mailto: or https:"
        return claims, None

    def _decrypt(self, sub_id: str, body: bytes) -> bytes:
        if sub_id not in self._keys:
            self._keys[sub_id] = subscription_keys(self.seed, sub_id)
        key, secret = self._keys[sub_id]
        return http_ece.decrypt(
            body, private_key=key, auth_secret=secret, version="aes128gcm"
        )


def run_in_process(port_queue, host="127.0.0.1", port=0, tls=None, **kwargs) -> None:
    """Entry point for a copy of the service in its own process (the benchmark, the
    rehearsal); `tls` is (certificate file, key file) to serve HTTPS."""
    context = None
    if tls:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    service = FakePushService(**kwargs)
    asyncio.run(
        service.serve(port=port, ready=port_queue.put, host=host, ssl_context=context)
    )
