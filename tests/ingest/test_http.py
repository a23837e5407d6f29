"""The sources' HTTP client against a real server on a loopback port: who
it says it is, how it waits and retries, conditional GET, the size cap, the
delay between requests, TLS, and a password that never shows."""

from __future__ import annotations

import base64
import gzip
import logging
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from feedpub import __version__
from feedpub.ingest.http import Client, FetchError, HttpOptions
from support.http_server import Answer, Seen, Site, serving


class Sleeps:
    """A sleep that records what it was asked to wait, and waits nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(round(seconds, 3))


@pytest.fixture
def site() -> Iterator[Site]:
    with serving() as served:
        yield served


def client(sleeps: Sleeps | None = None, **options: object) -> Client:
    return Client("wordpress:news", HttpOptions(**options), sleep=sleeps or Sleeps())  # type: ignore[arg-type]


def test_every_request_names_feedpub_and_its_version(site: Site) -> None:
    site.routes["/"] = Answer(200, b"ok")
    with client() as http:
        answer = http.get(site.url + "/")
    assert (answer.status, answer.content) == (200, b"ok")
    agent = site.seen[0].headers["user-agent"]
    assert agent.startswith(f"feedpub/{__version__} ")


def test_a_busy_site_is_asked_again_as_late_as_retry_after_says(site: Site) -> None:
    answers = iter(
        [
            Answer(503, b"busy", {"Retry-After": "2"}),
            Answer(
                429,
                b"slow down",
                {
                    "Date": format_datetime(
                        datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC), usegmt=True
                    ),
                    "Retry-After": format_datetime(
                        datetime(2026, 12, 1, 8, 0, 7, tzinfo=UTC), usegmt=True
                    ),
                },
            ),
            Answer(200, b"[]"),
        ]
    )
    site.routes["/api"] = lambda _: next(answers)
    sleeps = Sleeps()
    with client(sleeps) as http:
        assert http.get(site.url + "/api").content == b"[]"
    assert sleeps.waits == [2.0, 7.0]
    assert len(site.seen) == 3


def test_a_site_failing_after_every_retry_is_one_line_naming_the_url_and_the_reason(
    site: Site,
) -> None:
    site.routes["/api"] = Answer(500, b"<h1>Fatal error</h1>")
    sleeps = Sleeps()
    with client(sleeps) as http, pytest.raises(FetchError) as caught:
        http.get(site.url + "/api", params={"page": 2})
    assert str(caught.value) == (
        f"wordpress:news: {site.url}/api?page=2: answered 500 Internal Server Error (4 tries)"
    )
    assert caught.value.transient and caught.value.status == 500
    assert sleeps.waits == [1.0, 2.0, 4.0]  # backoff, doubled each time


def test_an_answer_that_will_not_change_is_not_asked_again(site: Site) -> None:
    sleeps = Sleeps()
    with client(sleeps) as http:
        with pytest.raises(FetchError) as caught:
            http.get(site.url + "/gone")
        assert str(caught.value).endswith("/gone: answered 404 Not Found")
        assert not caught.value.transient
        assert http.get(site.url + "/gone", allow=[404]).status == 404
    assert sleeps.waits == [] and len(site.seen) == 2


def test_a_retry_after_beyond_the_patience_fails_at_once(site: Site) -> None:
    site.routes["/api"] = Answer(503, b"", {"Retry-After": "3600"})
    sleeps = Sleeps()
    with client(sleeps, max_retry_after=120) as http, pytest.raises(FetchError) as caught:
        http.get(site.url + "/api")
    assert str(caught.value).endswith("answered 503 Service Unavailable, asking to wait 3600 s")
    assert sleeps.waits == [] and len(site.seen) == 1


def test_a_conditional_get_costs_nothing_when_nothing_changed(site: Site) -> None:
    def page(request: Seen) -> Answer:
        if request.headers.get("if-none-match") == '"v1"':
            return Answer(304)
        return Answer(
            200, b"<urlset/>", {"ETag": '"v1"', "Last-Modified": "Tue, 01 Dec 2026 08:00:00 GMT"}
        )

    site.routes["/sitemap.xml"] = page
    with client() as http:
        first = http.get(site.url + "/sitemap.xml")
        again = http.get(
            site.url + "/sitemap.xml", etag=first.etag, last_modified=first.last_modified
        )
    assert (first.etag, first.last_modified) == ('"v1"', "Tue, 01 Dec 2026 08:00:00 GMT")
    assert again.not_modified and again.content == b""
    assert site.seen[1].headers["if-modified-since"] == "Tue, 01 Dec 2026 08:00:00 GMT"


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, b"x" * 5000),  # said by Content-Length
        Answer(200, b"x" * 5000, {"Connection": "close"}),  # no length said: counted
        Answer(200, gzip.compress(b"x" * 100_000), {"Content-Encoding": "gzip"}),  # decompressed
    ],
    ids=["declared", "counted", "decompressed"],
)
def test_an_answer_over_the_size_cap_is_refused(site: Site, answer: Answer) -> None:
    site.routes["/big"] = answer
    with client(max_bytes=1000) as http, pytest.raises(FetchError) as caught:
        http.get(site.url + "/big")
    assert "larger than 1000 bytes" in str(caught.value)
    assert not caught.value.transient


def test_requests_to_one_host_are_spaced_by_the_delay(site: Site) -> None:
    site.routes["/a"] = Answer(200, b"a")
    sleeps = Sleeps()
    clock = iter([100.0, 100.1, 103.0]).__next__
    http = Client("sitemap:news", HttpOptions(delay=0.5), sleep=sleeps, clock=clock)
    with http:
        for _ in range(3):
            http.get(site.url + "/a")
    # The second comes 0.1 s after the first: it waits 0.4 s; the third,
    # long after, waits nothing.
    assert sleeps.waits == [0.4]


def test_a_site_that_cannot_be_reached_is_a_transient_failure_after_retries() -> None:
    with serving() as gone:
        url = gone.url
    sleeps = Sleeps()
    with client(sleeps, retries=2) as http, pytest.raises(FetchError) as caught:
        http.get(url + "/")
    message = str(caught.value)
    assert message.startswith(f"wordpress:news: {url}/: ") and "Connection refused" in message
    assert caught.value.transient and "\n" not in message
    assert sleeps.waits == [1.0, 2.0]


def test_a_site_that_does_not_answer_in_time_is_named_with_the_timeout(site: Site) -> None:
    def slow(_: Seen) -> Answer:
        time.sleep(1.0)
        return Answer(200, b"late")

    site.routes["/slow"] = slow
    with client(retries=0, timeout=0.2) as http, pytest.raises(FetchError) as caught:
        http.get(site.url + "/slow")
    assert str(caught.value).endswith("/slow: no answer within 0.2 s")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    try:
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    return cert, key


def test_a_certificate_that_does_not_verify_is_refused_and_not_retried(
    certificate: tuple[Path, Path],
) -> None:
    sleeps = Sleeps()
    with serving(tls=certificate) as secure, client(sleeps) as http:
        secure.routes["/"] = Answer(200, b"secret")
        with pytest.raises(FetchError) as caught:
            http.get(secure.url + "/")
    assert "its TLS certificate does not verify" in str(caught.value)
    assert not caught.value.transient and sleeps.waits == []


def test_basic_auth_is_sent_and_never_logged_or_named(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    password = "s3cret pass phrase"
    token = base64.b64encode(f"feeds:{password}".encode()).decode()
    site.routes["/api"] = Answer(
        401, b'{"code":"incorrect_password"}', {"WWW-Authenticate": "Basic"}
    )
    http = Client(
        "wordpress:news", HttpOptions(retries=1), auth=("feeds", password), sleep=Sleeps()
    )
    with http, caplog.at_level(logging.DEBUG), pytest.raises(FetchError) as caught:
        http.get(site.url + "/api")
    assert site.seen[0].headers["authorization"] == f"Basic {token}"
    assert str(caught.value).endswith("/api: answered 401 Unauthorized")
    logged = " ".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    assert logged  # httpx and httpcore log the request at DEBUG
    for shown in (logged, str(caught.value)):
        assert password not in shown and token not in shown


def test_a_redirect_is_followed_and_the_answer_says_where_from(site: Site) -> None:
    site.routes["/old"] = Answer(301, b"", {"Location": "/new"})
    site.routes["/new"] = Answer(200, b"here", {"Content-Type": "text/html; charset=windows-1256"})
    with client() as http:
        answer = http.get(site.url + "/old")
    assert (answer.url, answer.content, answer.charset) == (
        site.url + "/new",
        b"here",
        "windows-1256",
    )


def test_retry_after_as_a_date_is_read_against_the_answers_own_date() -> None:
    from feedpub.ingest.http import Response, _retry_after

    sent = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    headers = {
        "date": format_datetime(sent, usegmt=True),
        "retry-after": format_datetime(sent + timedelta(seconds=30), usegmt=True),
    }
    assert _retry_after(Response("u", 503, headers)) == 30.0
    assert _retry_after(Response("u", 503, {"retry-after": "soon"})) is None
