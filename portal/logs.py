"""Log lines without patient data, and one line per request.

Besides `hide_parameters=True` on every engine (portal/db.py), every log record is
scrubbed when it is made, whoever logs it (Flask, SQLAlchemy, werkzeug, gunicorn, our
own code):

- an argument that is not a number, an enum member or an id-like token (letters,
  digits and ``_ . : / + -``, no spaces) becomes ``[redacted]``; a request line keeps
  its method and path and loses its query string;
- an exception is written as its frames and, for each exception of the chain, its type
  and the first line of its message cut at the first quote (PostgreSQL and Python
  quote the offending value there), plus the names a database error carries (SQLSTATE,
  table, column, constraint) and the statement. PostgreSQL's DETAIL line ("Failing
  row contains (...)", "Key (...)=(...)") never reaches a log.

Records made while a request runs carry its id as `request_id`; so do the records of
one worker round, under an id of that round (`bind_request_id`). `JsonLines` writes
records as one JSON object a line, for gunicorn's and the worker's log configuration.

The scrubbing is a record factory rather than a filter on a few loggers, because a
logger's filter never sees the records of its children, and the handlers belong to
whoever runs the portal (gunicorn, pytest).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum

from flask import Flask, g, has_request_context, request

REDACTED = "[redacted]"
SAFE_TOKEN = re.compile(r"[\w.:/+-]{0,100}", re.ASCII)
REQUEST_LINE = re.compile(r"([A-Z]{3,10}) (\S+) (HTTP/[\d.]+)")
ANSI = re.compile(r"\x1b\[[\d;]*m")
QUOTE = re.compile(r"""["'`].*""", re.DOTALL)
PARAMETER_DUMP = re.compile(r"\[parameters: [^\n]*")
DETAIL = re.compile(r"^DETAIL: .*?(?=\n\[SQL: |\nHINT: |\nCONTEXT: |\Z)", re.M | re.S)
INCOMING_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

request_log = logging.getLogger("portal.requests")
# The id of the request (or worker round) this thread or task is working for, when no
# Flask request context says it (the worker, a command).
_bound_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "portal_request_id", default=None
)


class RedactPatientData(logging.Filter):
    """Rewrite a record in place so that it carries no free text (see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, BaseException):
            record.msg = safe_exception_line(record.msg)
        elif isinstance(record.msg, str):
            record.msg = DETAIL.sub("DETAIL: …", PARAMETER_DUMP.sub("", record.msg))
        if isinstance(record.args, Mapping):
            record.args = {key: safe_arg(v) for key, v in record.args.items()}
        elif record.args:
            record.args = tuple(safe_arg(value) for value in record.args)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = safe_traceback(record.exc_info[1])
            record.exc_info = None
        return True


def safe_arg(value):
    """The value if it is a number, an enum member or an id-like token; else a mark."""
    if value is None or isinstance(value, int | float | Decimal | uuid.UUID | Enum):
        return value
    if isinstance(value, str):
        if SAFE_TOKEN.fullmatch(value):
            return value
        line = REQUEST_LINE.fullmatch(ANSI.sub("", value))
        if line:
            method, target, version = line.groups()
            path = target.split("?", 1)[0]
            return (
                f"{method} {path if SAFE_TOKEN.fullmatch(path) else REDACTED} {version}"
            )
    return REDACTED


def safe_exception_line(exc: BaseException) -> str:
    """`module.Type: first line of the message up to any quote [names]`."""
    kind = type(exc)
    try:
        first = str(exc).split("\n", 1)[0]
    except Exception:  # a broken __str__ must not lose the log line
        first = ""
    text = QUOTE.sub("…", first)[:200]
    names = _database_names(exc)
    statement = getattr(exc, "statement", None)
    if isinstance(statement, str):
        text += f" [SQL: {' '.join(statement.split())[:500]}]"
    return f"{kind.__module__}.{kind.__qualname__}: {text}{names}"


def _database_names(exc: BaseException) -> str:
    names = []
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "sqlite_errorname", None)
    if isinstance(sqlstate, str):
        names.append(sqlstate)
    diag = getattr(exc, "diag", None)
    for part in ("table_name", "column_name", "constraint_name"):
        value = getattr(diag, part, None)
        if isinstance(value, str) and SAFE_TOKEN.fullmatch(value):
            names.append(f"{part.removesuffix('_name')} {value}")
    return f" ({', '.join(names)})" if names else ""


def safe_traceback(exc: BaseException) -> str:
    """The chain of exceptions, oldest first, as Python prints it but with every
    message reduced to `safe_exception_line`."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    parts = []
    for position, exc in enumerate(reversed(chain)):
        if position:
            parts.append(
                "\nThe above exception was the direct cause of the following "
                "exception:\n\n"
                if exc.__cause__ is not None
                else "\nDuring handling of the above exception, another exception "
                "occurred:\n\n"
            )
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(exc.__traceback__))
        parts.append(safe_exception_line(exc) + "\n")
    return "".join(parts).rstrip("\n")


_redact = RedactPatientData()


def install_log_redaction() -> None:
    """Scrub every log record of this process as it is made (once per process)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_patient_data", False):
        return

    def make_record(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact.filter(record)
        # `%(request_id)s` in a format ties a line to its request's line.
        record.request_id = current_request_id()
        return record

    make_record.redacts_patient_data = True
    logging.setLogRecordFactory(make_record)


def current_request_id() -> str | None:
    """The id of the request, or of the worker round, being served here."""
    if has_request_context() and g.get("request_id"):
        return g.request_id
    return _bound_request_id.get()


def bind_request_id(request_id: str | None) -> contextvars.Token:
    """Mark the records made from here on (in this thread) with `request_id`."""
    return _bound_request_id.set(request_id)


def unbind_request_id(token: contextvars.Token) -> None:
    _bound_request_id.reset(token)


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, request id, message (already
    scrubbed by the record factory), and the scrubbed traceback if there is one. The
    request lines of `portal.requests` are JSON already and are written as they are."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == request_log.name and message.startswith("{"):
            return message
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
            "message": message,
        }
        if record.exc_info and record.exc_info[1] is not None:
            line["traceback"] = safe_traceback(record.exc_info[1])
        elif record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, separators=(",", ":"), default=str)


# ---- one line per request ------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Scrub logs, and log one JSON line per request. Call before any other hook, so
    that the line is written after the others have run (and the status is final)."""
    install_log_redaction()
    _send_request_lines_somewhere()
    app.before_request(start_request)
    app.after_request(log_request)


def _send_request_lines_somewhere() -> None:
    """INFO lines are dropped when nobody configured logging; then they go to stderr
    on their own, as JSON alone."""
    if request_log.level == logging.NOTSET:
        request_log.setLevel(logging.INFO)
    if not request_log.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(handler)
        request_log.propagate = False


def start_request() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = (
        incoming if INCOMING_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
    )
    g.request_started = time.perf_counter()


def log_request(response):
    """The request's id, method, endpoint (the rule's name, never the path or query),
    status, time and the signed-in role: no name, address or text."""
    request_id = g.get("request_id") or secrets.token_hex(16)
    started = g.get("request_started")
    # Only a user the request already loaded: loading one here would cost a query.
    user = g.get("_login_user")
    role = getattr(getattr(user, "role", None), "value", None)
    line = {
        "request_id": request_id,
        "method": request.method if request.method in METHODS else "OTHER",
        "endpoint": request.endpoint,
        "status": response.status_code,
        "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "role": role if getattr(user, "is_authenticated", False) else None,
    }
    request_log.info(json.dumps(line, separators=(",", ":")))
    response.headers["X-Request-Id"] = request_id
    return response
