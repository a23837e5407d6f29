"""websub.ping against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedpub import app as pipeline
from feedpub.feeds import websub
from feedpub.feeds.urls import feed_paths, feed_urls, public_url
from feedpub.store import SqlStore
from support.feedfactory import POLITICS, article, make_config, sample_articles


@dataclass
class Hub:
    url: str
    statuses: list[int]  # answers to give, in order; the last one repeats
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # path, type, body


@pytest.fixture
def hub() -> Iterator[Hub]:
    state = Hub(url="", statuses=[204])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("ascii")
            state.requests.append((self.path, self.headers.get("Content-Type", ""), body))
            status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hub"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


URLS = [
    "https://news.example.org/feeds/atom.xml",
    "https://news.example.org/feeds/tag/%D8%A8%D9%88%D8%AA%D9%8A%D9%86/rss.xml",
]


def test_ping_posts_mode_and_every_url_form_encoded(hub: Hub) -> None:
    assert websub.ping(hub.url, URLS) == []
    assert len(hub.requests) == 1
    path, content_type, body = hub.requests[0]
    assert path == "/hub"
    assert content_type == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(body, strict_parsing=True) == {
        "hub.mode": ["publish"],
        "hub.url": URLS,
    }


def test_server_errors_are_retried_with_growing_waits(hub: Hub) -> None:
    hub.statuses = [503, 500, 204]
    waits: list[float] = []
    assert websub.ping(hub.url, URLS, attempts=3, backoff=0.5, sleep=waits.append) == []
    assert len(hub.requests) == 3
    assert waits == [0.5, 1.0]


def test_a_refusal_is_not_retried_and_is_reported(hub: Hub) -> None:
    hub.statuses = [400]
    waits: list[float] = []
    problems = websub.ping(hub.url, URLS, sleep=waits.append)
    assert len(hub.requests) == 1 and waits == []
    assert len(problems) == 1 and "HTTP 400" in problems[0]


def test_many_urls_go_in_batches(hub: Hub) -> None:
    urls = [f"https://x.org/tag/{n}/atom.xml" for n in range(websub.BATCH_SIZE * 2 + 1)]
    assert websub.ping(hub.url, urls) == []
    sent = [urllib.parse.parse_qs(body)["hub.url"] for _, _, body in hub.requests]
    assert [len(batch) for batch in sent] == [websub.BATCH_SIZE, websub.BATCH_SIZE, 1]
    assert [u for batch in sent for u in batch] == urls


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_unreachable_hub_returns_a_problem_and_never_raises() -> None:
    waits: list[float] = []
    hub = f"http://127.0.0.1:{_closed_port()}/"
    problems = websub.ping(hub, URLS, timeout=2, attempts=3, sleep=waits.append)
    assert len(problems) == 1
    assert "after 3 attempt(s)" in problems[0] and hub in problems[0]
    assert waits == [1.0, 2.0]


@pytest.mark.parametrize("hub_url", ["file:///etc/passwd", "not a url", "ftp://x.org/"])
def test_a_hub_that_is_not_http_is_never_contacted(hub_url: str) -> None:
    problems = websub.ping(hub_url, URLS, sleep=lambda _: None)
    assert len(problems) == 1 and "not an http(s) URL" in problems[0]


def test_nothing_changed_sends_nothing(hub: Hub) -> None:
    assert websub.ping(hub.url, []) == []
    assert hub.requests == []


# --- the build's ping ---------------------------------------------------------

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _sent(hub: Hub) -> list[list[str]]:
    return [urllib.parse.parse_qs(body)["hub.url"] for _, _, body in hub.requests]


def test_a_build_pings_the_hub_with_the_feeds_it_changed_and_only_those(
    hub: Hub, tmp_path: Path
) -> None:
    cfg = make_config(tmp_path / "public", websub_hub=hub.url)
    with SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.upsert_articles(sample_articles(), NOW)
        first = pipeline.build_feeds(cfg, store)
        assert _sent(hub) == [feed_urls(cfg.feeds.url, first.written)]
        assert len(_sent(hub)[0]) == 12  # 4 feeds x 3 formats; not OPML, not index.html

        hub.requests.clear()
        pipeline.build_feeds(cfg, store)  # nothing changed: nothing to tell
        assert hub.requests == []

        store.upsert_articles([article(10, POLITICS)], NOW)
        pipeline.build_feeds(cfg, store)
        changed = [
            public_url(cfg.feeds.url, path)
            for directory in ("", "tag/سياسة")
            for path in feed_paths(directory, ("atom", "rss", "json")).values()
        ]
        assert [sorted(batch) for batch in _sent(hub)] == [sorted(changed)]


def test_a_failed_ping_is_logged_once_and_the_build_still_succeeds(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub.statuses = [400]  # refused: not retried, so no waiting
    cfg = make_config(tmp_path / "public", websub_hub=hub.url)
    with SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.upsert_articles(sample_articles(), NOW)
        with caplog.at_level(logging.WARNING):
            report = pipeline.build_feeds(cfg, store)
    assert len(hub.requests) == 1
    assert (cfg.feeds.output / "atom.xml").is_file() and "atom.xml" in report.written
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("websub: ping to ") and "HTTP 400" in warnings[0]
