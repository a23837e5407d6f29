"""The HTTP host of the web app inside ``feedpub serve``: waitress in a
daemon thread, stopped when the service stops. The only module that imports
waitress.

Why waitress: a maintained, pure-Python production WSGI server (no C build,
no worker processes to supervise beside the scheduler) that bounds what a
client can hold. It reads each request whole on its event loop before a
worker thread sees it, so a slow or idle client costs one socket, not a
thread; ``connection_limit`` caps the sockets, ``channel_timeout`` closes
silent ones, and the listen ``backlog`` is ours to set. wsgiref, the host
before it, had none of these: a thousand idle connections took every file
descriptor, and the service's own jobs failed with "Too many open files".

Descriptors: each connection is one. At start the soft ``RLIMIT_NOFILE``
is raised (within the hard limit; the systemd unit sets ``LimitNOFILE``) to
the connection limit plus ``RESERVED_FILES`` for the jobs (the store, the
feed files, SMTP); where the hard limit is lower, the connection limit is
lowered to fit, and the log says so. The jobs never run out of descriptors
because of web clients.

No access log here: the proxy in front (nginx) keeps it; what this side logs
goes through ``web.logs`` (tokens masked).
"""

from __future__ import annotations

import logging
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass

from waitress import wasyncore
from waitress.server import create_server

from feedpub.config import WebConfig
from feedpub.web import logs
from feedpub.web.pages import WsgiApp

log = logging.getLogger(__name__)

# Descriptors kept for everything but web clients: the store's connections,
# the files of a feed build, SMTP connections, the scheduler's threads.
RESERVED_FILES = 1024
# Largest request body waitress buffers before the app sees it; the forms
# (web.forms.MAX_BODY) refuse anything over 64 KiB anyway.
MAX_REQUEST_BODY = 1024 * 1024
MAX_REQUEST_HEADER = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """What the server was started with, after fitting the descriptor limit."""

    connection_limit: int
    open_files: int  # the soft RLIMIT_NOFILE now


def raise_open_files(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (never above the hard
    limit, never lower than it is); returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("web: cannot raise the open files limit to %d: %s", target, exc)
    return soft


def fit_limits(cfg: WebConfig) -> Limits:
    """The connection limit that leaves ``RESERVED_FILES`` descriptors to the
    jobs (a quarter of them under a hard limit too low for that)."""
    open_files = raise_open_files(cfg.connection_limit + RESERVED_FILES)
    limit = cfg.connection_limit
    room = max(open_files - min(RESERVED_FILES, open_files // 4), 16)
    if limit > room:
        log.warning(
            "web: web.connection_limit %d lowered to %d: the open files limit is %d "
            "(raise LimitNOFILE in the systemd unit or the hard limit of ulimit -n)",
            limit,
            room,
            open_files,
        )
        limit = room
    return Limits(limit, open_files)


@dataclass(frozen=True)
class Hosted:
    """A running server: the port it listens on (port 0 asks for a free one)."""

    port: int
    limits: Limits
    stop: Callable[[], None]


def serve_in_background(
    wsgi: WsgiApp, host: str, port: int, cfg: WebConfig | None = None
) -> Hosted:
    """Serve ``wsgi`` on ``host``:``port`` from a daemon thread until ``stop``."""
    cfg = cfg or WebConfig()
    logs.install()
    # waitress warns "Task queue depth is N" for every request that waits
    # for a thread: under a burst that is a line per request, and the queue
    # is bounded anyway (by connection_limit).
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    limits = fit_limits(cfg)
    server = create_server(
        wsgi,
        host=host,
        port=port,
        threads=cfg.threads,
        connection_limit=limits.connection_limit,
        channel_timeout=cfg.idle_timeout,
        # Closing idle channels is checked this often; a tenth of the timeout
        # keeps an idle client's overstay short.
        cleanup_interval=max(1, cfg.idle_timeout // 10),
        backlog=cfg.backlog,
        # poll(), not select(): select() cannot watch a descriptor over 1023.
        asyncore_use_poll=True,
        max_request_body_size=MAX_REQUEST_BODY,
        max_request_header_size=MAX_REQUEST_HEADER,
        ident="feedpub",
        # A failing page is answered by the app itself; a traceback never goes out.
        expose_tracebacks=False,
        clear_untrusted_proxy_headers=True,
    )
    bound = int(server.socket.getsockname()[1])
    log.info(
        "web: listening on %s:%d (%d connections at most, %d open files)",
        host,
        bound,
        limits.connection_limit,
        limits.open_files,
    )
    thread = threading.Thread(target=server.run, name="feedpub-web", daemon=True)
    thread.start()

    def stop() -> None:
        # Every socket closed (the listener and each client's), so the loop,
        # which runs while any is open, ends within asyncore_loop_timeout.
        server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(server._map)
        thread.join(timeout=5)

    return Hosted(bound, limits, stop)
