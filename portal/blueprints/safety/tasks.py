"""Crisis-loop worker tasks: escalate unacknowledged flags, send SMS/voice pages."""

from __future__ import annotations

from flask import Flask

from portal.blueprints.safety.escalation import escalate_due_flags
from portal.blueprints.safety.paging import deliver_pages
from portal.worker import task


@task("escalate_risk_flags")
def escalate_risk_flags(_app: Flask) -> int:
    return escalate_due_flags()


@task("deliver_pages")
def deliver_outbound_pages(_app: Flask) -> int:
    return deliver_pages()
