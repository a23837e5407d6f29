"""The HTTP host of the web app inside ``feedpub serve``: a threading
wsgiref server in a daemon thread, quiet (access logs belong to the proxy
in front, nginx), stopped when the service stops."""

from __future__ import annotations

import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from feedpub.web.pages import WsgiApp


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *values: Any) -> None:
        pass


def serve_in_background(wsgi: WsgiApp, host: str, port: int) -> Callable[[], None]:
    """Serve ``wsgi`` on ``host``:``port`` from a daemon thread; returns what stops it."""
    server = make_server(host, port, wsgi, server_class=_Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="feedpub-web", daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
