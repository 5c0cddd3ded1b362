"""Signing in: passwords, second factor, enrollment codes, sessions."""
