"""Notifications: the in-app list, Web Push devices and preferences, the push outbox
delivered by the worker, and the reminders the worker produces."""
