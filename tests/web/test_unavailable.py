"""The web app on its real host (waitress, as ``feedpub serve`` runs it) over
a PostgreSQL store that goes away and comes back: the pages answer 503 with
Retry-After while it is gone (not 500), the log says why without the
reader's token, and the pages work again once it is back."""

from __future__ import annotations

import http.client
import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from psycopg import sql

from feedpub.config import WebConfig
from feedpub.store import SqlStore
from feedpub.subscribers import StoreSubscriptions
from feedpub.tokens import ALL_LISTS, make_token
from feedpub.web import ListInfo, SiteInfo, make_wsgi_app, server
from support.tcp_proxy import TcpProxy, tcp_proxy
from support.web_app import form_token_in

SECRET = b"web-test-secret-0123456789"
NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
SITE = SiteInfo("أخبار", "https://news.example.org", "ar", (ListInfo("daily", "اليومية"),))
PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"

pytestmark = pytest.mark.postgres


def request(
    port: int, method: str, path: str, fields: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    body = urlencode(fields).encode() if fields is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def sign_up(port: int, email: str) -> dict[str, str]:
    """The sign-up form's fields as a reader sends them: its token from the page."""
    _, _, page = request(port, "GET", "/subscribe")
    return {"csrf": form_token_in(page.decode()), "email": email, "digest": "daily"}


@pytest.fixture
def schema() -> Iterator[str]:
    try:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            name = f"test_{uuid.uuid4().hex[:12]}"
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 unreachable: {exc}")
    try:
        yield name
    finally:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def site(tmp_path: Path, schema: str) -> Iterator[tuple[int, TcpProxy]]:
    """The web app on waitress, its store reached through a proxy the test can cut."""
    public = tmp_path / "public"
    public.mkdir()
    (public / "atom.xml").write_text("<feed/>\n", encoding="utf-8")
    with tcp_proxy(("127.0.0.1", 5432)) as proxy:
        url = (
            f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/test"
            f"?options=-csearch_path%3D{schema}&connect_timeout=3"
        )
        with SqlStore.open(url) as store:
            wsgi = make_wsgi_app(
                public,
                StoreSubscriptions(store, ["daily"], signups=store),
                SECRET,
                SITE,
                lambda: NOW,
            )
            hosted = server.serve_in_background(wsgi, "127.0.0.1", 0, WebConfig())
            try:
                yield hosted.port, proxy
            finally:
                hosted.stop()
                proxy.restore()


def test_pages_answer_503_with_retry_after_while_the_store_is_down(
    site: tuple[int, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    port, proxy = site
    status, _, _ = request(port, "POST", "/subscribe", sign_up(port, "a@example.org"))
    assert status == 200

    proxy.cut()
    token = make_token(SECRET, "unsubscribe", "daily", "a@example.org")
    preferences = make_token(SECRET, "preferences", ALL_LISTS, "a@example.org")
    with caplog.at_level(logging.INFO):
        for method, path, fields in [
            ("POST", "/subscribe", sign_up(port, "b@example.org")),
            ("GET", f"/preferences/{preferences}", None),
            ("POST", f"/unsubscribe/daily/{token}", {"List-Unsubscribe": "One-Click"}),
        ]:
            status, headers, body = request(port, method, path, fields)
            assert status == 503, (method, path, body)
            assert headers["Retry-After"] == "30"
            assert "غير متاحة" in body.decode()
            assert b"Traceback" not in body and b"psycopg" not in body
        # The files need no store.
        assert request(port, "GET", "/atom.xml")[0] == 200
    assert "unavailable" in caplog.text
    for secret in (token, preferences):
        assert secret.split(".")[1] not in caplog.text
    assert "/unsubscribe/daily/<token>" in caplog.text
    assert "/preferences/<token>" in caplog.text
    assert "Traceback" not in caplog.text

    proxy.restore()
    deadline = time.monotonic() + 20
    while True:  # the pool's dead connections are found and replaced
        status, _, _ = request(port, "POST", "/subscribe", sign_up(port, "b@example.org"))
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200


def test_logged_failures_mask_every_token_route() -> None:
    from feedpub.web import logs

    token = make_token(SECRET, "preferences", ALL_LISTS, "a@example.org")
    for path, shown in [
        (f"/confirm/{token}", "/confirm/<token>"),
        (f"/preferences/{token}/", "/preferences/<token>/"),
        (f"/unsubscribe/daily/{token}?x=1", "/unsubscribe/daily/<token>?x=1"),
        (f'GET "/unsubscribe/weekly/{token}" 200', 'GET "/unsubscribe/weekly/<token>" 200'),
        ("/atom.xml", "/atom.xml"),
    ]:
        assert logs.mask(path) == shown
        assert re.search(re.escape(token), logs.mask(path)) is None
