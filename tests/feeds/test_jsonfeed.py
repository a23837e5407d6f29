"""JSON Feed 1.1: the writer on its own and the documents build.render_feeds makes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feedpub.feeds import jsonfeed
from feedpub.feeds.entry import Category, FeedHead, FeedImage, FeedItem
from feedpub.feeds.urls import public_url
from feedpub.links import page_url
from support.feedfactory import (
    FEEDS_URL,
    PUTIN,
    SITE_URL,
    feeds_config,
    hostile,
    plan_for,
    render,
    sample_articles,
)

WHEN = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
URL = "https://x.org/i.png"


def _item(n: int, **fields: Any) -> FeedItem:
    values: dict[str, Any] = {
        "id": f"https://x.org/{n}",
        "permalink": True,
        "title": f"عنوان {n}",
        "link": f"https://x.org/{n}",
        "summary": "",
        "summary_html": "<p>ملخص</p>",
        "content_html": "<p>نص</p>",
        "published": WHEN,
        "updated": WHEN,
        "author": "",
        "categories": (),
        "capped": False,
        "image": None,
    }
    values.update(fields)
    return FeedItem(**values)


HEAD = FeedHead(
    directory="",
    atom_id="https://x.org/atom.xml",
    title="أخبار",
    subtitle="",
    description="",
    language="ar",
    author="أخبار",
    home="https://x.org/",
    updated=WHEN,
    urls={"json": "https://x.org/feed.json"},
    hub=None,
)


def test_writer_output_is_deterministic_utf8_with_trailing_newline() -> None:
    items = [_item(2), _item(1)]
    data = jsonfeed.WRITER.write(HEAD, items)
    assert data == jsonfeed.WRITER.write(HEAD, items)
    assert data.endswith(b"}\n")
    assert "أخبار".encode() in data  # not \\u escapes
    assert list(json.loads(data)) == sorted(json.loads(data))  # keys in a fixed order
    assert [i["id"] for i in json.loads(data)["items"]] == ["https://x.org/2", "https://x.org/1"]


@pytest.mark.parametrize(
    ("fields", "present", "absent"),
    [
        ({}, set(), {"summary", "authors", "tags", "image", "attachments"}),
        (
            {"summary": "ملخص", "categories": (Category("a", "أ"), Category("c", "C++"))},
            {"summary", "tags"},
            {"authors"},
        ),
        (
            {"author": "سارة", "image": FeedImage(URL, "image/png", 640, 360, "صورة", 48_213)},
            {"authors", "image", "attachments"},
            {"tags"},
        ),
        # Its size unknown: the image, but no attachment with a guessed size.
        (
            {"image": FeedImage(URL, "image/png", None, None, "صورة", None)},
            {"image"},
            {"attachments"},
        ),
    ],
)
def test_optional_item_fields_appear_only_when_set(
    fields: dict[str, object], present: set[str], absent: set[str]
) -> None:
    item = jsonfeed.item_dict(_item(1, **fields))
    assert present <= set(item)
    assert not absent & set(item)
    if "authors" in item:
        assert item["authors"] == [{"name": "سارة"}]
    if "image" in item:
        assert item["image"] == URL
    if "attachments" in item:
        assert item["attachments"] == [
            {"url": URL, "mime_type": "image/png", "size_in_bytes": 48_213}
        ]


def test_an_item_without_content_carries_its_summary_html() -> None:
    item = jsonfeed.item_dict(dataclasses.replace(_item(1), content_html=None))
    assert item["content_html"] == "<p>ملخص</p>"


@pytest.fixture
def documents(tmp_path: Path) -> dict[str, dict[str, object]]:
    cfg = feeds_config(tmp_path / "public", websub_hub="https://hub.example.org/")
    tree = render(plan_for(sample_articles()), cfg)
    return {p: json.loads(d or b"") for p, d in tree.files.items() if p.endswith("feed.json")}


def test_every_json_feed_has_the_required_and_promised_fields(
    documents: dict[str, dict[str, object]],
) -> None:
    assert set(documents) == {
        "feed.json",
        "tag/سياسة/feed.json",
        "tag/بوتين/feed.json",
        "tag/c-net/feed.json",
    }
    for path, doc in documents.items():
        assert doc["version"] == "https://jsonfeed.org/version/1.1"
        assert doc["title"] and doc["language"] == "ar"
        assert doc["feed_url"] == public_url(FEEDS_URL, path)
        assert str(doc["home_page_url"]).startswith(SITE_URL + "/")
        assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.example.org/"}]
        assert doc["authors"] == [{"name": "أخبار المثال"}]
        items = doc["items"]
        assert isinstance(items, list) and items
        for item in items:
            for key in ("id", "title", "content_html", "summary"):
                assert item[key], key
            # its own page, or feedpub's page for it (never the home page)
            assert item["url"].startswith("https://") and item["url"] != SITE_URL + "/"
            if not item["id"].startswith("https://"):
                assert item["url"].startswith(FEEDS_URL + "/articles/")
            if path.startswith("tag/"):
                assert item["tags"]
            for key in ("date_published", "date_modified"):
                assert datetime.fromisoformat(item[key]).utcoffset() is not None  # RFC 3339
            assert item["content_html"].startswith('<div dir="rtl" lang="ar">')
            if "image" in item:
                assert item["image"].startswith(SITE_URL + "/img/")
                # The image's size is not known: no attachment, no guessed size.
                assert "attachments" not in item
                assert item["content_html"].startswith(
                    f'<div dir="rtl" lang="ar"><p><img src="{item["image"]}" alt="'
                )


def test_json_ids_and_urls_match_the_atom_entries(tmp_path: Path) -> None:
    cfg = feeds_config(tmp_path / "public")
    hostile_article = hostile(1, PUTIN)
    tree = render(plan_for([hostile_article]), cfg)
    item = json.loads(tree.files["feed.json"] or b"")["items"][0]
    assert item["id"].startswith("tag:news.example.org,2026:article/")
    assert item["id"].encode() in (tree.files["atom.xml"] or b"")
    assert item["url"] == page_url(FEEDS_URL, hostile_article.id)  # feedpub's page
    assert item["title"] == "<b>عنوان</b> & ]]> C++ / .NET"  # plain text, control char gone
    assert "<script>" in item["content_html"]  # sanitising is ingest's job; we only carry it
    assert item["tags"] == ["بوتين"]
    assert json.loads(tree.files["tag/بوتين/feed.json"] or b"")["feed_url"] == (
        f"{FEEDS_URL}/tag/%D8%A8%D9%88%D8%AA%D9%8A%D9%86/feed.json"
    )
