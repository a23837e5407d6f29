"""The web app as the web tests serve it: wsgiref's server in a thread on
127.0.0.1 (``serving``), a client for it (``Server``), an in-memory
subscriber store behind the ``Subscriptions`` protocol, and the site,
clock and secret the app is made with."""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from feedpub.model import SignupRequest
from feedpub.web import ListInfo, Preferences, SiteInfo

SECRET = b"web-test-secret-0123456789"
NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
SITE = SiteInfo(
    title="أخبار الشام",
    url="https://news.example.org",
    language="ar",
    lists=(ListInfo("daily", "النشرة اليومية"), ListInfo("weekly", "النشرة الأسبوعية")),
    tags=("سوريا", "اقتصاد"),
)


@dataclass
class MemorySubscriptions:
    """A test double of the store: the protocol's contract, in dictionaries."""

    active: dict[str, Preferences] = field(default_factory=dict)
    signups: list[SignupRequest] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, datetime]] = field(default_factory=list)

    def request_signup(self, request: SignupRequest, per_client_hour: int) -> bool:
        self.calls.append(("signup", request.email, request.requested))
        if sum(1 for r in self.signups if r.client == request.client) >= per_client_hour:
            return False
        self.signups.append(request)
        return True

    def confirm(self, signup_id: int, address: str, client: str, now: datetime) -> bool | None:
        self.calls.append(("confirm", address, now))
        return None

    def link_key(self, address: str) -> str | None:
        if address in self.active:
            return self.keys.setdefault(address, f"key-{len(self.keys)}")
        return None

    def unsubscribe(self, address: str, list_name: str, now: datetime) -> bool:
        self.calls.append(("unsubscribe", address, now))
        prefs = self.active.get(address)
        if prefs is None or list_name not in prefs.digests:
            return False
        rest = tuple(d for d in prefs.digests if d != list_name)
        if rest:
            self.active[address] = prefs._replace(digests=rest)
        else:
            del self.active[address]
            self.keys.pop(address, None)  # leaving draws a new key
        return True

    def preferences(self, address: str) -> Preferences | None:
        return self.active.get(address)

    def set_preferences(
        self, address: str, digests: Sequence[str], tags: Sequence[str], now: datetime
    ) -> bool:
        self.calls.append(("preferences", address, now))
        if address not in self.active:
            return False
        self.active[address] = Preferences(tuple(digests), tuple(tags))
        return True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Server:
    port: int
    store: MemorySubscriptions
    public: Path

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()

    def post_form(
        self, path: str, fields: list[tuple[str, str]], headers: dict[str, str] | None = None
    ) -> tuple[Any, bytes]:
        body = urlencode(fields).encode()
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", path, body, sent)

    def form_token(self, path: str = "/subscribe") -> str:
        """The form token of the page at ``path``, as a browser gets it."""
        response, body = self.request("GET", path)
        assert response.status == 200
        return form_token_in(body.decode("utf-8"))

    def sign_up(self, fields: list[tuple[str, str]]) -> tuple[Any, bytes]:
        return self.post_form("/subscribe", [("csrf", self.form_token()), *fields])


def form_token_in(page: str) -> str:
    """The form token (``csrf``) a page's form carries, as a browser posts it back."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


@contextmanager
def serving(app: Any) -> Iterator[int]:
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
