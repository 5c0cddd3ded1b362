# gunicorn settings for the portal's web server on one app host.
#
#   gunicorn -c /opt/portal/deploy/gunicorn.conf.py portal.wsgi:app
#
# portal-web.service runs exactly that. Every value below can be changed through the
# environment file (/etc/portal/portal.env) without editing this file.
#
# This file is Python, read by gunicorn before it loads the portal.

import os
import tempfile

# ---- where it listens ------------------------------------------------------------
# The app host's private address, reachable by the nginx host(s) only (firewall the
# port to them): with PORTAL_PROXY_HOPS=1 the portal believes X-Forwarded-For and
# X-Forwarded-Proto, so nobody else may talk to it directly.
bind = [os.environ.get("PORTAL_BIND", "127.0.0.1:8000")]
backlog = 2048

# ---- how many processes ----------------------------------------------------------
# Sync workers: each answers one request at a time, and nginx in front buffers slow
# phones on 3G both ways, so a worker is only busy while the portal computes and the
# database answers (a few ms to a few tens of ms). (2 x cores) + 1 keeps the CPUs
# busy while some workers wait on PostgreSQL. Each takes about 80-100 MB and up to
# 10 database connections (pool 5 + overflow 5): mind PostgreSQL's max_connections
# (docs/deployment.md, "Scaling further").
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
workers = int(os.environ.get("PORTAL_WEB_WORKERS") or 2 * _cores + 1)
worker_class = "sync"
# /dev/shm: a worker's liveness file is touched on every request, never on a disk
# that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn makes its files there with mkstemp

# ---- timeouts ----------------------------------------------------------------------
# A request still running after 30 s is killed (nginx gives up at 35 s, so it sees
# the kill as a 502 and answers with its crisis page, never hangs).
timeout = 30
# On restart or reload (SIGHUP), workers finish what they are answering first.
graceful_timeout = 30
# gunicorn's sync workers close every connection; nginx opens one per request.
keepalive = 2
# A worker is replaced after about 2,000 requests, so a slow leak never grows.
max_requests = 2000
max_requests_jitter = 200

# ---- the proxy in front ------------------------------------------------------------
# The portal's ProxyFix believes PORTAL_PROXY_HOPS proxies (portal/__init__.py).
# gunicorn itself only reads the scheme: it believes X-Forwarded-Proto from the
# addresses in PORTAL_PROXY_ADDRESSES (the nginx hosts), and from nobody when the
# portal believes no proxy. Only X-Forwarded-Proto counts: a client sending
# X-Forwarded-Ssl or X-Forwarded-Protocol through nginx could otherwise make
# gunicorn refuse the request (nginx also blanks them).
_hops = int(os.environ.get("PORTAL_PROXY_HOPS") or 0)
forwarded_allow_ips = (
    os.environ.get("PORTAL_PROXY_ADDRESSES", "127.0.0.1,::1") if _hops else ""
)
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# ---- load once, fail once ------------------------------------------------------------
# The portal is loaded before the workers are forked: a configuration it refuses
# (portal/wsgi.py) stops gunicorn at once with one plain line, instead of every
# worker failing in turn, and the workers share the loaded code's memory.
preload_app = True
# gunicorn's control socket (gunicorn 25+) lives in the user's home by default, and
# several gunicorns on one host (the rehearsal, blue/green) would fight over it.
control_socket_disable = True
proc_name = "portal-web"

# ---- logs ----------------------------------------------------------------------------
# No access log of gunicorn's own: the portal writes one JSON line per request
# (request id, route name, status, ms, role; never a path, a query or a name) on the
# `portal.requests` logger. Every line, gunicorn's included, goes to stderr as JSON,
# where systemd's journal keeps it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("PORTAL_LOG_LEVEL", "info")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "portal.logs.JsonLines"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}

# ---- metrics across the workers ------------------------------------------------------
# prometheus_client adds up every worker's counts through files in this folder
# (portal/metrics.py). systemd gives the service /run/portal-web (RuntimeDirectory);
# run by hand, a folder of its own in /tmp. It must be set before the portal loads.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="portal-metrics-")
)


def on_starting(server):
    """Counts from a previous run of this host must not be added to this one's."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.unlink(os.path.join(folder, name))


def post_fork(server, worker):
    """Database connections opened while loading (the on-call numbers) belong to the
    master: each worker opens its own instead of sharing the master's sockets."""
    app = server.app.wsgi()  # the Flask app loaded before the fork
    app.extensions["engine"].dispose(close=False)


def child_exit(server, worker):
    """A dead worker's gauges stop counting; its counters stay in the totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
