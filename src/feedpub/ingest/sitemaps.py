"""Sitemaps and robots.txt, parsed (fetching them is the sitemap source's
job): what a site lists, and what it allows a crawler to fetch.

* ``parse_sitemap``: a sitemap index (``<sitemapindex>``: more sitemaps)
  or a URL set (``<urlset>``: pages), gzip-compressed or not, with each
  page's ``lastmod`` and, in a Google News sitemap, its
  ``news:publication_date`` and ``news:title``
  (https://www.sitemaps.org/protocol.html,
  https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap).
  Bounded: at most ``max_bytes`` once uncompressed (the protocol's 50 MB)
  and ``max_urls`` entries (its 50,000); XML entities are not expanded and
  nothing is fetched for a DTD. A document that is not a sitemap (an HTML
  page where one was expected, broken XML, another XML root) raises
  ``SitemapError`` naming the URL; one bad entry is skipped with a note.
* ``Robots``: ``urllib.robotparser`` on the bytes of a robots.txt, with the
  rules of RFC 9309 for the answers that are not one (4xx: everything
  allowed; 5xx or no answer: nothing allowed).
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.robotparser
import zlib
from dataclasses import dataclass
from datetime import datetime, tzinfo

from lxml import etree

from feedpub.ingest.dates import DateError, parse_record_date
from feedpub.text.arabic import collapse_ws, strip_xml_illegal

MAX_BYTES = 50 * 1024 * 1024
MAX_URLS = 50_000
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
_GZIP_MAGIC = b"\x1f\x8b"
_HTML = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S
)
# W3C Datetime as sitemaps allow it: YYYY, YYYY-MM, YYYY-MM-DD, with a time.
_YEAR_MONTH = re.compile(r"^\d{4}(?:-\d{2})?$")


class SitemapError(ValueError):
    """The document at a sitemap's URL is not a sitemap; the message names
    the URL and why."""


@dataclass(frozen=True)
class Page:
    """One ``<url>`` of a URL set."""

    url: str
    lastmod: datetime | None = None
    news_title: str | None = None
    news_published: datetime | None = None

    @property
    def changed(self) -> datetime | None:
        """When the page last changed, as far as the sitemap says."""
        return self.lastmod or self.news_published


@dataclass(frozen=True)
class Child:
    """One ``<sitemap>`` of a sitemap index."""

    url: str
    lastmod: datetime | None = None


@dataclass(frozen=True)
class Sitemap:
    url: str
    index: bool  # a sitemap index (``children``) rather than a URL set (``pages``)
    pages: tuple[Page, ...] = ()
    children: tuple[Child, ...] = ()
    # Entries skipped or cut, one line each, naming the entry.
    notes: tuple[str, ...] = ()


def parse_sitemap(
    data: bytes,
    url: str,
    tz: tzinfo,
    *,
    max_bytes: int = MAX_BYTES,
    max_urls: int = MAX_URLS,
) -> Sitemap:
    """The sitemap at ``url`` (its bytes as fetched). A ``lastmod`` without
    a zone is in ``tz``. Raises ``SitemapError``."""
    if data.startswith(_GZIP_MAGIC):
        data = _gunzip(data, url, max_bytes)
    elif len(data) > max_bytes:
        raise SitemapError(f"{url}: sitemap is {len(data)} bytes, more than {max_bytes}")
    if not data.strip():
        raise SitemapError(f"{url}: empty document, not a sitemap")
    if _HTML.match(data[:2048]):
        raise SitemapError(f"{url}: an HTML page, not a sitemap")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise SitemapError(f"{url}: not XML: {exc.msg} (line {exc.lineno})") from None
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise SitemapError(f"{url}: the XML is a <{kind}>, not a <urlset> or <sitemapindex>")
    notes: list[str] = []
    entries = [e for e in root if isinstance(e.tag, str)]
    if len(entries) > max_urls:
        notes.append(f"{len(entries)} entries, more than {max_urls}: the rest are not read")
        entries = entries[:max_urls]
    if kind == "sitemapindex":
        children = []
        for number, entry in enumerate(entries, start=1):
            loc = _loc(entry, url, number, notes)
            if loc is not None:
                children.append(Child(loc, _date(entry, "lastmod", tz, loc, notes)))
        return Sitemap(url, True, children=tuple(children), notes=tuple(notes))
    pages = []
    for number, entry in enumerate(entries, start=1):
        loc = _loc(entry, url, number, notes)
        if loc is None:
            continue
        news = _child(entry, "news", NEWS)
        pages.append(
            Page(
                loc,
                _date(entry, "lastmod", tz, loc, notes),
                news_title=_text(_child(news, "title", NEWS)) if news is not None else None,
                news_published=_date(news, "publication_date", tz, loc, notes, NEWS)
                if news is not None
                else None,
            )
        )
    return Sitemap(url, False, pages=tuple(pages), notes=tuple(notes))


def _gunzip(data: bytes, url: str, max_bytes: int) -> bytes:
    """The uncompressed bytes, never more than ``max_bytes`` (a small gzip
    can hold gigabytes)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise SitemapError(f"{url}: broken gzip: {exc}") from None
    if len(out) > max_bytes:
        raise SitemapError(f"{url}: sitemap is more than {max_bytes} bytes uncompressed")
    if not inflate.eof:
        raise SitemapError(f"{url}: broken gzip: the stream ends early")
    return out


def _child(
    element: etree._Element | None, name: str, ns: str | None = None
) -> etree._Element | None:
    """The first child named ``name`` (in namespace ``ns``, else in the
    element's own namespace or none: some sitemaps omit it)."""
    if element is None:
        return None
    for child in element:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        if qname.localname == name and (ns is None or qname.namespace == ns):
            return child
    return None


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = collapse_ws(strip_xml_illegal("".join(str(t) for t in element.itertext())))
    return text or None


def _loc(entry: etree._Element, url: str, number: int, notes: list[str]) -> str | None:
    loc = _text(_child(entry, "loc"))
    if loc is None:
        notes.append(f"entry {number}: no <loc>")
        return None
    try:
        parts = urllib.parse.urlsplit(loc)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or " " in loc:
        notes.append(f"entry {number}: <loc> {loc[:200]!r} is not an http(s) URL")
        return None
    return loc


def _date(
    element: etree._Element | None,
    name: str,
    tz: tzinfo,
    loc: str,
    notes: list[str],
    ns: str | None = None,
) -> datetime | None:
    text = _text(_child(element, name, ns))
    if text is None:
        return None
    if _YEAR_MONTH.match(text):  # "2026" or "2026-11": the first day of it
        text = f"{text}-01-01"[:10] if len(text) == 4 else f"{text}-01"
    try:
        return parse_record_date(text, tz)
    except DateError:
        notes.append(f"{loc}: <{name}> {text[:60]!r} is not a W3C date: ignored")
        return None


# --- robots.txt -------------------------------------------------------------------------------


class Robots:
    """What a site's robots.txt allows (``urllib.robotparser``)."""

    def __init__(self, parser: urllib.robotparser.RobotFileParser) -> None:
        self._parser = parser

    @classmethod
    def parse(cls, data: bytes) -> Robots:
        """A robots.txt as fetched (status 2xx). Undecodable bytes are
        replaced: RFC 9309 asks for UTF-8, and a bad byte must not make the
        rules of the other lines vanish."""
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(data.decode("utf-8", "replace").splitlines())
        return cls(parser)

    @classmethod
    def for_status(cls, status: int | None, data: bytes = b"") -> Robots:
        """RFC 9309 section 2.3.1: a 2xx answer is the rules; 4xx (no
        robots.txt) allows everything; a 5xx, or no answer at all (None),
        allows nothing until the file can be read."""
        if status is not None and 200 <= status < 300:
            return cls.parse(data)
        rule = "Allow" if status is not None and 400 <= status < 500 else "Disallow"
        return cls.parse(f"User-agent: *\n{rule}: /\n".encode())

    def allowed(self, url: str, agent: str) -> bool:
        return self._parser.can_fetch(agent, url)

    def crawl_delay(self, agent: str) -> float | None:
        delay = self._parser.crawl_delay(agent)
        return float(delay) if delay is not None else None

    @property
    def sitemaps(self) -> list[str]:
        """The ``Sitemap:`` lines, in order."""
        return list(self._parser.site_maps() or [])
