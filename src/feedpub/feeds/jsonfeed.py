"""JSON Feed 1.1, by hand (feedgen has none): https://www.jsonfeed.org/version/1.1/

Reads the same FeedItem and FeedHead as the Atom and RSS writers. Titles,
summaries, tags and names are plain text, as the spec says (HTML is not
allowed in them), so they are written as they are. Output is deterministic
(sorted keys, compact, UTF-8 text unescaped, trailing newline), so two
builds of the same data are byte-identical. JSON Feed has no archive
mechanism (RFC 5005 is Atom's and RSS's), so it has no archive pages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from feedpub.feeds.entry import Category, FeedHead, FeedItem, Writer

VERSION = "https://jsonfeed.org/version/1.1"
MEDIA_TYPE = "application/feed+json"


def item_dict(item: FeedItem, feed_tag: Category | None = None) -> dict[str, object]:
    """One item. ``content_html`` is always there (the spec allows
    ``content_text`` instead): every item has HTML, its summary's at least."""
    out: dict[str, object] = {
        "id": item.id,
        "title": item.title,
        "content_html": item.content_html or item.summary_html,
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
    }
    if item.link:  # its own URL, else its page under feeds.url (never the home page)
        out["url"] = item.link
    if item.summary:
        out["summary"] = item.summary
    if item.author:
        out["authors"] = [{"name": item.author}]
    tags = list(dict.fromkeys(c.label for c in item.categories_in(feed_tag)))
    if tags:
        out["tags"] = tags
    image = item.image
    if image is not None:
        out["image"] = image.url
        enclosure = image.enclosure()
        if enclosure is not None:  # where RSS and Atom have one
            media_type, length = enclosure
            out["attachments"] = [
                {"url": image.url, "mime_type": media_type, "size_in_bytes": length}
            ]
    return out


# One encoder for every call: json.dumps makes a new one per call when given
# any option, and a first build encodes thousands of entries.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _dumps(value: object) -> str:
    return _ENCODER.encode(value)


def entries(pairs: Sequence[tuple[FeedItem, FeedHead]]) -> list[bytes]:
    """Each item as it prints in the feed of its head (compact JSON, the
    same encoder settings as the document, so splicing equals dumping)."""
    return [_dumps(item_dict(item, head.tag)).encode("utf-8") for item, head in pairs]


# The items key as the document prints it empty: only the key can print so
# (a quote inside any string value is escaped).
_NO_ITEMS = '"items":[]'


def document(head: FeedHead, items: Sequence[bytes]) -> bytes:
    """The feed document of ``head`` holding ``items`` (from ``entries``)."""
    document: dict[str, object] = {
        "version": VERSION,
        "title": head.title,
        "home_page_url": head.home,
        "feed_url": head.urls["json"],
        "language": head.language,
        "items": [],
    }
    if head.description:
        document["description"] = head.description
    document["authors"] = [{"name": head.author}]
    if head.hub:
        document["hubs"] = [{"type": "WebSub", "url": head.hub}]
    # No indent: indented output goes through json's pure-Python encoder,
    # about ten times slower, and a 2k-tag site writes thousands of these.
    before, after = _dumps(document).encode("utf-8").split(_NO_ITEMS.encode(), 1)
    return b"".join([before, b'"items":[', b",".join(items), b"]", after, b"\n"])


WRITER = Writer(
    name="json",
    filename="feed.json",
    media_type=MEDIA_TYPE,
    label="JSON Feed",
    archivable=False,
    entries=entries,
    document=document,
)
