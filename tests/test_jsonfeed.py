"""JSON Feed 1.1: the writer on its own and the documents feeds.render_feeds makes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from feedfactory import FEEDS_URL, PUTIN, SITE_URL, hostile, make_config, plan_for, sample_articles
from feedpub import feeds
from feedpub.feeds import jsonfeed


def _item(n: int, **fields: Any) -> jsonfeed.JsonItem:
    values: dict[str, Any] = {
        "id": f"https://x.org/{n}",
        "url": f"https://x.org/{n}",
        "title": f"عنوان {n}",
        "content_html": "<p>نص</p>",
        "date_published": "2026-03-01T10:00:00+00:00",
        "date_modified": "2026-03-01T10:05:00+00:00",
    }
    values.update(fields)
    return jsonfeed.JsonItem(**values)


def test_writer_output_is_deterministic_utf8_with_trailing_newline() -> None:
    feed = jsonfeed.JsonFeed(
        title="أخبار",
        home_page_url="https://x.org/",
        feed_url="https://x.org/feed.json",
        language="ar",
        items=[_item(2), _item(1)],
    )
    data = jsonfeed.render(feed)
    assert data == jsonfeed.render(feed)
    assert data.endswith(b"}\n")
    assert "أخبار".encode() in data  # not \\u escapes
    assert list(json.loads(data)) == sorted(json.loads(data))  # keys in a fixed order
    assert [i["id"] for i in json.loads(data)["items"]] == ["https://x.org/2", "https://x.org/1"]


@pytest.mark.parametrize(
    ("fields", "present", "absent"),
    [
        ({}, set(), {"summary", "authors", "tags", "image", "attachments"}),
        ({"summary": "ملخص", "tags": ("أ", "C++")}, {"summary", "tags"}, {"authors"}),
        (
            {
                "authors": ("سارة",),
                "image": "https://x.org/i.png",
                "attachments": (jsonfeed.JsonAttachment("https://x.org/i.png", "image/png"),),
            },
            {"authors", "image", "attachments"},
            {"tags"},
        ),
    ],
)
def test_optional_item_fields_appear_only_when_set(
    fields: dict[str, object], present: set[str], absent: set[str]
) -> None:
    item = _item(1, **fields).as_dict()
    assert present <= set(item)
    assert not absent & set(item)
    if "authors" in item:
        assert item["authors"] == [{"name": "سارة"}]
    if "attachments" in item:
        assert item["attachments"] == [{"url": "https://x.org/i.png", "mime_type": "image/png"}]


@pytest.fixture
def documents(tmp_path: Path) -> dict[str, dict[str, object]]:
    cfg = make_config(tmp_path / "public", websub_hub="https://hub.example.org/")
    tree = feeds.render_feeds(plan_for(sample_articles()), cfg)
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
        assert doc["feed_url"] == feeds.public_url(make_config(Path("x")), path)
        assert str(doc["home_page_url"]).startswith(SITE_URL + "/")
        assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.example.org/"}]
        assert doc["authors"] == [{"name": "أخبار المثال"}]
        items = doc["items"]
        assert isinstance(items, list) and items
        for item in items:
            for key in ("id", "title", "content_html", "summary"):
                assert item[key], key
            # an article with no page has no url (not the home page's)
            assert item.get("url", "").startswith("https://") == item["id"].startswith("https://")
            if path.startswith("tag/"):
                assert item["tags"]
            for key in ("date_published", "date_modified"):
                assert datetime.fromisoformat(item[key]).utcoffset() is not None  # RFC 3339
            assert item["content_html"].startswith('<div dir="rtl" lang="ar">')
            if "image" in item:
                assert item["attachments"][0]["url"] == item["image"]
                assert item["attachments"][0]["mime_type"].startswith("image/")


def test_json_ids_and_urls_match_the_atom_entries(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "public")
    tree = feeds.render_feeds(plan_for([hostile(1, PUTIN)]), cfg)
    item = json.loads(tree.files["feed.json"] or b"")["items"][0]
    assert item["id"].startswith("tag:news.example.org,2026:article/")
    assert item["id"].encode() in (tree.files["atom.xml"] or b"")
    assert "url" not in item  # no page of its own: not the home page either
    assert item["title"] == "<b>عنوان</b> & ]]> C++ / .NET"  # plain text, control char gone
    assert "<script>" in item["content_html"]  # sanitising is ingest's job; we only carry it
    assert item["tags"] == ["بوتين"]
    assert json.loads(tree.files["tag/بوتين/feed.json"] or b"")["feed_url"] == (
        f"{FEEDS_URL}/tag/%D8%A8%D9%88%D8%AA%D9%8A%D9%86/feed.json"
    )
