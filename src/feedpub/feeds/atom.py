"""Atom 1.0, RFC 4287: https://www.rfc-editor.org/rfc/rfc4287 (archive
documents: RFC 5005, https://www.rfc-editor.org/rfc/rfc5005).

Printed by feedgen 0.9.0 through its public API only: setters on
``FeedGenerator`` and ``FeedEntry``, feedgen's Media RSS extension for the
image (``media:content`` and ``media:thumbnail``,
https://www.rssboard.org/media-rss, which Feedly and others read in Atom
too), and extensions registered with ``register_extension`` for the two
things those setters cannot say: the RFC 5005 ``fh:archive`` marker, and
``type="html"`` on a title (feedgen writes every title as text). feedgen
1.0.0 drops rel/type/length from entry links (lkiesow/python-feedgen#135,
#143), so the version stays pinned.

A document is printed as its empty head up to ``</feed>``, then the
entries' bytes (each printed once per article version, by ``entries``),
then ``</feed>``: feedgen appends entries after every other child of
``<feed>``, its extensions' included, so that is byte for byte what feedgen
prints with the entries added (tests/feeds/test_atom.py).
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from typing import Any

# feedgen's package holds its version alone; its printers (with lxml and
# dateutil) are imported where an entry or document is printed, so a build
# with nothing to print (a no-op) never loads them.
import feedgen.version

from feedpub.feeds.entry import (
    EMPTY_FEED_UPDATED,
    Category,
    FeedHead,
    FeedImage,
    FeedItem,
    Writer,
    title_is_markup,
)

MEDIA_TYPE = "application/atom+xml"
FEEDGEN_VERSION: str = feedgen.version.version_str
FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005


@functools.cache
def _extensions() -> tuple[type, type]:
    """feedpub's feedgen extensions: (feed level, entry level)."""
    from feedgen.ext.base import BaseEntryExtension, BaseExtension
    from lxml import etree

    class FeedExtras(BaseExtension):  # type: ignore[misc]
        """Feed level: fh:archive on archive pages, type="html" on a markup title."""

        def __init__(self) -> None:
            self.archived = False
            self.html_title = False

        def extend_ns(self) -> dict[str, str]:
            return {"fh": FH_NS} if self.archived else {}

        def extend_atom(self, feed: Any) -> Any:
            if self.html_title:
                feed.find("title").set("type", "html")
            if self.archived:
                etree.SubElement(feed, f"{{{FH_NS}}}archive")
            return feed

    class HtmlTitle(BaseEntryExtension):  # type: ignore[misc]
        """Entry level: the title is escaped HTML (see ``_title``)."""

        def extend_atom(self, entry: Any) -> Any:
            entry.find("title").set("type", "html")
            return entry

    return FeedExtras, HtmlTitle


def _title(text: str) -> tuple[str, bool]:
    """The value to print and whether it is HTML. Atom text constructs are
    plain text by default, but many readers render titles as HTML anyway;
    a title with "<" goes as type="html", escaped, which both read as the
    literal text. Other titles stay type text (the attribute left out)."""
    if title_is_markup(text):
        return html.escape(text, quote=False), True
    return text, False


def document(head: FeedHead, entries: Sequence[bytes]) -> bytes:
    """The Atom document of ``head`` with ``entries`` (from ``entries``) in it."""
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id(head.atom_id)
    title, html_title = _title(head.title)
    fg.title(title)
    if head.subtitle:
        fg.subtitle(head.subtitle)
    fg.language(head.language)  # xml:lang
    fg.author(name=head.author)  # RFC 4287: entries without an author inherit it
    fg.updated(head.updated)  # feedgen's default is now()
    fg.generator("feedpub")  # no version: an upgrade alone must not change the bytes
    links = [{"href": head.urls["atom"], "rel": "self", "type": MEDIA_TYPE}]
    if head.hub:
        links.append({"href": head.hub, "rel": "hub"})
    links += [{"href": h.urls["atom"], "rel": h.rel, "type": MEDIA_TYPE} for h in head.history]
    links.append({"href": head.home, "rel": "alternate", "type": "text/html"})
    fg.link(links)  # printed in this order
    # Declared on <feed> of every document, as in ``entries``, so a spliced
    # entry's media: elements never redeclare it.
    fg.load_extension("media", atom=True, rss=False)
    if head.archived or html_title:
        fg.register_extension("feedpub", _extensions()[0], None, atom=True, rss=False)
        fg.feedpub.archived = head.archived
        fg.feedpub.html_title = html_title
    data: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return splice(data, _FEED_CLOSE, entries)


def entries(pairs: Sequence[tuple[FeedItem, FeedHead]]) -> list[bytes]:
    """Each item's ``<entry>`` as it prints in the feed of its head, with
    the indentation and trailing newline of a child of ``<feed>``."""
    if not pairs:
        return []
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id("urn:feedpub:entries")
    fg.title("entries")
    fg.updated(EMPTY_FEED_UPDATED)
    fg.load_extension("media", atom=True, rss=False)
    for item, head in pairs:
        fg.add_entry(_make_entry(item, item.categories_in(head.tag)), order="append")
    data: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return cut(data, _ENTRY_OPEN, _ENTRY_CLOSE, _FEED_CLOSE, len(pairs))


_FEED_CLOSE = b"</feed>\n"
_ENTRY_OPEN = b"\n  <entry>\n"
_ENTRY_CLOSE = b"  </entry>\n"


def splice(head: bytes, close: bytes, entries: Sequence[bytes]) -> bytes:
    """``head`` (a pretty-printed document without entries, ending in
    ``close``) with ``entries`` inserted before ``close``."""
    if not head.endswith(close):
        raise ValueError(f"feedgen printed a document not ending in {close!r}")
    if not entries:
        return head
    return b"".join([head[: -len(close)], *entries, close])


def cut(data: bytes, first: bytes, end: bytes, close: bytes, count: int) -> list[bytes]:
    """The ``count`` entries of a pretty-printed document, each from its
    indented start tag to its end tag's newline. Markup in text and
    attributes is escaped, so an entry's end tag only ever ends an entry."""
    start = data.find(first)
    if start < 0 or not data.endswith(close):
        raise ValueError("feedgen printed entries in an unexpected layout")
    parts = data[start + 1 : -len(close)].split(end)
    if len(parts) != count + 1 or parts[-1]:
        raise ValueError(f"expected {count} entries, cut {len(parts) - 1}")
    return [part + end for part in parts[:-1]]


def _make_entry(item: FeedItem, categories: Sequence[Category]) -> Any:
    from feedgen.entry import FeedEntry

    entry = FeedEntry()
    entry.id(item.id)
    title, html_title = _title(item.title)
    entry.title(title)
    if html_title:
        entry.register_extension("feedpub_title", _extensions()[1], atom=True, rss=False)
    links = []
    if item.link:
        links.append({"href": item.link, "rel": "alternate", "type": "text/html"})
    image = item.image
    enclosure = image.enclosure() if image is not None else None
    if image is not None and enclosure is not None:
        media_type, length = enclosure
        links.append(
            {"href": image.url, "rel": "enclosure", "type": media_type, "length": str(length)}
        )
    if links:
        entry.link(links)
    entry.summary(item.summary_html, type="html")
    # RFC 4287 4.1.1: an entry with no alternate link must have content.
    content = item.content_html or (None if item.link else item.summary_html)
    if content:
        entry.content(content, type="html")  # not "CDATA": feedgen prints an invalid type then
    entry.published(item.published)
    entry.updated(item.updated)
    if item.author:  # else inherited from the feed's author (RFC 4287 4.2.1)
        entry.author(name=item.author)
    if categories:
        entry.category([{"term": c.term, "label": c.label} for c in categories])
    if image is not None:
        add_media(entry, image)
    return entry


def add_media(entry: Any, image: FeedImage) -> None:
    """``media:content`` and ``media:thumbnail`` of ``image`` on ``entry``
    (both: some readers ignore a lone thumbnail, FreshRSS #5925), at the
    entry's level rather than in a ``media:group``."""
    from feedgen.ext.media import MediaEntryExtension

    entry.register_extension("media", MediaEntryExtension, atom=True, rss=True)
    size = {
        name: str(value)
        for name, value in (("width", image.width), ("height", image.height))
        if value is not None
    }
    content = {"url": image.url, "medium": "image", **size}
    if image.media_type:
        content["type"] = image.media_type
    if image.length is not None:
        content["fileSize"] = str(image.length)
    entry.media.content(content, group=None)
    entry.media.thumbnail({"url": image.url, **size}, group=None)


WRITER = Writer(
    name="atom",
    filename="atom.xml",
    media_type=MEDIA_TYPE,
    label="Atom",
    archivable=True,
    entries=entries,
    document=document,
    engine=FEEDGEN_VERSION,
)
