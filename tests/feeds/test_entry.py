"""The neutral entry model: what every format prints of an article's title
and tags (the rest is checked through the documents in test_build.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import feedparser
import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from feedpub.feeds.entry import _PLAIN_URI, MAX_CATEGORIES, make_item
from feedpub.feeds.site import SiteValues
from feedpub.model import Tag
from feedpub.text.sanitize import strip_tags
from feedpub.text.uri import iri_to_uri
from support.feedfactory import PUTIN, SITE, article, feeds_config, plan_for, render

A = "{http://www.w3.org/2005/Atom}"
FEED_FILES = ("atom.xml", "rss.xml", "feed.json")


def _as_html(fragment: str) -> tuple[str, int]:
    """What a reader that renders ``fragment`` as HTML shows: its text, and
    how many elements (markup) it found in it."""
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    return root.text_content(), len(root) + sum(1 for _ in root.iterdescendants())


def _shown(detail: feedparser.FeedParserDict) -> str:
    """The text feedparser says a reader shows: HTML rendered, text as is."""
    if detail.type == "text/html":
        text, elements = _as_html(detail.value)
        assert elements == 0, detail.value
        return text
    assert detail.type == "text/plain"
    return str(detail.value)


@pytest.mark.parametrize("title", ["<script>", "<b>عاجل</b> & C++", "1 < 2 > 0", "A & B"])
def test_a_title_with_markup_characters_shows_as_that_text_in_every_format(title: str) -> None:
    # A record's title "&lt;script&gt;" is stored as its plain text "<script>".
    assert strip_tags("&lt;script&gt;") == "<script>"
    tree = render(plan_for([article(1, PUTIN, title=title)]), feeds_config())
    for path in ("atom.xml", "rss.xml", "tag/بوتين/atom.xml", "tag/بوتين/rss.xml"):
        data = tree.files[path]
        assert data is not None
        parsed = feedparser.parse(data)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert _shown(parsed.entries[0].title_detail) == title, path
        # A reader that takes the title as HTML whatever the format says
        # sees the same text and no element.
        first = etree.fromstring(data).find(f"{A}entry" if "atom" in path else "channel/item")
        assert first is not None
        raw = first.find(f"{A}title" if "atom" in path else "title")
        assert raw is not None and raw.text
        if "<" in title:
            assert _as_html(raw.text) == (title, 0), path
        else:  # nothing to misread: printed as plain text, Atom without a type
            assert raw.text == title and raw.get("type") is None
    item = json.loads(tree.files["feed.json"] or b"")["items"][0]
    assert item["title"] == title  # JSON Feed titles are plain text by the spec


def _entry_tags(tree_files: dict[str, bytes | None], directory: str) -> dict[str, list[str]]:
    """Per format, the tag names the first entry of ``directory``'s feed carries."""
    prefix = f"{directory}/" if directory else ""
    atom = etree.fromstring(tree_files[f"{prefix}atom.xml"] or b"").find(f"{A}entry")
    rss = etree.fromstring(tree_files[f"{prefix}rss.xml"] or b"").find("channel/item")
    assert atom is not None and rss is not None
    doc = json.loads(tree_files[f"{prefix}feed.json"] or b"")
    return {
        "atom": [str(c.get("label")) for c in atom.findall(f"{A}category")],
        "rss": [str(c.text) for c in rss.findall("category")],
        "json": doc["items"][0].get("tags", []),
    }


def test_an_article_with_many_tags_writes_a_bounded_number_of_categories() -> None:
    """Uncapped, each of an article's N tag feeds repeats all N tags: a
    thousand tags took 13 s and 92 MB. Capped, every feed stays small, and
    a tag feed's entry still names that feed's tag."""
    tags = [Tag(key=f"t{i}", name=f"وسم {i}", slug=f"t{i}") for i in range(300)]
    tree = render(plan_for([article(1, *tags)]), feeds_config())
    first = [t.name for t in tags[:MAX_CATEGORIES]]
    for fmt, names in _entry_tags(tree.files, "").items():
        assert names == first, fmt
    for tag in (tags[0], tags[MAX_CATEGORIES], tags[-1]):
        for fmt, names in _entry_tags(tree.files, f"tag/{tag.slug}").items():
            assert tag.name in names and len(names) <= MAX_CATEGORIES + 1, (fmt, tag)
            assert names[:MAX_CATEGORIES] == first, fmt
    largest = max(len(tree.files[p] or b"") for p in tree.files if p.endswith(FEED_FILES))
    assert largest < 12_000  # one entry, at most 26 categories


def test_an_article_with_few_tags_writes_them_all_in_its_own_order() -> None:
    tags = [Tag(key=f"t{i}", name=f"وسم {i}", slug=f"t{i}") for i in (3, 1, 2)]
    tree = render(plan_for([article(1, *tags)]), feeds_config())
    for names in _entry_tags(tree.files, "tag/t2").values():
        assert names == ["وسم 3", "وسم 1", "وسم 2"]


def test_a_tag_name_with_markup_characters_shows_as_that_text_in_feed_titles() -> None:
    odd = Tag(key="<b>", name="<b>", slug="b")
    tree = render(plan_for([article(1, odd)]), feeds_config())
    for path in ("tag/b/atom.xml", "tag/b/rss.xml"):
        parsed = feedparser.parse(tree.files[path])
        assert parsed.bozo == 0
        assert _shown(parsed.feed.title_detail) == "أخبار المثال: <b>", path
    assert json.loads(tree.files["tag/b/feed.json"] or b"")["title"] == "أخبار المثال: <b>"


# The fast path of entry._absolute: a URL it leaves as it is must be what
# iri_to_uri returns for it.
_URL_CHARS = "aAzZ09.-_~/:@!$&'()*+,;=?#"
_OTHER_CHARS = "%éA \t[]\\"


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.org/sports/2024-01-01-000000",
        "https://News.Example.org:8080/a/b?x=1&y=2#top",
        "http://h//x;p=1",
        "https://example.org",
    ],
)
def test_a_plain_uri_is_left_as_it_is(url: str) -> None:
    assert _PLAIN_URI.fullmatch(url)
    assert iri_to_uri(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "HTTPS://example.org/",  # urlsplit lowercases the scheme
        "https://example.org/?",  # an empty query is dropped
        "https://example.org/#",
        "https://example.org/%d8%a3",  # escapes are uppercased
        "https://example.org/أخبار",
        "https://أخبار.example/",
        "https://[::1]/",
    ],
)
def test_a_uri_the_conversion_changes_is_not_plain(url: str) -> None:
    assert not _PLAIN_URI.fullmatch(url)
    assert iri_to_uri(url) != url or url.startswith("https://[")


@settings(max_examples=400, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "ftp", "Http", "a+b"]),
    rest=st.one_of(
        st.text(alphabet=_URL_CHARS, max_size=40),
        st.text(alphabet=_URL_CHARS + _OTHER_CHARS, max_size=40),
    ),
)
def test_whatever_the_fast_path_keeps_the_conversion_keeps(scheme: str, rest: str) -> None:
    url = f"{scheme}://{rest}"
    if _PLAIN_URI.fullmatch(url):
        assert iri_to_uri(url) == url


def test_an_article_keeps_the_id_of_the_url_it_was_first_stored_with() -> None:
    moved = dataclasses.replace(
        article(1), url="https://example.org/new", first_url="https://example.org/old"
    )
    item = make_item(moved, SiteValues.of(SITE, feeds_config(Path("public"))))
    assert (item.id, item.link, item.permalink) == (
        "https://example.org/old",
        "https://example.org/new",
        False,
    )
    same = dataclasses.replace(moved, first_url=" https://example.org/new\x00 ")
    item = make_item(same, SiteValues.of(SITE, feeds_config(Path("public"))))
    assert (item.id, item.permalink) == ("https://example.org/new", True)
