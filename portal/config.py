"""Configuration: safe defaults, then PORTAL_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ENV_PREFIX = "PORTAL_"


class ConfigError(RuntimeError):
    """The portal refuses to start with an unsafe configuration."""


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
    return int(raw) if raw else default


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
        "IDLE_TIMEOUT_STAFF": _int("IDLE_TIMEOUT_STAFF", 15 * 60),
        "IDLE_TIMEOUT_PATIENT": _int("IDLE_TIMEOUT_PATIENT", 30 * 60),
        "ABSOLUTE_TIMEOUT": _int("ABSOLUTE_TIMEOUT", 12 * 60 * 60),
        "MAX_FAILED_SIGN_INS": _int("MAX_FAILED_SIGN_INS", 5),
        "SIGN_IN_LOCK_SECONDS": _int("SIGN_IN_LOCK_SECONDS", 15 * 60),
        "ENROLLMENT_CODE_HOURS": _int("ENROLLMENT_CODE_HOURS", 72),
        "ARGON2_PROFILE": os.environ.get("PORTAL_ARGON2_PROFILE", "default"),
        "DEMO": os.environ.get("PORTAL_DEMO") == "1",
        "SESSION_COOKIE_SECURE": env == "production",
        # The CSRF token lives as long as the server-side session.
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "MAX_CONTENT_LENGTH": 256 * 1024,
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
