"""The web front over real HTTP: wsgiref's server in a thread on 127.0.0.1,
an in-memory subscriber store behind the ``Subscriptions`` protocol, and a
real ``public/`` folder on disk."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from email.utils import formatdate
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from feedpub import web
from feedpub.model import SignupRequest
from feedpub.store import SqlStore
from feedpub.tokens import ALL_LISTS, make_token, preferences_scope
from feedpub.web import Preferences, make_wsgi_app
from feedpub.web.pages import client_address
from support.web_app import NOW, SECRET, SITE, MemorySubscriptions, Server, serving

READER = "reader@example.org"


def make_public(root: Path) -> Path:
    """A site folder with a secret beside it, hidden files in it and a symlink out."""
    (root / "config.yaml").write_text("secret: do not serve\n", encoding="utf-8")
    public = root / "public"
    (public / "tag" / "سوريا").mkdir(parents=True)
    (public / "atom.xml").write_text("<feed xmlns='http://www.w3.org/2005/Atom'/>\n")
    (public / "rss.xml").write_text("<rss version='2.0'/>\n")
    (public / "feed.json").write_text("{}\n")
    (public / "feeds.opml").write_text("<opml version='2.0'/>\n")
    (public / "index.html").write_text("<!DOCTYPE html><title>x</title>\n")
    (public / "tag" / "سوريا" / "atom.xml").write_text("<feed/>\n")
    (public / "tag" / "سوريا" / "index.html").write_text("<!DOCTYPE html><title>t</title>\n")
    (public / ".feedpub-manifest.json").write_text("{}\n")
    (public / ".feedpub-manifest.log").write_text("{}\n")
    (public / ".feedpub.lock").write_text("")
    (public / "tag" / ".feedpub-tmp-123").write_text("half")
    (public / "escape.yaml").symlink_to(root / "config.yaml")
    (public / "outside").symlink_to(root, target_is_directory=True)
    (public / "manifest.json").symlink_to(public / ".feedpub-manifest.json")
    return public


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    public = make_public(tmp_path)
    store = MemorySubscriptions()
    store.active[READER] = Preferences(("daily", "weekly"), ())
    app = make_wsgi_app(public, store, SECRET, SITE, lambda: NOW)
    with serving(app) as port:
        yield Server(port, store, public)


def unsubscribe_path(list_name: str = "daily", address: str = READER) -> str:
    return f"/unsubscribe/{list_name}/{make_token(SECRET, 'unsubscribe', list_name, address)}"


class StrictHTML(HTMLParser):
    """Enough of an HTML5 check for these pages: a doctype, balanced elements."""

    VOID = frozenset({"meta", "link", "input", "br", "img", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.doctype = ""
        self.html_attrs: dict[str, str | None] = {}

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.html_attrs = dict(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def check_page(body: bytes) -> str:
    text = body.decode("utf-8")
    parser = StrictHTML()
    parser.feed(text)
    parser.close()
    assert parser.doctype.lower() == "doctype html"
    assert parser.html_attrs == {"lang": "ar", "dir": "rtl"}
    assert parser.stack == []
    return text


# --- unsubscribe ---------------------------------------------------------------


def test_get_shows_an_rtl_confirm_page_and_does_not_unsubscribe(server: Server) -> None:
    response, body = server.request("GET", unsubscribe_path())
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert response.getheader("Referrer-Policy") == "no-referrer"
    text = check_page(body)
    assert '<form method="post">' in text
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in text
    assert "النشرة اليومية" in text and READER in text
    assert server.store.active[READER].digests == ("daily", "weekly")
    response, _ = server.request("HEAD", unsubscribe_path())
    assert response.status == 200
    assert server.store.active[READER].digests == ("daily", "weekly")


def test_one_click_post_unsubscribes_without_redirect_or_cookie(server: Server) -> None:
    response, body = server.post_form(unsubscribe_path(), [("List-Unsubscribe", "One-Click")])
    assert response.status == 200
    assert response.getheader("Location") is None
    assert response.getheader("Set-Cookie") is None
    assert "تم إلغاء اشتراكك" in check_page(body)
    assert server.store.active[READER].digests == ("weekly",)
    assert ("unsubscribe", READER, NOW) in server.store.calls
    # Again: still a plain 200 (the address no longer gets the list).
    response, _ = server.post_form(unsubscribe_path(), [("List-Unsubscribe", "One-Click")])
    assert response.status == 200


def test_one_click_post_as_multipart_form_data(server: Server) -> None:
    # RFC 8058 recommends multipart/form-data for the client's POST.
    boundary = "feedpubBoundary42"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        f"One-Click\r\n--{boundary}--\r\n"
    ).encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response, _ = server.request("POST", unsubscribe_path("weekly"), body, headers)
    assert response.status == 200
    assert server.store.active[READER].digests == ("daily",)


def test_post_without_the_one_click_field_changes_nothing(server: Server) -> None:
    response, _ = server.post_form(unsubscribe_path(), [("something", "else")])
    assert response.status == 400
    assert server.store.active[READER].digests == ("daily", "weekly")


@pytest.mark.parametrize(
    "path",
    [
        unsubscribe_path()[:-1] + ("A" if unsubscribe_path()[-1] != "A" else "B"),  # altered
        unsubscribe_path("daily", "victim@example.org").rsplit(".", 1)[0]
        + "."
        + unsubscribe_path().rsplit(".", 1)[1],  # someone else's address, our signature
        "/unsubscribe/weekly/" + unsubscribe_path("daily").rsplit("/", 1)[1],  # other list
        "/unsubscribe/daily/" + make_token(SECRET, "preferences", ALL_LISTS, READER),
        "/unsubscribe/daily/"
        + make_token(b"another-secret-of-16+", "unsubscribe", "daily", READER),
    ],
    ids=["altered", "swapped-address", "other-list", "other-purpose", "forged"],
)
def test_tampered_tokens_get_4xx_and_change_nothing(server: Server, path: str) -> None:
    for response, body in (
        server.request("GET", path),
        server.post_form(path, [("List-Unsubscribe", "One-Click")]),
    ):
        assert 400 <= response.status < 500
        assert "الرابط غير صالح" in check_page(body)
    assert server.store.active[READER].digests == ("daily", "weekly")
    assert not server.store.calls


# --- subscribe, confirm, preferences -------------------------------------------------


def test_subscribe_with_a_bad_email_is_400_with_a_message(server: Server) -> None:
    response, body = server.sign_up([("email", "not-an-address@"), ("digest", "daily")])
    assert response.status == 400
    text = check_page(body)
    assert "عنوان البريد الإلكتروني غير صالح" in text
    assert "There must be something after the @-sign" in text
    assert 'value="not-an-address@"' in text  # the form keeps what was typed
    assert not server.store.signups


def test_subscribe_escapes_what_it_echoes(server: Server) -> None:
    response, body = server.sign_up([("email", '"><script>x</script>')])
    assert response.status == 400
    assert b"<script>" not in body


def test_subscribe_queues_the_request_and_nothing_else(server: Server) -> None:
    response, body = server.request("GET", "/subscribe")
    assert response.status == 200
    assert 'name="digest" value="weekly"' in check_page(body)
    fields = [("email", "New.Reader@Example.ORG"), ("name", "  سلمى  "), ("digest", "weekly")]
    response, body = server.sign_up([*fields, ("digest", "nonexistent")])
    assert response.status == 200
    assert "تحقّق من بريدك" in check_page(body)
    assert server.store.signups == [
        SignupRequest("new.reader@example.org", "سلمى", ("weekly",), "127.0.0.1", NOW)
    ]
    assert [c[0] for c in server.store.calls] == ["signup"]


def test_preferences_page_saves_an_active_subscribers_choices(server: Server) -> None:
    key = server.store.link_key(READER)
    assert key is not None
    path = "/preferences/" + make_token(SECRET, "preferences", preferences_scope(key), READER)
    response, body = server.request("GET", path)
    assert response.status == 200
    assert 'value="weekly" checked' in check_page(body)
    picked = [("digest", "daily"), ("tag", "اقتصاد"), ("tag", "not-a-tag")]
    response, body = server.post_form(path, [("csrf", server.form_token(path)), *picked])
    assert response.status == 200 and "تم حفظ تفضيلاتك" in check_page(body)
    assert server.store.active[READER] == Preferences(("daily",), ("اقتصاد",))
    # Without the page's form token, or with another page's: refused, unchanged.
    for token in ("", server.form_token()):
        response, _ = server.post_form(path, [("csrf", token), ("digest", "weekly")])
        assert response.status == 403
    assert server.store.active[READER] == Preferences(("daily",), ("اقتصاد",))


def test_preferences_link_of_a_stranger_is_refused_like_a_forged_one(server: Server) -> None:
    for address in ("nobody@example.org", READER):
        # Signed with the old, key-less layout: no key of the store matches.
        path = "/preferences/" + make_token(SECRET, "preferences", ALL_LISTS, address)
        response, body = server.request("GET", path)
        assert response.status == 400
        assert "الرابط غير صالح" in check_page(body)


# --- static files -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/feeds.opml", "text/x-opml; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
        ("/tag/" + quote("سوريا") + "/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/tag/" + quote("سوريا") + "/", "text/html; charset=utf-8"),
    ],
)
def test_static_types(server: Server, path: str, expected: str) -> None:
    response, body = server.request("GET", path)
    assert response.status == 200
    assert response.getheader("Content-Type") == expected
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert int(response.getheader("Content-Length") or -1) == len(body) > 0


def test_etag_then_304(server: Server) -> None:
    response, body = server.request("GET", "/atom.xml")
    tag = response.getheader("ETag")
    stat = (server.public / "atom.xml").stat()
    assert tag == f'"{int(stat.st_mtime):x}-{stat.st_size:x}"'  # as nginx makes it
    assert response.getheader("Last-Modified") == formatdate(stat.st_mtime, usegmt=True)
    again, body = server.request("GET", "/atom.xml", headers={"If-None-Match": tag})
    assert again.status == 304 and body == b""
    assert again.getheader("ETag") == tag
    since = {"If-Modified-Since": formatdate(stat.st_mtime + 5, usegmt=True)}
    assert server.request("GET", "/atom.xml", headers=since)[0].status == 304
    older = {"If-Modified-Since": formatdate(stat.st_mtime - 3600, usegmt=True)}
    assert server.request("GET", "/atom.xml", headers=older)[0].status == 200
    # A new build of the file: a new ETag, the old one no longer matches.
    os.utime(server.public / "atom.xml", (stat.st_mtime + 60, stat.st_mtime + 60))
    changed, _ = server.request("GET", "/atom.xml", headers={"If-None-Match": tag})
    assert changed.status == 200 and changed.getheader("ETag") != tag


def test_head_has_headers_and_no_body(server: Server) -> None:
    response, body = server.request("HEAD", "/rss.xml")
    assert response.status == 200 and body == b""
    assert response.getheader("Content-Length") == str((server.public / "rss.xml").stat().st_size)


def test_a_folder_without_its_slash_redirects(server: Server) -> None:
    response, _ = server.request("GET", "/tag/" + quote("سوريا"))
    assert response.status == 301
    assert response.getheader("Location") == "/tag/" + quote("سوريا") + "/"


@pytest.mark.parametrize(
    "path",
    [
        "/../config.yaml",
        "/%2e%2e/x",
        "/%2E%2E%2Fx",
        "/%2e%2e%2fconfig.yaml",
        "/.feedpub-manifest.json",
        "/.feedpub-manifest.log",
        "/%2efeedpub-manifest.json",
        "/.feedpub.lock",
        "/tag/.feedpub-tmp-123",
        "/tag/../../x",
        "/tag/../../config.yaml",
        "/tag/%2e%2e/%2e%2e/config.yaml",
        "/escape.yaml",  # a symlink out of public/
        "/outside/config.yaml",  # a symlinked folder out of public/
        "/manifest.json",  # a symlink onto a hidden file
        "//etc/passwd",
        "/atom.xml%00.html",
        "/nothing-here.xml",
        "/atom.xml/",  # a file asked for as a folder
        "/feeds.opml/",
        f"/tag/{quote('سوريا')}/atom.xml/",
    ],
)
def test_nothing_outside_public_nor_hidden(server: Server, path: str) -> None:
    response, body = server.request("GET", path)
    assert response.status == 404
    assert b"do not serve" not in body and b"half" not in body


def test_other_methods_on_files_are_405(server: Server) -> None:
    response, _ = server.request("POST", "/atom.xml", b"x")
    assert response.status == 405 and response.getheader("Allow") == "GET, HEAD"


# --- feedpub.web:app, built lazily from $FEEDPUB_CONFIG --------------------------------


def test_lazy_app_builds_itself_through_the_root_on_the_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``feedpub.web:app`` for an outside WSGI server: the config, the store
    and the secret found by itself; without the secret the pages say so and
    the files are still served; with it, a sign-up reaches the real store."""
    make_public(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(
        "site: {title: أخبار, url: 'https://news.example.org', language: ar, "
        "timezone: Asia/Damascus}\n"
        "store: {url: 'sqlite:///var/feedpub.db'}\n"
        "feeds: {output: public}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("FEEDPUB_CONFIG", str(config))
    monkeypatch.delenv("FEEDPUB_SECRET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with serving(web._LazyApp()) as port:
        front = Server(port, MemorySubscriptions(), tmp_path / "public")
        assert front.request("GET", "/atom.xml")[0].status == 200
        response, body = front.request("GET", "/subscribe")
        assert response.status == 503
        assert response.getheader("Retry-After") == "30"
        # What is missing, and where it was looked for, is the operator's: the log has it.
        assert "FEEDPUB_SECRET" not in check_page(body)
        assert "CREDENTIALS_DIRECTORY" not in body.decode()
    assert "FEEDPUB_SECRET" in caplog.text
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET.decode())
    with serving(web._LazyApp()) as port:
        front = Server(port, MemorySubscriptions(), tmp_path / "public")
        response, _ = front.sign_up([("email", READER)])
        assert response.status == 200
    # Queued for the mailer; the subscribers are not touched by the request.
    with SqlStore.open(f"sqlite:///{tmp_path / 'var' / 'feedpub.db'}") as store:
        assert [s.request.email for s in store.signups_of(READER)] == [READER]
        assert store.get_subscriber(READER) is None


@pytest.mark.parametrize("config_text", [None, "site: [not, a, mapping\n", "store: {url: 7}\n"])
def test_lazy_app_with_a_broken_config_logs_why_and_shows_no_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    config_text: str | None,
) -> None:
    config = tmp_path / "secret-place" / "config.yaml"
    if config_text is not None:
        config.parent.mkdir()
        config.write_text(config_text, encoding="utf-8")
    monkeypatch.setenv("FEEDPUB_CONFIG", str(config))
    with serving(web._LazyApp()) as port:
        front = Server(port, MemorySubscriptions(), tmp_path)
        for path in ("/atom.xml", "/subscribe", "/confirm/x.y"):
            response, body = front.request("GET", path)
            assert response.status == 503
            assert response.getheader("Retry-After") == "30"
            assert b"secret-place" not in body and b"Traceback" not in body
            assert body == b"Service unavailable: try again in a moment.\n"
    assert "secret-place" in caplog.text  # the operator reads the reason in the log


# --- the client address of the per-client limit ----------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("198.51.100.7", "", (), "198.51.100.7"),
        ("198.51.100.7", "203.0.113.9", (), "198.51.100.7"),  # not from a proxy: ignored
        ("127.0.0.1", "203.0.113.9", ("127.0.0.1",), "203.0.113.9"),
        ("127.0.0.1", "192.0.2.1, 203.0.113.9", ("127.0.0.1",), "203.0.113.9"),  # spoofed hop
        ("10.0.0.2", "203.0.113.9, 10.0.0.1", ("10.0.0.0/8",), "203.0.113.9"),  # two proxies
        ("127.0.0.1", "not-an-ip", ("127.0.0.1",), "127.0.0.1"),
        ("::1", "2001:db8::5", ("::1",), "2001:db8::5"),
        ("", "", (), "unknown"),
    ],
)
def test_client_address(peer: str, forwarded: str, trusted: tuple[str, ...], expected: str) -> None:
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}
    networks = [ipaddress.ip_network(t) for t in trusted]
    assert client_address(environ, networks) == expected
