"""A small real HTTP server on a loopback port of the test's own (the
standard library's ``ThreadingHTTPServer`` in a thread), answering from a
table of routes and keeping every request it was sent, so a test can count
what a source fetched and check the headers it sent."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    path: str  # with its query
    headers: Mapping[str, str]  # names in lower case


_HTML = {"Content-Type": "text/html; charset=utf-8"}

# A route: a fixed answer, or a function of the request.
Route = Answer | Callable[[Seen], Answer]


class Site:
    """The routes a test serves (by path, query included, or by path alone)
    and the requests it was sent."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.url = ""
        self._lock = threading.Lock()

    def answer(self, request: Seen) -> Answer:
        with self._lock:
            self.seen.append(request)
        route = self.routes.get(request.path) or self.routes.get(request.path.split("?", 1)[0])
        if route is None:
            return Answer(404, b"<html><body>not found</body></html>", _HTML)
        return route(request) if callable(route) else route

    def paths(self) -> list[str]:
        with self._lock:
            return [s.path for s in self.seen]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
            answer = site.answer(seen)
            headers = {k.lower(): v for k, v in answer.headers.items()}
            self.log_request(answer.status)
            self.send_response_only(answer.status)
            if "date" not in headers:
                self.send_header("Date", self.date_time_string())
            for name, value in answer.headers.items():
                self.send_header(name, value)
            # "Connection: close" without a length: the body ends with the
            # connection (HTTP/1.0 style), its size unknown until then.
            close = headers.get("connection") == "close"
            if "content-length" not in headers and not close:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.status != 304:
                self.wfile.write(answer.body)
            self.close_connection = self.close_connection or close

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the test reads ``site.seen``

    return Handler


@contextmanager
def serving(site: Site | None = None, *, tls: tuple[Path, Path] | None = None) -> Iterator[Site]:
    """``site`` served on 127.0.0.1 (a free port) for the ``with`` block;
    ``tls``: (certificate, key) to serve HTTPS."""
    site = site or Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    site.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
