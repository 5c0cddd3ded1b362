"""SMS and voice pages to staff phones, and text messages of one-time codes to
patients: a pluggable channel beside in-app and push.

The PAGER setting names a class ("module:Class") with `send(page, user) -> None`
that raises on failure; it sends to `user.phone` (E.164). The default,
RecordingPager, records what it would send (the demo and tests); a real one would
call an SMS/voice provider. Page text is generic, like push text. A code text holds
a one-time code, so its text is replaced once it is sent or given up on: the table
keeps that a code was texted, never the code.
"""

from __future__ import annotations

import importlib
import logging

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.safety.models import OutboundPage, PageStatus
from portal.db import utcnow

log = logging.getLogger("portal.paging")

PAGE_TEXT = "Urgent safety alert. Open the portal now."
CODE_TEXT_DONE = "A one-time code (removed from here once sent)."
MAX_ATTEMPTS = 5


class RecordingPager:
    """Keeps what it would send: the row itself is the record (status, time, text)."""

    def send(self, page: OutboundPage, user: User) -> None:
        log.info("page %s by %s to user %s recorded", page.id, page.channel, user.id)


def pager():
    path = current_app.config.get(
        "PAGER", "portal.blueprints.safety.paging:RecordingPager"
    )
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


def queue_page(recipient_id: str, channel: str, flag_id: str | None) -> OutboundPage:
    page = OutboundPage(
        recipient_id=recipient_id, channel=channel, body=PAGE_TEXT, flag_id=flag_id
    )
    db.session.add(page)
    return page


def queue_code_text(
    recipient_id: str, app_name: str, code: str, language: str = "en"
) -> OutboundPage:
    """A text message with a one-time code, sent by the worker like a page; in the
    patient's language (the request is an admin's, in English). It names the
    sign-in page's button with that page's own words."""
    with force_locale(language):
        body = gettext(
            "%(app)s: your one-time code is %(code)s. It works once, for 3 days. "
            "Open the portal and choose: %(button)s.",
            app=app_name[:30],
            code=code,
            button=gettext("I have a code from the program"),
        )
    page = OutboundPage(recipient_id=recipient_id, channel="sms", body=body)
    db.session.add(page)
    return page


def _is_code_text(page: OutboundPage) -> bool:
    return page.flag_id is None and page.body not in (PAGE_TEXT, CODE_TEXT_DONE)


def deliver_pages(limit: int = 100) -> int:
    """Send pending pages (worker task); failures retry next round, then give up."""
    query = (
        select(OutboundPage)
        .where(OutboundPage.status == PageStatus.PENDING)
        .order_by(OutboundPage.created_at)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    sender, sent = pager(), 0
    for page in db.session.scalars(query).all():
        page.attempts += 1
        try:
            sender.send(page, db.session.get(User, page.recipient_id))
        except Exception:
            log.exception("page %s failed (attempt %s)", page.id, page.attempts)
            if page.attempts >= MAX_ATTEMPTS:
                page.status = PageStatus.FAILED
                _forget_code(page)
            continue
        page.status, page.sent_at = PageStatus.SENT, utcnow()
        _forget_code(page)
        sent += 1
    db.session.commit()
    return sent


def _forget_code(page: OutboundPage) -> None:
    if _is_code_text(page):
        page.body = CODE_TEXT_DONE
