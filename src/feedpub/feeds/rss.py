"""RSS 2.0: https://www.rssboard.org/rss-specification, with the RSS Advisory
Board's profile (https://www.rssboard.org/rss-profile): ``atom:link
rel="self"``, names in ``dc:creator`` (``author`` must be an email address),
the full HTML in ``content:encoded`` and the summary in ``description``.

Printed by feedgen 0.9.0 through its public API only. feedgen takes the
channel ``<link>`` from whichever feed link was set last, so this writer
gives it exactly one (the HTML page) and writes every ``atom:link`` (self,
hub, RFC 5005 relations) and ``fh:archive`` itself, in an extension
registered with ``register_extension``. The image: Media RSS
(https://www.rssboard.org/media-rss) through feedgen's extension, as in
atom.py, and an ``<enclosure>`` only when its length is known.

A document is the channel printed by feedgen with the items' bytes spliced
in before ``</channel>`` (feedgen appends items after every other child,
its extensions' included), as in atom.py.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from typing import Any

from feedpub.feeds.atom import FEEDGEN_VERSION, FH_NS, add_media, cut, splice
from feedpub.feeds.entry import (
    EMPTY_FEED_UPDATED,
    Category,
    FeedHead,
    FeedItem,
    Writer,
    title_is_markup,
)

MEDIA_TYPE = "application/rss+xml"
ATOM_NS = "http://www.w3.org/2005/Atom"


@functools.cache
def _channel_links() -> type:
    """feedpub's channel-level feedgen extension (imported when a document
    is printed, as in ``atom``)."""
    from feedgen.ext.base import BaseExtension
    from lxml import etree

    class ChannelLinks(BaseExtension):  # type: ignore[misc]
        """The channel's atom:link elements and fh:archive."""

        def __init__(self) -> None:
            self.self_url = ""
            self.links: list[tuple[str, str, str | None]] = []  # rel, href, type
            self.archived = False

        def extend_ns(self) -> dict[str, str]:
            return {"fh": FH_NS} if self.archived else {}

        def extend_rss(self, feed: Any) -> Any:
            channel = feed[0]
            # self beside the required elements, where the profile's examples have it
            link = etree.Element(
                f"{{{ATOM_NS}}}link", href=self.self_url, rel="self", type=MEDIA_TYPE
            )
            channel.insert(channel.index(channel.find("description")) + 1, link)
            for rel, href, media_type in self.links:
                extra = etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=href, rel=rel)
                if media_type:
                    extra.set("type", media_type)
            if self.archived:
                etree.SubElement(channel, f"{{{FH_NS}}}archive")
            return feed

    return ChannelLinks


def _title(text: str) -> str:
    """RSS titles are plain text by the profile, yet most readers render them
    as HTML: a title with "<" is printed escaped, which such readers show as
    the literal text (and feedparser reads as HTML showing that text)."""
    return html.escape(text, quote=False) if title_is_markup(text) else text


def document(head: FeedHead, entries: Sequence[bytes]) -> bytes:
    """The RSS document of ``head`` with ``entries`` (from ``entries``) in it."""
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    # The order of extensions is the order of the namespace declarations.
    if head.archived:
        _channel(fg, head)
    fg.load_extension("dc", atom=False, rss=True)
    fg.load_extension("media", atom=False, rss=True)  # as in ``entries``: never redeclared
    if not head.archived:
        _channel(fg, head)
    fg.title(_title(head.title))
    fg.description(head.subtitle)
    fg.language(head.language)
    fg.updated(head.updated)  # lastBuildDate; feedgen's default is now()
    fg.generator("feedpub")  # no version: an upgrade alone must not change the bytes
    fg.link(href=head.home, rel="alternate", type="text/html")  # the only one: <link>
    data: bytes = fg.rss_str(pretty=True, encoding="UTF-8")
    return splice(data, _CHANNEL_CLOSE, entries)


def entries(pairs: Sequence[tuple[FeedItem, FeedHead]]) -> list[bytes]:
    """Each item's ``<item>`` as it prints in the feed of its head (its
    categories there, the head's author standing in for a missing one),
    indented as a child of ``<channel>``. The dc and content namespaces
    are declared on ``<rss>`` in every document, so no item redeclares
    them."""
    if not pairs:
        return []
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.load_extension("media", atom=False, rss=True)
    fg.title("items")
    fg.description("items")
    fg.link(href="urn:feedpub:items")
    fg.updated(EMPTY_FEED_UPDATED)
    for item, head in pairs:
        entry = _make_item(item, item.categories_in(head.tag), item.author or head.author)
        fg.add_entry(entry, order="append")
    data: bytes = fg.rss_str(pretty=True, encoding="UTF-8")
    return cut(data, _ITEM_OPEN, _ITEM_CLOSE, _CHANNEL_CLOSE, len(pairs))


def _channel(fg: Any, head: FeedHead) -> None:
    fg.register_extension("feedpub", _channel_links(), None, atom=False, rss=True)
    fg.feedpub.self_url = head.urls["rss"]
    fg.feedpub.links = ([("hub", head.hub, None)] if head.hub else []) + [
        (h.rel, h.urls["rss"], MEDIA_TYPE) for h in head.history
    ]
    fg.feedpub.archived = head.archived


_CHANNEL_CLOSE = b"  </channel>\n</rss>\n"
_ITEM_OPEN = b"\n    <item>\n"
_ITEM_CLOSE = b"    </item>\n"


def _make_item(item: FeedItem, categories: Sequence[Category], creator: str) -> Any:
    from feedgen.entry import FeedEntry
    from feedgen.ext.dc import DcEntryExtension

    entry = FeedEntry()
    entry.guid(item.id, permalink=item.permalink)
    entry.title(_title(item.title))
    if item.link:
        entry.link(href=item.link, rel="alternate")  # the item's <link>
    image = item.image
    enclosure = image.enclosure() if image is not None else None
    if image is not None and enclosure is not None:
        media_type, length = enclosure
        entry.enclosure(image.url, str(length), media_type)
    entry.description(item.summary_html)
    if item.content_html:
        entry.content(item.content_html, type="html")  # content:encoded, escaped, not CDATA
    entry.published(item.published)  # pubDate
    if categories:
        entry.category([{"term": c.term, "label": c.label} for c in categories])
    entry.register_extension("dc", DcEntryExtension, atom=False, rss=True)
    entry.dc.dc_creator(creator)
    if image is not None:
        add_media(entry, image)
    return entry


WRITER = Writer(
    name="rss",
    filename="rss.xml",
    media_type=MEDIA_TYPE,
    label="RSS",
    archivable=True,
    entries=entries,
    document=document,
    engine=FEEDGEN_VERSION,
    entries_show_feed_author=True,  # dc:creator
)
