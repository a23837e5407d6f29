"""Atom 1.0, RFC 4287: https://www.rfc-editor.org/rfc/rfc4287 (archive
documents: RFC 5005, https://www.rfc-editor.org/rfc/rfc5005).

Printed by feedgen 0.9.0 through its public API only: setters on
``FeedGenerator`` and ``FeedEntry``, and extensions registered with
``register_extension`` for the two things those setters cannot say: the
RFC 5005 ``fh:archive`` marker, and ``type="html"`` on a title (feedgen
writes every title as text). feedgen 1.0.0 drops rel/type/length from entry
links (lkiesow/python-feedgen#135, #143), so the version stays pinned.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import feedgen.version
from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedpub.feeds.entry import Category, FeedHead, FeedItem, title_is_markup
from feedpub.feeds.urls import ATOM_TYPE

FEEDGEN_VERSION: str = feedgen.version.version_str
FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005


class _FeedExtras(BaseExtension):  # type: ignore[misc]
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


class _HtmlTitle(BaseEntryExtension):  # type: ignore[misc]
    """Entry level: the title is escaped HTML (see ``_title``)."""

    def extend_atom(self, entry: Any) -> Any:
        entry.find("title").set("type", "html")
        return entry


def _title(text: str) -> tuple[str, bool]:
    """The value to print and whether it is HTML. Atom text constructs are
    plain text by default, but many readers render titles as HTML anyway;
    a title with "<" goes as type="html", escaped, which both read as the
    literal text. Other titles stay type text (the attribute left out)."""
    if title_is_markup(text):
        return html.escape(text, quote=False), True
    return text, False


class AtomWriter:
    """Writes Atom documents; keep one per build: an article's entry is
    made once and printed in every feed holding it."""

    def __init__(self) -> None:
        self._entries: dict[tuple[FeedItem, Category | None], Any] = {}

    def write(self, head: FeedHead, items: Sequence[FeedItem]) -> bytes:
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
        links = [{"href": head.urls["atom"], "rel": "self", "type": ATOM_TYPE}]
        if head.hub:
            links.append({"href": head.hub, "rel": "hub"})
        links += [{"href": h.urls["atom"], "rel": h.rel, "type": ATOM_TYPE} for h in head.history]
        links.append({"href": head.home, "rel": "alternate", "type": "text/html"})
        fg.link(links)  # printed in this order
        if head.archived or html_title:
            fg.register_extension("feedpub", _FeedExtras, None, atom=True, rss=False)
            fg.feedpub.archived = head.archived
            fg.feedpub.html_title = html_title
        for item in items:
            # feedgen prepends by default; the list is already newest first.
            fg.add_entry(self._entry(item, head.tag), order="append")
        data: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
        return data

    def _entry(self, item: FeedItem, feed_tag: Category | None) -> Any:
        key = (item, feed_tag if item.capped else None)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _make_entry(item, item.categories_in(feed_tag))
        return entry


def _make_entry(item: FeedItem, categories: Sequence[Category]) -> Any:
    entry = FeedEntry()
    entry.id(item.id)
    title, html_title = _title(item.title)
    entry.title(title)
    if html_title:
        entry.register_extension("feedpub_title", _HtmlTitle, atom=True, rss=False)
    links = []
    if item.link:
        links.append({"href": item.link, "rel": "alternate", "type": "text/html"})
    if item.enclosure:
        enclosure = item.enclosure
        links.append(
            {
                "href": enclosure.url,
                "rel": "enclosure",
                "type": enclosure.media_type,
                "length": str(enclosure.length),
            }
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
    return entry
