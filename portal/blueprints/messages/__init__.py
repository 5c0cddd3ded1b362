"""Peer messaging: a patient's conversation with their peer specialist (and, where the
patient agrees, their care team), the peer's inbox, coverage, after-hours help, crisis
language and peer-support contacts for the record."""
