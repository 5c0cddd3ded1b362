"""The notification list, opening one, marking read, devices and preferences."""

from __future__ import annotations

import logging
from datetime import datetime

import click
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l

# Importing delivery and reminders registers their worker tasks.
from portal.blueprints.notifications import delivery, reminders, services  # noqa: F401
from portal.blueprints.notifications.about import describe_notifications
from portal.blueprints.notifications.forms import preferences_form
from portal.blueprints.notifications.kinds import KINDS
from portal.blueprints.notifications.push import (
    VAPID_KEY_FILE,
    SubscriptionError,
    private_key_text,
    public_key_of,
    push_settings,
    write_vapid_key,
)
from portal.db import utcnow
from portal.rendering import render_page
from portal.security import Permission, current_actor, requires

bp = Blueprint("notifications", __name__, cli_group=None)
log = logging.getLogger("portal.notifications")

MAX_SUBSCRIPTION_BYTES = 4096
SUBSCRIBE_REFUSED = _l(
    "This browser's notification set-up did not work here. Please try again, or use "
    "another browser."
)


@bp.record_once
def load_push_settings(state) -> None:
    """Read the VAPID key at start-up: a wrong one stops the app there, not later."""
    push_settings(state.app)


@bp.app_context_processor
def bell():
    """`unread_notifications()` for the header: one COUNT, run only when a signed-in
    page actually renders the bell."""

    def unread_notifications() -> int:
        actor = current_actor()
        if actor is None:
            return 0
        if "unread_notifications" not in g:
            g.unread_notifications = services.unread_count(actor.id)
        return g.unread_notifications

    return {"unread_notifications": unread_notifications}


@bp.app_template_filter("time_ago")
def time_ago(moment: datetime) -> str:
    """Plain words for how long ago: no time zone needed, nothing to misread."""
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    days, hours, minutes = seconds // 86400, seconds // 3600, seconds // 60
    if days:
        if days == 1:
            return gettext("yesterday")
        return ngettext("%(num)d day ago", "%(num)d days ago", days)
    if hours:
        if hours == 1:
            return gettext("an hour ago")
        return ngettext("%(num)d hour ago", "%(num)d hours ago", hours)
    if minutes:
        if minutes == 1:
            return gettext("a minute ago")
        return ngettext("%(num)d minute ago", "%(num)d minutes ago", minutes)
    return gettext("just now")


def _load_or_404(notification_id: str):
    note = services.load_notification(current_actor(), notification_id)
    if note is None:
        abort(404)
    return note


@bp.route("/notifications")
@requires(Permission.NOTIFICATIONS)
def index():
    """The person's notifications, newest first."""
    actor = current_actor()
    notes = services.list_notifications(actor)
    return render_page(
        "notifications/list.html",
        "notifications/_list.html",
        notes=notes,
        kinds=KINDS,
        about=describe_notifications(actor, notes),
    )


@bp.route("/n/<notification_id>")
@requires(Permission.NOTIFICATIONS)
def open_one(notification_id: str):
    """The opaque link in a push: mark it read and go to the page it is about."""
    note = _load_or_404(notification_id)
    return redirect(services.open_notification(current_actor(), note))


@bp.route("/notifications/<notification_id>/read", methods=["POST"])
@requires(Permission.NOTIFICATIONS)
def mark_read(notification_id: str):
    """Mark one notification read without opening it."""
    note = _load_or_404(notification_id)
    services.mark_read(current_actor(), note)
    return redirect(url_for("notifications.index"))


@bp.route("/notifications/read-all", methods=["POST"])
@requires(Permission.NOTIFICATIONS)
def mark_all_read():
    """Mark every notification read."""
    services.mark_all_read(current_actor())
    return redirect(url_for("notifications.index"))


@bp.route("/notifications/settings", methods=["GET", "POST"])
@requires(Permission.NOTIFICATIONS)
def settings():
    """Devices that get notifications, what to send to them, and quiet hours."""
    actor = current_actor()
    form = preferences_form(actor.is_staff, services.load_preferences(actor))
    if form.validate_on_submit():
        services.save_preferences(actor, form.pushed_kinds(), form.quiet_hours())
        flash(gettext("Your notification settings are saved."))
        return redirect(url_for("notifications.settings"))
    user_agent = request.headers.get("User-Agent", "")
    return render_template(
        "notifications/settings.html",
        form=form,
        devices=services.list_devices(actor),
        public_key=push_settings(current_app).public_key,
        always_on=[
            info for info in KINDS.values() if info.always_on and actor.is_staff
        ],
        looks_like_iphone=any(word in user_agent for word in ("iPhone", "iPad")),
    )


@bp.route("/notifications/devices", methods=["POST"])
@requires(Permission.NOTIFICATIONS)
def add_device():
    """Save this browser's push subscription (JSON from push.js, CSRF in a header)."""
    actor = current_actor()
    if (request.content_length or 0) > MAX_SUBSCRIPTION_BYTES:
        log.warning("push subscription refused for user %s: too_large", actor.id)
        return jsonify(error=str(SUBSCRIBE_REFUSED)), 413
    data = request.get_json(silent=True)
    try:
        device = services.save_device(
            actor, data, request.headers.get("User-Agent"), push_settings(current_app)
        )
    except SubscriptionError as error:
        log.warning("push subscription refused for user %s: %s", actor.id, error.reason)
        return jsonify(error=str(SUBSCRIBE_REFUSED)), 400
    return jsonify(id=device.id, label=device.device_label), 201


@bp.route("/notifications/devices/<device_id>/remove", methods=["POST"])
@requires(Permission.NOTIFICATIONS)
def remove_device(device_id: str):
    """Stop notifications on one device."""
    actor = current_actor()
    device = services.load_device(actor, device_id)
    if device is None:
        abort(404)
    services.remove_device(actor, device)
    flash(gettext("That device will not get notifications any more."))
    return redirect(url_for("notifications.settings"))


@bp.cli.command("vapid-keys")
@click.option("--force", is_flag=True, help="Replace an existing key.")
@click.option(
    "--env", "as_env", is_flag=True, help="Print both keys as environment lines."
)
def vapid_keys_command(force: bool, as_env: bool) -> None:
    """Make the VAPID key pair for Web Push (kept in instance/, never in the repo)."""
    from pathlib import Path

    path = Path(current_app.instance_path) / VAPID_KEY_FILE
    if path.exists() and not force:
        click.echo(
            f"{path} already exists. Replacing it stops every saved device from "
            "getting notifications until it turns them on again; use --force to do "
            "that.",
            err=True,
        )
        raise SystemExit(1)
    vapid = write_vapid_key(path)
    click.echo(f"wrote the private key to {path} (mode 600)")
    click.echo(f"public key (applicationServerKey): {public_key_of(vapid)}")
    if as_env:
        click.echo(f"PORTAL_VAPID_PRIVATE_KEY={private_key_text(vapid)}")
        click.echo(f"PORTAL_VAPID_PUBLIC_KEY={public_key_of(vapid)}")
