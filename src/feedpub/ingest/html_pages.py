"""HTML article pages: a saved ``.html``/``.htm`` file, or a page fetched
from the site (through a sitemap), into an ``Article`` or a ``Reject``.

``read_html`` is the one pure function both paths call: the page's bytes,
its address (the file's path, or the URL it was fetched from, with the
``Content-Type`` charset when there was one) and the ``FileContext``
(source name, settings, ``now`` for rejects, ``mtime``: the date of a page
that states none: a file's mtime; for a fetched page, its sitemap
``lastmod`` or the time it was fetched). ``explain_html`` says where each
field came from (``html_explain``).

The fields, each from the first source that gives a usable value:

* metadata first (``html_meta``): schema.org JSON-LD, then microdata, then
  Open Graph and ``article:*``; the address from ``<link rel=canonical>``
  before them; ``rel=tag`` links add tags;
* the title then falls back to the page's one ``<h1>``, then ``<title>``;
  dates to a date line under the title (``dates.find_page_date``, as in
  scraped pages), then ``mtime``; the summary to the body's first paragraph;
  the image to the body's first picture;
* the body from ``html_body`` (trafilatura, then the blocks judged);
* id: the article's URL (percent-escapes decoded, so an Arabic slug is
  readable and fits the store's key), else the file's name without its
  suffix (as scraped pages), else the URL it was fetched from.

A page that is not an article is a reject saying why: its metadata names a
listing type (``CollectionPage``, ``SearchResultsPage``, ...), its title is
an error's («الصفحة غير موجودة», 404), its ``og:type`` is not ``article``
and it gives no date, or its body holds no text.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from feedpub.ingest import html_body
from feedpub.ingest.article import (
    MAX_KEY_CHARS,
    Fields,
    assemble,
    clean_content,
    nfc,
    plain,
    tags_for,
)
from feedpub.ingest.chrome import line_key
from feedpub.ingest.context import FileContext
from feedpub.ingest.dates import DateError, find_page_date, parse_record_date
from feedpub.ingest.html_meta import Found, Image, PageMeta, read_meta
from feedpub.model import Article, Reject
from feedpub.text.arabic import collapse_ws, strip_xml_illegal
from feedpub.text.sanitize import html_paragraphs

__all__ = ["PageReading", "page_items", "read_html", "read_page", "text_blocks", "url_id"]

# A body with less text than this is not an article (an error or empty page).
MIN_TEXT_CHARS = 80
# Titles of error pages answered with status 200 (compared as tag keys).
_ERROR_TITLES = re.compile(
    r"\b404\b|الصفحه غير موجوده|الصفحه المطلوبه غير موجوده|لم يتم العثور علي الصفحه"
    r"|صفحه غير موجوده|خطا 404|page not found|not found",
    re.I,
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_TITLE_PARTS = re.compile(r"\s+(?:[-|–—:·»«]|::)\s+")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
MTIME = "mtime (the page gives no date)"


@dataclass
class Taken:
    """A field's value and where it came from (for ``--explain``)."""

    value: str | None = None
    origin: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class PageReading:
    """Everything reading a page worked out: the article's fields with
    where each came from, the body's blocks with why each was dropped, or
    the reason the page is rejected. ``image`` has the picture's width,
    height and alt text when the page gives them."""

    charset: str = ""
    meta: PageMeta | None = None
    reject: str | None = None
    title: Taken = field(default_factory=Taken)
    summary: Taken = field(default_factory=Taken)
    url: Taken = field(default_factory=Taken)
    author: Taken = field(default_factory=Taken)
    published: datetime | None = None
    published_from: Taken = field(default_factory=Taken)
    updated: datetime | None = None
    updated_from: Taken = field(default_factory=Taken)
    image: Image | None = None
    tags: list[Found] = field(default_factory=list)
    blocks: list[html_body.Block] = field(default_factory=list)
    content: str = ""
    id: str = ""
    prepared: int = 0  # ad slots and comment boxes removed, <br> boxes rewritten
    root: HtmlElement | None = None
    body: HtmlElement | None = None


def read_html(
    data: bytes,
    ctx: FileContext,
    *,
    url: str | None = None,
    path: Path | None = None,
    charset: str | None = None,
) -> list[Article | Reject]:
    """One HTML page -> its article (with a note when tags were dropped), or
    one reject saying why it is not one. ``url``: where the page was
    fetched from; ``path``: the file it was read from (its name is the id
    of a page that gives no URL); ``charset``: the HTTP header's. Never
    raises for bad content."""
    return page_items(read_page(data, ctx, url=url, path=path, charset=charset), ctx)


def page_items(reading: PageReading, ctx: FileContext) -> list[Article | Reject]:
    """The article of a reading (with a note when tags were dropped), or its reject."""
    if reading.reject is not None:
        return [ctx.reject(reading.reject)]
    assert reading.title.value is not None and reading.published is not None
    published = reading.published
    updated = reading.updated or published
    vocabulary = ctx.settings.vocabulary
    texts = [b.text for b in reading.blocks if b.dropped is None] if vocabulary.entries else []
    fields = Fields(
        id=reading.id,
        title=reading.title.value,
        summary=reading.summary.value or "",
        content=reading.content,
        author=reading.author.value,
        url=reading.url.value,
        image=reading.image.url if reading.image else None,
        tags=tags_for([t.value for t in reading.tags], [reading.title.value, *texts], vocabulary),
        published=published,
        updated=updated,
        published_given=reading.published_from.origin != MTIME,
        updated_given=reading.updated is not None,
        image_width=reading.image.width if reading.image else None,
        image_height=reading.image.height if reading.image else None,
        image_alt=(reading.image.alt or "") if reading.image else "",
    )
    return assemble(fields, ctx, None)


def read_page(
    data: bytes,
    ctx: FileContext,
    *,
    url: str | None = None,
    path: Path | None = None,
    charset: str | None = None,
) -> PageReading:
    """What ``read_html`` reads, before it becomes an article or a reject."""
    reading = PageReading()
    text, how = _decode(data, charset)
    if text is None:
        reading.reject = how
        return reading
    reading.charset = how
    try:
        root = lxml.html.document_fromstring(strip_xml_illegal(text))
    except (lxml.etree.ParserError, ValueError) as exc:
        reading.reject = f"not an HTML page: {exc}"
        return reading
    reading.root = root
    meta = read_meta(root)
    reading.meta = meta
    base = _base(meta, url, ctx.settings.site_url)
    _address(reading, meta, base, url, path)
    if not reading.id:
        reading.reject = "no address: the page gives no URL, and neither URL nor file was given"
        return reading
    _title(reading, meta, root)
    if reading.title.value is None:
        reading.reject = "no title: not an article page"
        return reading
    error = _error_page(reading.title.value, root)
    if error:
        reading.reject = error
        return reading
    if meta.article_type is None and meta.not_article is not None:
        reading.reject = f"not an article: {meta.not_article}"
        return reading
    _dates(reading, meta, root, ctx)
    if (
        meta.article_type is None
        and meta.og_type not in (None, "article")
        and reading.published_from.origin == MTIME
    ):
        reading.reject = f"not an article: og:type is {meta.og_type!r} and the page gives no date"
        return reading
    reading.author = _first(meta.author)
    reading.tags = meta.tags
    reading.prepared = html_body.prepare(root)
    body = html_body.extract(root, reading.url.value or url)
    if body is None:
        reading.reject = "no article text: the extractor found no body"
        return reading
    body.make_links_absolute(base, handle_failures="discard")
    reading.body = body
    settings = ctx.settings
    reading.blocks = html_body.judge(
        body, reading.title.value, settings.chrome, settings.tz, ctx.mtime
    )
    kept = [b for b in reading.blocks if b.dropped is None]
    if sum(len(b.text) for b in kept) < MIN_TEXT_CHARS:
        reading.reject = (
            f"not an article: its body holds {sum(len(b.text) for b in kept)} characters of text"
        )
        return reading
    reading.content = clean_content(html_body.content_html(reading.blocks))
    limit = settings.limits.max_article_bytes
    size = len(reading.content.encode("utf-8"))
    if size > limit:
        reading.reject = (
            f"article content is {size} bytes, larger than ingest.max_article_bytes ({limit})"
        )
        return reading
    reading.summary = _first(meta.summary)
    if reading.summary.value is None:
        lead = next((b.text for b in kept if b.kind == "p" and b.text), None)
        reading.summary = Taken(plain(lead) if lead else None, "body: the first paragraph")
    reading.image = _image(meta, root, base, body)
    return reading


# --- decoding ------------------------------------------------------------------------------


def _decode(data: bytes, header: str | None) -> tuple[str | None, str]:
    """The page's text and how it was decoded, or None and why not. UTF-8
    is tried first whatever the page declares (a wrong declaration is a
    common slip, and Arabic in a legacy charset is never valid UTF-8),
    then the charset of the HTTP header, then the page's ``<meta>``."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), f"{codec} (byte order mark)"
            except UnicodeDecodeError as exc:
                return None, _undecodable(data, codec, exc)
    if b"\x00" in data:
        return None, "binary file (contains NUL bytes: UTF-16 without a byte order mark?)"
    if not data.strip():
        return None, "empty file"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    declared = header or _declared(data)
    if declared is None:
        return None, _undecodable(data, "utf-8", utf8_error) + " and the page declares no charset"
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        return None, f"unknown charset {declared!r} (and not UTF-8)"
    try:
        return data.decode(codec), f"{codec} (declared{' by HTTP' if header else ''})"
    except UnicodeDecodeError as exc:
        return None, _undecodable(data, codec, exc)


def _declared(data: bytes) -> str | None:
    found = _META_CHARSET.search(data[:4096])
    return found.group(1).decode("ascii", "replace") if found else None


def _undecodable(data: bytes, codec: str, exc: UnicodeDecodeError) -> str:
    return f"not {codec} (byte 0x{data[exc.start]:02x} at offset {exc.start})"


# --- fields --------------------------------------------------------------------------------


def _first(found: list[Found]) -> Taken:
    """The first value of ``found`` that is not empty as plain text."""
    for item in found:
        value = plain(item.value)
        if value:
            return Taken(value, item.origin)
    return Taken()


def _absolute(raw: str, base: str) -> str | None:
    """``raw`` resolved against ``base`` when it is an http(s) URL then."""
    try:
        joined = urllib.parse.urljoin(base, raw.strip())
        parts = urllib.parse.urlsplit(joined)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in joined:
        return None
    return joined


def _base(meta: PageMeta, url: str | None, site_url: str) -> str:
    """What relative URLs of the page resolve against: the URL it was
    fetched from (and its ``<base href>``), else the first absolute URL
    the page gives for itself, else the site's URL."""
    if url:
        return _absolute(meta.base, url) or url if meta.base else url
    for found in meta.url:
        absolute = _absolute(found.value, "http://x.invalid/")
        if absolute and not absolute.startswith("http://x.invalid/"):
            return absolute
    return site_url.rstrip("/") + "/"


def _address(
    reading: PageReading, meta: PageMeta, base: str, url: str | None, path: Path | None
) -> None:
    for found in meta.url:
        absolute = _absolute(found.value, base)
        if absolute:
            reading.url = Taken(absolute, found.origin)
            break
        reading.url.notes.append(f"{found.origin} {found.value!r} is not an http(s) URL")
    else:
        if url:
            reading.url = Taken(url, "the URL it was fetched from")
    if reading.url.value:
        reading.id = url_id(reading.url.value)
    elif path is not None:
        reading.id = nfc(path.stem)
    else:
        reading.id = ""


def url_id(url: str) -> str:
    """An article's id from its URL: percent-escapes of UTF-8 decoded (an
    Arabic slug written as %d9%85... is 6 times longer than itself, and
    the store's keys hold 255 characters); a URL still longer than that
    is identified by its sha256."""
    try:
        readable = urllib.parse.unquote(url, errors="strict")
    except UnicodeDecodeError:
        readable = url
    if not readable.isprintable():  # an escaped control character or newline
        readable = url
    readable = nfc(readable)
    if len(readable) > MAX_KEY_CHARS:
        return "sha256:" + hashlib.sha256(url.encode("utf-8")).hexdigest()
    return readable


def _title(reading: PageReading, meta: PageMeta, root: HtmlElement) -> None:
    site = meta.site_name
    for found in meta.title:
        value = plain(found.value)
        if found.origin == "meta og:title" and site:
            value = _without_site(value, site)
        if value:
            reading.title = Taken(value, found.origin)
            return
    headings = [plain(h.text_content()) for h in root.iter("h1")]
    headings = [h for h in headings if h]
    if len(headings) == 1:
        reading.title = Taken(headings[0], "the page's <h1>")
        return
    titles = root.xpath("//title")
    if titles:
        whole = plain(titles[0].text_content())
        parts = _TITLE_PARTS.split(whole)
        value = _without_site(whole, site) if site else max(parts, key=len)
        if value:
            reading.title = Taken(value, "<title>")


def _without_site(title: str, site: str) -> str:
    """«Headline - Site» -> «Headline» when the site's name is ``site``."""
    parts = _TITLE_PARTS.split(title)
    if len(parts) > 1 and line_key(parts[-1]) == line_key(site):
        return " - ".join(parts[:-1]) if len(parts) > 2 else parts[0]
    return title


def _error_page(title: str, root: HtmlElement) -> str | None:
    texts = [title, *(h.text_content() for h in root.iter("h1"))]
    for text in texts:
        if _ERROR_TITLES.search(line_key(collapse_ws(text))):
            return f"not an article: an error page («{collapse_ws(text)[:80]}»)"
    return None


def _dates(reading: PageReading, meta: PageMeta, root: HtmlElement, ctx: FileContext) -> None:
    published, origin = _first_date(meta.published, reading.published_from, ctx)
    if published is None:
        published, origin = _date_line(root, reading.title.value or "", ctx)
    if published is None:
        published, origin = ctx.mtime, MTIME
    reading.published = published.astimezone(UTC)
    reading.published_from.origin = origin
    updated, origin = _first_date(meta.updated, reading.updated_from, ctx)
    if updated is not None:
        if updated < published:
            reading.updated_from.notes.append(
                f"{origin} {updated.isoformat()} is before the publication: not used"
            )
        else:
            reading.updated = updated.astimezone(UTC)
            reading.updated_from.origin = origin


def _parse_date(value: str, ctx: FileContext) -> datetime:
    """An ISO 8601 date (a zone-less one in the site's zone), else a date as
    pages write them («22/11/2026 11:30», «الأحد، 22 نوفمبر 2026»)."""
    try:
        return parse_record_date(value, ctx.settings.tz)
    except DateError as iso_error:
        found = find_page_date(value, ctx.settings.tz)
        if found is None:
            raise iso_error from None
        return found.value


def _first_date(found: list[Found], taken: Taken, ctx: FileContext) -> tuple[datetime | None, str]:
    for item in found:
        try:
            value = _parse_date(item.value, ctx)
            taken.value = item.value
            return value, item.origin
        except DateError as exc:
            taken.notes.append(f"{item.origin}: {exc}")
    return None, ""


def _date_line(root: HtmlElement, title: str, ctx: FileContext) -> tuple[datetime | None, str]:
    """The first date line after the headline (a ``<time datetime>`` or a
    short text block that is a date), within the blocks that follow it."""
    title_key = line_key(title)
    seen_title = False
    lines = 0
    for element, text in text_blocks(root):
        if not seen_title:
            seen_title = line_key(text) == title_key
            continue
        lines += 1
        if lines > 12:
            break
        for time in element.iter("time"):
            stamp = time.get("datetime")
            if stamp:
                try:
                    return parse_record_date(stamp, ctx.settings.tz), "<time> under the title"
                except DateError:
                    pass
        try:
            found = find_page_date(text, ctx.settings.tz, ctx.mtime)
        except DateError:
            continue
        if found is not None:
            return found.value, f"the date line under the title «{text[:60]}»"
    return None, ""


def _image(meta: PageMeta, root: HtmlElement, base: str, body: HtmlElement) -> Image | None:
    """The first image the metadata names, its size and alt text filled
    from another description of the same picture (og:image:*, the page's
    own ``<img>``); else the first picture of the body."""
    chosen: Image | None = None
    for image in meta.images:
        url = _absolute(image.url, base)
        if url:
            chosen = Image(url, image.origin, image.width, image.height, image.alt)
            break
    if chosen is None:
        for img in body.iter("img"):
            url = _absolute(img.get("src") or "", base)
            if url:
                chosen = Image(url, "body: its first picture")
                break
    if chosen is None:
        return None
    width, height, alt = chosen.width, chosen.height, chosen.alt
    for other in meta.images:
        if _absolute(other.url, base) == chosen.url:
            width, height = width or other.width, height or other.height
            alt = alt or other.alt
    for img in root.iter("img"):
        if width and height and alt:
            break
        src = img.get("src")
        if src and _absolute(src, base) == chosen.url:
            width = width or _int(img.get("width"))
            height = height or _int(img.get("height"))
            alt = alt or (collapse_ws(img.get("alt") or "") or None)
    return Image(chosen.url, chosen.origin, width, height, alt)


def _int(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        number = int(value.strip())
        return number if 0 < number < 100_000 else None
    return None


# --- the page's text blocks ----------------------------------------------------------------

_INLINE = frozenset(
    {
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "br",
        "cite",
        "code",
        "em",
        "font",
        "i",
        "img",
        "kbd",
        "label",
        "mark",
        "q",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "time",
        "u",
        "wbr",
    }
)
_SKIPPED = frozenset({"script", "style", "noscript", "template", "head", "title", "svg", "math"})


def text_blocks(root: HtmlElement) -> Iterator[tuple[HtmlElement, str]]:
    """Each block of the page with its text (its inline children's included,
    its block children's not), in document order: what a reader sees as
    one line."""
    body = root.find("body")
    if body is None:
        return
    yield from _blocks(body)


def _blocks(element: HtmlElement) -> Iterator[tuple[HtmlElement, str]]:
    own: list[str] = [element.text or ""]
    inner: list[tuple[HtmlElement, str]] = []
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in _SKIPPED or not tag:
            own.append(child.tail or "")
        elif tag in _INLINE:
            own.append(_inline_text(child))
            own.append(child.tail or "")
        else:
            if collapse_ws("".join(own)):
                inner.append((element, collapse_ws("".join(own))))
                own = []
            inner.extend(_blocks(child))
            own.append(child.tail or "")
    text = collapse_ws("".join(own))
    if text:
        inner.append((element, text))
    yield from inner


def _inline_text(element: HtmlElement) -> str:
    parts = [element.text or ""]
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag and tag not in _SKIPPED:
            parts.append(_inline_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def paragraphs_of(content: str) -> list[str]:
    """The text of each block of stored content (for tests and the bench)."""
    return html_paragraphs(content)
