"""JSON Feed 1.1 writer, by hand (feedgen has none).

Spec: https://www.jsonfeed.org/version/1.1/

Values arrive ready to print (absolute, percent-encoded URLs; RFC 3339 dates;
direction-wrapped HTML): ``feeds`` prepares each article once per build and
hands the same ``JsonItem`` to every feed holding it. Output is deterministic
(sorted keys, compact, UTF-8 text unescaped, trailing newline), so two
builds of the same data are byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

VERSION = "https://jsonfeed.org/version/1.1"
MEDIA_TYPE = "application/feed+json"


@dataclass(frozen=True)
class JsonAttachment:
    url: str
    mime_type: str
    size_in_bytes: int | None = None  # unknown sizes are left out, not guessed


@dataclass(frozen=True)
class JsonItem:
    """One item. ``content_html`` is required here although the spec allows
    ``content_text`` instead: every feedpub item has HTML (or summary HTML)."""

    id: str
    url: str | None  # optional in the spec: an article with no page has none
    title: str
    content_html: str
    date_published: str
    date_modified: str
    summary: str = ""
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    image: str | None = None
    attachments: tuple[JsonAttachment, ...] = ()
    language: str | None = None

    def as_dict(self) -> dict[str, object]:
        item: dict[str, object] = {
            "id": self.id,
            "title": self.title,
            "content_html": self.content_html,
            "date_published": self.date_published,
            "date_modified": self.date_modified,
        }
        if self.url:
            item["url"] = self.url
        if self.summary:
            item["summary"] = self.summary
        if self.authors:
            item["authors"] = [{"name": name} for name in self.authors]
        if self.tags:
            item["tags"] = list(self.tags)
        if self.image:
            item["image"] = self.image
        if self.attachments:
            item["attachments"] = [_attachment(a) for a in self.attachments]
        if self.language:
            item["language"] = self.language
        return item


def _attachment(attachment: JsonAttachment) -> dict[str, object]:
    out: dict[str, object] = {"url": attachment.url, "mime_type": attachment.mime_type}
    if attachment.size_in_bytes is not None:
        out["size_in_bytes"] = attachment.size_in_bytes
    return out


@dataclass(frozen=True)
class JsonFeed:
    title: str
    home_page_url: str
    feed_url: str
    language: str
    items: Sequence[JsonItem]
    description: str = ""
    authors: tuple[str, ...] = ()
    hubs: tuple[str, ...] = ()  # WebSub hub URLs


def render(feed: JsonFeed) -> bytes:
    """The feed document as UTF-8 bytes."""
    document: dict[str, object] = {
        "version": VERSION,
        "title": feed.title,
        "home_page_url": feed.home_page_url,
        "feed_url": feed.feed_url,
        "language": feed.language,
        "items": [item.as_dict() for item in feed.items],
    }
    if feed.description:
        document["description"] = feed.description
    if feed.authors:
        document["authors"] = [{"name": name} for name in feed.authors]
    if feed.hubs:
        document["hubs"] = [{"type": "WebSub", "url": url} for url in feed.hubs]
    # No indent: indented output goes through json's pure-Python encoder,
    # about ten times slower, and a 2k-tag site writes thousands of these.
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (text + "\n").encode("utf-8")
