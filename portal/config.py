"""Configuration: safe defaults, then PORTAL_* environment variables."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

ENV_PREFIX = "PORTAL_"


class ConfigError(RuntimeError):
    """The portal refuses to start with an unsafe configuration. The message names
    the setting and never quotes its value (it may be a secret)."""


def _instance_secret(instance_path: Path) -> str:
    """A per-install random key for development and the demo, never a fixed default."""
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _int(name: str, default: int) -> int:
    raw = os.environ.get(ENV_PREFIX + name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name} must be a whole number") from None


def audit_keys_from_env() -> tuple[tuple[int, bytes], ...]:
    """The audit log's HMAC keys as (first chain sequence, key), oldest first: each
    of PORTAL_AUDIT_PREVIOUS_KEYS ("sequence:key,..."), then PORTAL_AUDIT_KEY from
    PORTAL_AUDIT_KEY_SINCE (1 unless set). Sequences before the first use SHA-256
    without a key. See docs/audit.md."""
    previous = os.environ.get(ENV_PREFIX + "AUDIT_PREVIOUS_KEYS", "")
    current = os.environ.get(ENV_PREFIX + "AUDIT_KEY", "")
    try:
        pairs = [
            (int(since), key)
            for since, _, key in (
                item.strip().partition(":") for item in previous.split(",") if item
            )
        ]
        if current:
            pairs.append((_int("AUDIT_KEY_SINCE", 1), current))
    except ValueError:
        raise ConfigError(
            "PORTAL_AUDIT_PREVIOUS_KEYS is sequence:key,... and "
            "PORTAL_AUDIT_KEY_SINCE a sequence number"
        ) from None
    if pairs and not current:
        raise ConfigError("PORTAL_AUDIT_PREVIOUS_KEYS needs PORTAL_AUDIT_KEY")
    sinces = [since for since, _ in pairs]
    if any(since < 1 for since in sinces) or sinces != sorted(set(sinces)):
        raise ConfigError("audit key sequences must rise from 1, oldest key first")
    if any(len(key) < 32 for _, key in pairs):
        raise ConfigError("audit keys must be 32+ random characters")
    return tuple((since, key.encode()) for since, key in pairs)


def build_config(instance_path: Path, overrides: dict | None = None) -> dict:
    """Return the settings for one app instance."""
    env = os.environ.get("PORTAL_ENV", "development")
    default_db = f"sqlite:///{instance_path / 'portal.db'}"
    config = {
        "ENV_NAME": env,
        "SQLALCHEMY_URL": os.environ.get("PORTAL_DATABASE_URL", default_db),
        "SECRET_KEY": os.environ.get("PORTAL_SECRET_KEY"),
        "APP_NAME": os.environ.get("PORTAL_APP_NAME", "Day Program"),
        "THEME_COLOR": os.environ.get("PORTAL_THEME_COLOR", "#1f5f8b"),
        # Shown with 911 and 988 when no program's on-call number could be read yet.
        "ON_CALL_PHONE": os.environ.get("PORTAL_ON_CALL_PHONE"),
        # Optional: where a risk answer is held while the database is down
        # (portal/outage.py); unset, nothing is held.
        "REDIS_URL": os.environ.get("PORTAL_REDIS_URL") or None,
        "REDIS_PREFIX": os.environ.get("PORTAL_REDIS_PREFIX", "portal:"),
        "IDLE_TIMEOUT_STAFF": _int("IDLE_TIMEOUT_STAFF", 15 * 60),
        "IDLE_TIMEOUT_PATIENT": _int("IDLE_TIMEOUT_PATIENT", 30 * 60),
        "ABSOLUTE_TIMEOUT": _int("ABSOLUTE_TIMEOUT", 12 * 60 * 60),
        "MAX_FAILED_SIGN_INS": _int("MAX_FAILED_SIGN_INS", 5),
        "SIGN_IN_LOCK_SECONDS": _int("SIGN_IN_LOCK_SECONDS", 15 * 60),
        # Proxies in front of the app whose X-Forwarded-For/-Proto are believed; 0
        # believes none, so a client cannot choose the address it is counted under.
        "PROXY_HOPS": _int("PROXY_HOPS", 0),
        "ENROLLMENT_CODE_HOURS": _int("ENROLLMENT_CODE_HOURS", 72),
        # Passkeys: the relying party's id is the site's domain (not an IP address;
        # the demo serves localhost); the origin, when set, is the only one accepted,
        # else the request's own when its host is that domain or under it.
        "WEBAUTHN_RP_ID": os.environ.get("PORTAL_WEBAUTHN_RP_ID", "localhost"),
        "WEBAUTHN_ORIGIN": os.environ.get("PORTAL_WEBAUTHN_ORIGIN"),
        "PASSKEY_CHALLENGE_SECONDS": _int("PASSKEY_CHALLENGE_SECONDS", 300),
        "ARGON2_PROFILE": os.environ.get("PORTAL_ARGON2_PROFILE", "default"),
        "DEMO": os.environ.get("PORTAL_DEMO") == "1",
        "SESSION_COOKIE_SECURE": env == "production",
        # The CSRF token lives as long as the server-side session.
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        # Flask-WTF's HTTPS check wants a Referer naming this host, but every page
        # sends Referrer-Policy: no-referrer (headers.py), so browsers send none and
        # every form posted over HTTPS would be refused. The token, bound to the
        # server-side session, and SameSite=Lax cookies protect the forms.
        "WTF_CSRF_SSL_STRICT": False,
        "MAX_CONTENT_LENGTH": 256 * 1024,
        "AUDIT_KEYS": audit_keys_from_env(),
        # Bearer token that /metrics asks for; without one /metrics does not exist.
        "METRICS_TOKEN": os.environ.get("PORTAL_METRICS_TOKEN") or None,
        # Error tracking (Sentry's protocol) is off unless a DSN is set.
        "SENTRY_DSN": os.environ.get("PORTAL_SENTRY_DSN") or None,
        "SENTRY_ENVIRONMENT": os.environ.get("PORTAL_SENTRY_ENVIRONMENT", env),
        # Names this worker's heartbeat row; one per worker (systemd sets %H-%i).
        "WORKER_NAME": os.environ.get("PORTAL_WORKER_NAME") or socket.gethostname(),
    }
    if overrides:
        config.update(overrides)
    if config["ENV_NAME"] == "production":
        _refuse_unsafe_production(config)
    elif not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _instance_secret(instance_path)
    return config


def _refuse_unsafe_production(config: dict) -> None:
    if not config["SECRET_KEY"] or len(config["SECRET_KEY"]) < 32:
        raise ConfigError("PORTAL_SECRET_KEY must be set to 32+ random characters")
    if "PORTAL_DATABASE_URL" not in os.environ and not config.get("TESTING"):
        raise ConfigError("PORTAL_DATABASE_URL must be set in production")
    if config["DEMO"]:
        raise ConfigError("the demo cannot run with PORTAL_ENV=production")
    token = config.get("METRICS_TOKEN")
    if token is not None and len(token) < 32:
        raise ConfigError("PORTAL_METRICS_TOKEN must be 32+ random characters")
