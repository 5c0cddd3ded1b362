"""A push can be followed from the request that made it to the worker that sent it:
the outbox row keeps the request's id, and the worker's lines carry it beside the id
of their own round."""

from __future__ import annotations

import logging

from sqlalchemy import select

from portal import db
from portal.blueprints.notifications import services
from portal.blueprints.notifications.models import NotificationKind, PushDelivery
from portal.worker import run_round


def test_a_push_is_traced_from_its_request_to_the_worker(
    push_app, add_device, world, push_service, caplog
):
    add_device(world.patient)
    caplog.set_level(logging.DEBUG, logger="portal")
    with push_app.test_request_context(headers={"X-Request-Id": "req-trace-0001"}):
        push_app.preprocess_request()
        note_id = services.notify(world.patient, NotificationKind.NEW_MESSAGE)
        db.session.commit()  # as the request does, before its context ends
    with push_app.app_context():
        push_app.extensions.pop("worker_schema_state", None)
        run_round(push_app)
    assert len(push_service.accepted()) == 1

    def lines_naming(logger: str):
        return [
            r for r in caplog.records if r.name == logger and note_id in r.getMessage()
        ]

    (queued,) = lines_naming("portal.notifications")
    assert queued.request_id == "req-trace-0001"
    with push_app.app_context():
        outbox = db.session.scalars(
            select(PushDelivery.request_id).where(
                PushDelivery.notification_id == note_id
            )
        ).all()
    assert outbox == ["req-trace-0001"]
    (sent,) = lines_naming("portal.push")
    assert sent.getMessage().endswith("sent (made by request req-trace-0001)")
    assert sent.request_id.startswith("worker-")
