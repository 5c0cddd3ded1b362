"""Requests for help: transport, housing and other social needs."""
