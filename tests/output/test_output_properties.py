"""Properties of what feedpub writes, for any article text: the digest email
always parses as a multipart/alternative message, neither the email nor the
archive page can run script, and no recipient slot marker is left unfilled;
every feed file parses and carries no script either.

Articles are built the way ingest leaves them: XML-illegal characters (C0
controls, lone surrogates, U+FFFE/U+FFFF) removed by strip_xml_illegal, the
content through the sanitiser. Everything else (markup, entities, template
syntax, bidi controls, huge titles, hostile URLs) reaches the renderers as is.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from datetime import UTC, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lxml_html

from feedpub.cli import main
from feedpub.digests import build_message, plan_edition, render_edition
from feedpub.ingest.article import clean_content
from feedpub.model import Article, Tag
from feedpub.text.arabic import make_tag, strip_xml_illegal
from support.digest_fixtures import DAILY, DAMASCUS, EMAIL, NOW, SLOT, FakeStore, make_site

NASTY = (
    "]]>",
    "<![CDATA[x]]>",
    "{{ 7*7 }}",
    "{{ site_title }}",
    "{% raw %}",
    "{% endraw %}",
    "{% for x in range(9) %}",
    "{# c",
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js>",
    '<img src=x onerror="alert(1)">',
    "\" onmouseover='alert(1)' x=\"",
    "' onload=alert(1) '",
    '<a href="javascript:alert(1)">x</a>',
    "javascript:alert(1)",
    "<svg/onload=alert(1)>",
    "<style>*{x:expression(alert(1))}</style>",
    "<!-- x -->",
    "--><script>",
    "&amp;&lt;&gt;&quot;&#39;&#0;&#x202E;&bogus;&#xD800;&",
    "</td></tr></table></body></html>",
    "\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
    "\ufffe\uffff\ud800\udfff\x00\x07\x1b\x7f",
    "😀👩\u200d👩\u200d👧🇸🇾",
    "أخبار COVID-19 في دمشق",
    "%%UNSUBSCRIBE_URL%%",
    "feedpub-slot-",
    "\n\r\t  \u00a0\u2028",
)

_piece = st.one_of(st.text(max_size=30), st.sampled_from(NASTY))
# Text as ingest stores it: anything but the characters XML cannot hold.
text = st.lists(_piece, max_size=6).map("".join).map(strip_xml_illegal)
# Titles from before ingest shortened them: up to 100,000 characters.
title = st.one_of(text, text.map(lambda t: ((t or "عنوان") + " ") * (100_000 // (len(t) + 1))))
url = st.one_of(
    st.none(),
    text,
    st.sampled_from(
        (
            "javascript:alert(1)",
            " JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "vbscript:msgbox(1)",
            "data:text/html,<script>alert(1)</script>",
            "//evil.example/x",
            '/news/1" onerror="alert(1)',
            "https://news.example.org/a?q=<script>&b=\"'",
            "https://news.example.org/%E2%80%AE",
        )
    ),
)


def _tags(names: list[str]) -> tuple[Tag, ...]:
    made = {tag.key: tag for tag in map(make_tag, names) if tag is not None}
    return tuple(made.values())


@st.composite
def stories(draw: st.DrawFn) -> list[Article]:
    count = draw(st.integers(min_value=1, max_value=4))
    made = []
    for index in range(count):
        published = (SLOT - timedelta(minutes=draw(st.integers(1, 1000)))).astimezone(UTC)
        made.append(
            Article(
                id=f"p{index}",
                title=draw(title),
                summary=draw(text),
                content=clean_content(draw(text)),
                published=published,
                updated=published,
                author=draw(st.one_of(st.none(), text)),
                url=draw(url),
                image=draw(url),
                tags=_tags(draw(st.lists(text, max_size=3))),
            )
        )
    return made


# A marker as slots.Markers makes them: the prefix and a 128-bit hex nonce.
MARKER = re.compile(r"feedpub-slot-[0-9a-f]{32}-")
_SCHEME_JUNK = re.compile(r"[\x00-\x20]+")
# Attributes a browser follows or loads as a URL.
URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "background", "poster", "cite", "srcset", "data"}
)


def assert_inert(page: str) -> None:
    """No script element, no on* event handler, no javascript: URL."""
    assert "<script" not in page.lower()
    doc = lxml_html.document_fromstring(page)
    assert not doc.xpath("//script")
    for element in doc.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name, value)
            if name.lower() not in URL_ATTRIBUTES:
                continue  # alt="javascript:" is text a reader sees, not a link
            # Browsers skip leading spaces and tabs/newlines inside a scheme.
            bare = _SCHEME_JUNK.sub("", value).lower()
            assert not bare.startswith(("javascript:", "vbscript:", "data:text/html")), (
                element.tag,
                name,
                value,
            )


SITE = make_site(Path(tempfile.mkdtemp(prefix="feedpub-props-")))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored=stories())
def test_digest_email_and_archive_are_well_formed_and_inert(stored: list[Article]) -> None:
    daily = dataclasses.replace(DAILY, max_items=len(stored))
    planned = plan_edition(FakeStore(stored), daily, NOW, tz=DAMASCUS)
    assert planned is not None and len(planned.articles) == len(stored)
    rendered = render_edition(planned, SITE, EMAIL)
    message = build_message(
        rendered,
        daily,
        SITE,
        EMAIL,
        to="سامي <sami@example.com>",
        unsubscribe_token="t0k",
        now=NOW,
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    html_part = parsed.get_body(("html",))
    text_part = parsed.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, plain = html_part.get_content(), text_part.get_content()
    assert_inert(html)
    assert_inert(rendered.archive_html)
    for body in (html, plain, rendered.archive_html):
        assert not MARKER.search(body)
    assert "https://news.example.org/unsubscribe/daily/t0k" in plain
    # Every article is in the email or counted among those left out.
    assert len(rendered.articles) + rendered.dropped == len(stored)


# --- feeds, through the command line --------------------------------------------

CONFIG = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
store:
  url: "sqlite:///feedpub.db"
sources:
  - path: records
feeds:
  output: public
  formats: [atom, rss, json]
"""


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, object]]:
    count = draw(st.integers(min_value=1, max_value=3))
    made: list[dict[str, object]] = []
    for index in range(count):
        record: dict[str, object] = {
            "id": f"r{index}",
            "title": draw(title) or "عنوان",
            "text": draw(text) or "نص",
            "published": f"2026-11-2{index}T10:00:00+03:00",
            "tags": draw(st.lists(text, max_size=3)),
            "author": draw(text),
        }
        for field in ("url", "image"):
            value = draw(url)
            if value is not None:
                record[field] = value
        made.append(record)
    return made


# Each example is a whole ingest and build on SQLite: keep them few.
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(written=records())
def test_every_feed_file_parses_and_is_inert(written: list[dict[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as env:
        root = Path(folder)
        (root / "records").mkdir()
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in written)
        (root / "records" / "items.jsonl").write_text(lines, encoding="utf-8")
        (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
        env.setenv("FEEDPUB_NOW", "2026-11-29T08:00:00+03:00")
        env.delenv("FEEDPUB_STORE_URL", raising=False)
        assert main(["--config", str(root / "config.yaml"), "ingest"]) == 0
        assert main(["--config", str(root / "config.yaml"), "build"]) == 0
        public = root / "public"
        # The feeds (per tag too), not feedpub's own dotfiles (manifest, lock).
        written_files = [p for p in public.rglob("*") if not p.name.startswith(".")]
        feeds = [p for p in written_files if p.suffix in (".xml", ".json")]
        assert {"atom.xml", "rss.xml", "feed.json"} <= {p.name for p in feeds}
        for page in (p for p in written_files if p.suffix == ".html"):
            assert_inert(page.read_text(encoding="utf-8"))
        for path in feeds:
            raw = path.read_bytes()
            if path.suffix == ".json":
                check_json_feed(json.loads(raw))
            else:
                parsed = feedparser.parse(raw)
                assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
                # The raw XML, not feedparser's values: feedparser sanitises
                # HTML itself and unescapes text constructs.
                check_xml_feed(etree.fromstring(raw))


# Elements whose text is HTML: Atom content/summary with type="html", RSS
# description and content:encoded.
_HTML_TEXT = {"description", "encoded"}
_URL_TEXT = {"link", "guid", "url", "comments", "docs"}


def _assert_url_inert(value: str) -> None:
    bare = _SCHEME_JUNK.sub("", value).lower()
    assert not bare.startswith(("javascript:", "vbscript:", "data:text/html")), value


def check_xml_feed(root: etree._Element) -> None:
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # a comment or processing instruction
        name = etree.QName(element).localname
        for attribute, value in element.attrib.items():
            assert not etree.QName(attribute).localname.lower().startswith("on")
            if etree.QName(attribute).localname in ("href", "src", "url"):
                _assert_url_inert(value)
        text = element.text or ""
        if name in _URL_TEXT:
            _assert_url_inert(text)
        is_html = name in _HTML_TEXT or (
            name in ("content", "summary") and element.get("type") == "html"
        )
        if is_html and text.strip():
            assert_inert(f"<div>{text}</div>")
        if name in ("content", "summary") and element.get("type") == "xhtml":
            assert_inert(etree.tostring(element, encoding="unicode"))


def check_json_feed(feed: dict[str, object]) -> None:
    items = feed["items"]
    assert isinstance(items, list)
    for item in items:
        if item.get("content_html"):
            assert_inert(f"<div>{item['content_html']}</div>")
        for key in ("url", "external_url", "image", "banner_image"):
            if item.get(key):
                _assert_url_inert(str(item[key]))
