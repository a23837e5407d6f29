"""OPML 2.0, the list of every feed written: http://opml.org/spec2.opml

Every feed outline is type="rss" whatever its format, as the spec says
subscription lists do; ``text`` and ``title`` are the feed's title.
"""

from __future__ import annotations

from collections.abc import Sequence

from feedpub.feeds import writers
from feedpub.feeds.entry import FeedHead
from feedpub.feeds.site import SiteValues


def write_opml(title: str, outlines: Sequence[tuple[str, str, str]]) -> bytes:
    """``outlines``: (text, xmlUrl, htmlUrl)."""
    from lxml import etree  # here: a build that writes no OPML need not load lxml

    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    body = etree.SubElement(root, "body")
    for text, xml_url, html_url in outlines:
        etree.SubElement(
            body, "outline", text=text, title=text, type="rss", xmlUrl=xml_url, htmlUrl=html_url
        )
    data: bytes = etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    return data


def render(site: SiteValues, heads: Sequence[FeedHead]) -> bytes:
    """One outline per feed in ``heads`` and per format, labelled by format."""
    outlines = [
        (f"{head.title} ({writers.get(fmt).label})", head.urls[fmt], head.home)
        for head in heads
        for fmt in site.formats
    ]
    return write_opml(site.title, outlines)
