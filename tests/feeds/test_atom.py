"""Atom documents (RFC 4287) as the atom writer writes them."""

from __future__ import annotations

import re
from datetime import datetime

from lxml import etree

from feedpub.config import FeedsConfig
from feedpub.feeds.incremental import RenderedTree
from support.feedfactory import (
    article,
    plan_for,
    render,
)

A = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


def _xml(data: bytes | None) -> etree._Element:
    assert data is not None
    return etree.fromstring(data)


def test_atom_has_every_element_rfc4287_requires(tree: RenderedTree) -> None:
    for path in ("atom.xml", "tag/بوتين/atom.xml"):
        feed = _xml(tree.files[path])
        assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "ar"
        for name in ("id", "title", "updated"):
            assert feed.findtext(f"{A}{name}"), name
        assert feed.findtext(f"{A}author/{A}name") == "أخبار المثال"
        assert RFC3339.match(feed.findtext(f"{A}updated") or "")
        for entry in feed.iter(f"{A}entry"):
            for name in ("id", "title", "updated", "published"):
                assert entry.findtext(f"{A}{name}"), name
            assert RFC3339.match(entry.findtext(f"{A}updated") or "")
            assert RFC3339.match(entry.findtext(f"{A}published") or "")
            content = entry.find(f"{A}content")
            assert content is not None and content.get("type") == "html"  # not feedgen's CDATA
            generator = feed.find(f"{A}generator")
            assert generator is not None and generator.text == "feedpub"
            assert generator.get("version") is None


def test_feedgen_090_keeps_rel_type_and_length_on_atom_entry_links(tree: RenderedTree) -> None:
    """feedgen 1.0.0 drops them (lkiesow/python-feedgen#135, #143)."""
    feed = _xml(tree.files["atom.xml"])
    entries = list(feed.iter(f"{A}entry"))
    assert entries
    for entry in entries:
        links = entry.findall(f"{A}link")
        # its own URL or feedpub's page for it: one alternate link each
        assert [link.get("rel") for link in links].count("alternate") == 1
        # No enclosure: the sample images' sizes are unknown (test_images.py).
        assert {link.get("rel") for link in links} == {"alternate"}
        assert all(link.get("type") == "text/html" for link in links)


def test_each_feed_has_its_own_atom_id_and_self_link(tree: RenderedTree) -> None:
    atom_paths = [p for p in tree.files if p.endswith("atom.xml")]
    ids = {_xml(tree.files[p]).findtext(f"{A}id") for p in atom_paths}
    assert len(ids) == len(atom_paths) == 4


def test_entry_dates_keep_their_zone(cfg: FeedsConfig) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 3, 1, 10, 0, tzinfo=ZoneInfo("Asia/Damascus"))
    tree = render(plan_for([article(1, published=local, updated=local)]), cfg)
    entry = _xml(tree.files["atom.xml"]).find(f"{A}entry")
    assert entry is not None
    assert entry.findtext(f"{A}published") == "2026-03-01T10:00:00+03:00"
