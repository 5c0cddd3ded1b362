"""Unbound extension objects, initialised in create_app."""

from flask_htmx import HTMX
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
htmx = HTMX()
