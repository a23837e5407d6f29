"""One look for every page feedpub serves: the digests' web archive (an
edition's page and the archive index) and the web app's pages (sign-up, its
notice, confirm, preferences, unsubscribe) link the build's one style.css,
as index.html, the topic pages and the article pages do
(``tests/feeds/test_pages_chromium.py``), and read right to left in Debian's
headless chromium at 375 px and 1200 px: no horizontal overflow, the colour
band, one column, touch-sized controls, no script, no web font. Each parses
as HTML5 without a single error (html5lib strict).

The pages are reached as a reader reaches them: a sample site is ingested,
built and its daily digest written to the outbox; the archive page is the
mail's «view in browser» link and the index its footer link; the sign-up
page is the one index.html links; the preferences and unsubscribe pages are
the mail's own links, answered by the web app over real HTTP.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from wsgiref.simple_server import make_server

import html5lib
import lxml.html
import pytest

from feedpub import web
from feedpub.app import make_publisher
from feedpub.config import load_config
from feedpub.store import SqlStore
from feedpub.subscribers import StoreSubscriptions
from support.chromium_pages import CHROMIUM, measure, run_chromium
from support.delivery_site import NOW, SECRET, config_text
from support.outbox import mail_to, outbox_messages
from support.web_app import MemorySubscriptions, QuietHandler, form_token_in, serving

SITE_URL = "https://news.example.org"
STYLE_URL = f"{SITE_URL}/style.css"  # feeds.url is the site's URL in this config
READER = "reader0@example.org"
NEWCOMER = "newcomer@example.org"
_PICTURE = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1600' height='900'%3E"
    "%3Crect width='1600' height='900' fill='%23b8c0cc'/%3E%3C/svg%3E"
)


@dataclass(frozen=True)
class Served:
    html: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Site:
    public: Path
    pages: dict[str, Served]  # name -> the page as served


def _link(html: str, text: str) -> str:
    """The href of the one link whose text is ``text``."""
    doc = lxml.html.document_fromstring(html)
    (href,) = [a.get("href") for a in doc.iter("a") if a.text_content().strip() == text]
    return str(href)


def _file(public: Path, url: str) -> Served:
    """A file of the build, from its public URL (feeds.url is the site's)."""
    path = urlsplit(url).path.removeprefix("/")
    target = public / (path + "index.html" if path.endswith("/") else path)
    return Served(target.read_text(encoding="utf-8"), {})


def _get(port: int, url: str, form: dict[str, str] | None = None) -> Served:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if form is None:
            conn.request("GET", urlsplit(url).path)
        else:
            body = urlencode(form)
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            conn.request("POST", urlsplit(url).path, body=body, headers=headers)
        response = conn.getresponse()
        html = response.read().decode("utf-8")
        assert response.status == 200, (url, response.status, html)
        return Served(html, {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("look")
    monkey = pytest.MonkeyPatch()
    monkey.setenv("FEEDPUB_SECRET", SECRET)
    text = config_text(f"sqlite:///{folder / 'store.db'}", 25).replace(
        "backend: smtp", "backend: outbox"
    )
    config = folder / "config.yaml"
    config.write_text(text.replace("outbox: var/outbox", f"outbox: {folder / 'outbox'}"), "utf-8")
    cfg = load_config(config)
    public = cfg.feeds.output
    with SqlStore.open(cfg.store.url) as store:
        store.add_subscriber(READER, NOW - timedelta(days=1), name="قارئ", status="active")
        with make_publisher(cfg, now=NOW, store=store) as pub:
            pub.ingest()
            pub.build()
            pub.digest("daily")
        (mail,) = mail_to(outbox_messages(folder / "outbox"), READER)
        html_part = mail.get_body(("html",))
        assert html_part is not None
        mail_html = html_part.get_content()
        pages = {"archive": _file(public, _link(mail_html, "عرض في المتصفح"))}
        pages["archive-index"] = _file(public, _link(pages["archive"].html, "أرشيف النشرة اليومية"))

        app = web.make_wsgi_app(
            public, StoreSubscriptions(store, ["daily"], signups=store), SECRET.encode(),
            web.site_info(cfg), lambda: NOW,
        )  # fmt: skip
        index = (public / "index.html").read_text(encoding="utf-8")
        sign_up = _link(index, "اشترك في النشرة البريدية")
        unsubscribe = re.search(r"<(https://[^>]+)>", str(mail["List-Unsubscribe"]))
        assert unsubscribe is not None
        with serving(app) as port:
            pages["subscribe"] = _get(port, sign_up)
            csrf = form_token_in(pages["subscribe"].html)
            form = {"csrf": csrf, "email": NEWCOMER, "digest": "daily"}
            pages["subscribe-sent"] = _get(port, sign_up, form)
            # The confirmation mail the sign-up queued, sent by the mailer;
            # its link opens the confirm page.
            with make_publisher(cfg, now=NOW, store=store) as pub:
                pub.signups()
            (confirmation,) = mail_to(outbox_messages(folder / "outbox"), NEWCOMER)
            confirm = confirmation.get_body(("plain",))
            assert confirm is not None
            link = re.search(r"https://\S+/confirm/\S+", str(confirm.get_content()))
            assert link is not None
            pages["confirm"] = _get(port, link.group(0))
            pages["preferences"] = _get(port, _link(mail_html, "تفضيلات الاشتراك"))
            pages["unsubscribe"] = _get(port, unsubscribe.group(1))
    monkey.undo()
    yield Site(public, pages)


NAMES = ["archive", "archive-index", "subscribe", "subscribe-sent", "confirm"]
NAMES += ["preferences", "unsubscribe"]


@pytest.mark.parametrize("name", NAMES)
def test_every_page_links_the_one_stylesheet_and_nothing_else(site: Site, name: str) -> None:
    served = site.pages[name]
    html5lib.HTMLParser(strict=True).parse(served.html)  # no parse error at all
    doc = lxml.html.document_fromstring(served.html)
    sheets = [x.get("href") for x in doc.iter("link") if x.get("rel") == "stylesheet"]
    assert sheets == [STYLE_URL]
    assert (doc.get("dir"), doc.get("lang")) == ("rtl", "ar")
    assert not list(doc.iter("style", "script")), "one stylesheet, no script"
    assert (site.public / "style.css").is_file()
    if served.headers:  # the web app's pages: their policy lets the stylesheet in
        policy_ = served.headers["content-security-policy"]
        style_src = re.search(r"style-src ([^;]+)", policy_)
        assert style_src is not None and SITE_URL in style_src.group(1).split()
        assert "default-src 'none'" in policy_


def test_the_stylesheet_loads_nothing_from_elsewhere(site: Site) -> None:
    css = (site.public / "style.css").read_text(encoding="utf-8")
    assert "@font-face" not in css and "@import" not in css and "url(" not in css
    assert "Tahoma" in css


@pytest.mark.chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
@pytest.mark.parametrize("width", [375, 1200])
@pytest.mark.parametrize("name", NAMES)
def test_pages_read_right_to_left_in_the_one_look(
    tmp_path: Path, site: Site, name: str, width: int
) -> None:
    html = re.sub(r'src="https://[^"]+"', f'src="{_PICTURE}"', site.pages[name].html)
    html = html.replace(STYLE_URL, (site.public / "style.css").as_uri())
    data: dict[str, Any] = measure(tmp_path, html, width)
    assert data["innerWidth"] == width, "chromium did not lay out at the requested width"
    assert data["scrollWidth"] <= width, f"horizontal overflow: {data['scrollWidth']} > {width}"
    assert data["direction"] == "rtl"
    assert data["band"] == "rgb(138, 28, 43)", "style.css was not applied"
    assert data["font"].startswith("Tahoma"), data["font"]
    assert data["scripts"] == 0
    page = data["page"]
    if width == 375:
        assert (page["left"], page["right"]) == (0, 375)
    else:
        assert 600 <= page["right"] - page["left"] <= 760, page
        assert abs(page["left"] - (width - page["right"])) <= 1, page
    assert data["heading"] <= page["right"] + 0.5
    # The sign-up's «check your inbox» notice is text alone.
    assert bool(data["controls"]) == (name != "subscribe-sent"), data["controls"]
    for control in data["controls"]:
        assert control["height"] >= 44 and control["width"] >= 44, (name, control)


@pytest.mark.chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_a_browser_fetches_the_stylesheet_under_the_pages_security_policy(
    tmp_path: Path, site: Site
) -> None:
    """The web app's Content-Security-Policy lets the one stylesheet in: a
    browser blocks what the policy forbids before asking for it, so the
    request reaching the server is the proof. Here feeds.url is the app
    itself, which serves public/ (as ``feedpub serve`` alone does)."""
    requested: list[str] = []
    server = make_server("127.0.0.1", 0, lambda e, s: [], handler_class=QuietHandler)
    base = f"http://127.0.0.1:{server.server_port}"
    info = web.SiteInfo("أخبار الشام", SITE_URL, style_url=f"{base}/style.css")
    app = web.make_wsgi_app(site.public, MemorySubscriptions(), SECRET.encode(), info, lambda: NOW)

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        requested.append(environ["PATH_INFO"])
        return app(environ, start_response)

    server.set_app(recording)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        dom = run_chromium(tmp_path / "profile", f"{base}/subscribe", 1200)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    assert "الاشتراك في النشرة" in dom
    assert requested[:1] == ["/subscribe"] and "/style.css" in requested, requested
