"""The SQL article store, each test on SQLite and on PostgreSQL (see conftest)."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from feedpub.model import Article, Edition, Reject, Tag
from feedpub.store import SCHEMA_VERSION, SqlStore, StoreError
from feedpub.store import articles as store_module

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2024, 3, 2, 8, 30, tzinfo=UTC)
DAMASCUS = timezone(timedelta(hours=3))  # a fixed offset, as a source might send

ECONOMY = Tag("اقتصاد", "اقتصاد", "economy")
SPORT = Tag("رياضة", "رياضة", "sport")
POLITICS = Tag("سياسة", "سياسة", "politics")


def article(
    id: str = "a1",
    *,
    published: datetime = T0,
    updated: datetime | None = None,
    tags: tuple[Tag, ...] = (),
    content_hash: str | None = None,
    **fields: Any,
) -> Article:
    """An Article with harmless defaults; ``content_hash`` defaults to one
    derived from id and content so distinct articles never collide."""
    content = fields.pop("content", f"<p>نص الخبر {id}</p>")
    return Article(
        id=id,
        title=fields.pop("title", f"عنوان {id}"),
        summary=fields.pop("summary", f"ملخص {id}"),
        content=content,
        published=published,
        updated=updated or published,
        tags=tags,
        content_hash=content_hash or hashlib.sha256(f"{id}|{content}".encode()).hexdigest(),
        **fields,
    )


def ids(articles: list[Article]) -> list[str]:
    return [a.id for a in articles]


# --- articles: round trip ------------------------------------------------------


def test_article_round_trips_every_field_with_arabic_text_as_utc(store: SqlStore) -> None:
    original = Article(
        id="https://example.sy/news/123",
        title="«دمشق» تستضيف معرض الكتاب الدولي",
        summary="افتُتح اليوم معرض الكتاب بمشاركة ٢٠٠ دار نشر.",
        content='<p dir="rtl">افتُتح <b>المعرض</b> في قصر المؤتمرات.</p>',
        published=datetime(2024, 3, 1, 15, 0, 0, 123456, tzinfo=DAMASCUS),
        updated=datetime(2024, 3, 1, 16, 30, tzinfo=DAMASCUS),
        author="سامر الخطيب",
        url="https://example.sy/news/123?ref=رئيسية",
        image="https://example.sy/img/123.jpg",
        tags=(ECONOMY,),
        source="site-export.jsonl",
        content_hash="sha256:abc",
    )
    assert store.upsert_article(original, NOW) == "new"

    loaded = store.get_article(original.id)

    assert loaded == replace(original, first_seen=NOW, first_url=original.url or "")
    assert loaded is not None
    for value in (loaded.published, loaded.updated, loaded.first_seen):
        assert value is not None and value.tzinfo is UTC
    assert loaded.published == datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_optional_article_fields_round_trip_as_none(store: SqlStore) -> None:
    store.upsert_article(article("bare"), NOW)

    loaded = store.get_article("bare")

    assert loaded is not None
    assert (loaded.author, loaded.url, loaded.image, loaded.tags) == (None, None, None, ())


def test_unknown_article_is_none_and_by_ids_keeps_order_skipping_missing(store: SqlStore) -> None:
    store.upsert_articles([article("a"), article("b"), article("c")], NOW)

    assert store.get_article("zzz") is None
    assert ids(store.articles_by_ids(["c", "missing", "a", "b"])) == ["c", "a", "b"]
    assert store.articles_by_ids([]) == []


def test_naive_now_is_rejected(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.upsert_article(article(), datetime(2024, 1, 1))


# --- articles: upsert ----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        ({}, "unchanged"),
        # the hash is the content's identity: a new title alone is no change
        ({"title": "عنوان آخر"}, "unchanged"),
        ({"content_hash": "other"}, "updated"),
        ({"tags": (ECONOMY, SPORT)}, "updated"),
        ({"tags": ()}, "updated"),
        # same key, other spelling: the stored tag stands, so no change
        ({"tags": (Tag("اقتصاد", "الاقتصاد", "eco"),)}, "unchanged"),
    ],
)
def test_second_upsert_outcome(store: SqlStore, change: dict[str, Any], outcome: str) -> None:
    first = article("a", tags=(ECONOMY,))
    assert store.upsert_article(first, NOW) == "new"

    assert store.upsert_article(replace(first, **change), NOW + timedelta(hours=1)) == outcome


def test_unchanged_article_is_not_written(store: SqlStore) -> None:
    first = article("a")
    store.upsert_article(first, NOW)

    store.upsert_article(replace(first, title="عنوان جديد"), NOW + timedelta(hours=1))

    assert store.get_article("a") == replace(first, first_seen=NOW, first_url=first.url or "")


@pytest.mark.parametrize(
    ("incoming_updated", "stored_updated"),
    [
        (T0 + timedelta(hours=2), T0 + timedelta(hours=2)),  # later: the source's time
        (T0, NOW + timedelta(hours=1)),  # same: moved forward to now
        (T0 - timedelta(hours=2), NOW + timedelta(hours=1)),  # earlier: moved forward to now
    ],
    ids=["source-later", "source-same", "source-earlier"],
)
def test_update_replaces_fields_keeps_first_seen_and_moves_updated_forward(
    store: SqlStore, incoming_updated: datetime, stored_updated: datetime
) -> None:
    store.upsert_article(article("a", updated=T0, tags=(ECONOMY,)), NOW)
    changed = article(
        "a",
        published=T0 + timedelta(minutes=5),
        updated=incoming_updated,
        title="عنوان مصحح",
        content="<p>نص مصحح</p>",
        author="هيئة التحرير",
        tags=(SPORT,),
    )

    assert store.upsert_article(changed, NOW + timedelta(hours=1)) == "updated"

    assert store.get_article("a") == replace(
        changed, updated=stored_updated, first_seen=NOW, first_url=""
    )


def test_bulk_upsert_counts_outcomes_across_batches(store: SqlStore) -> None:
    batch = [article(f"n{i:04d}", published=T0 + timedelta(minutes=i)) for i in range(1200)]
    assert store.upsert_articles(batch, NOW) == {"new": 1200, "updated": 0, "unchanged": 0}

    again = [replace(a, content_hash="v2") if i % 3 == 0 else a for i, a in enumerate(batch)]
    again.append(article("extra"))
    assert store.upsert_articles(iter(again), NOW) == {"new": 1, "updated": 400, "unchanged": 800}
    assert store.article_count() == 1201


def test_bulk_upsert_judges_a_repeated_id_against_its_earlier_copy(store: SqlStore) -> None:
    first = article("a")
    edited = replace(first, title="ثانية", content_hash="v2")

    counts = store.upsert_articles([first, first, edited], NOW)

    assert counts == {"new": 1, "unchanged": 1, "updated": 1}
    stored = store.get_article("a")
    assert stored is not None
    assert (stored.title, stored.first_seen) == ("ثانية", NOW)


# --- tags ----------------------------------------------------------------------


def test_tag_key_is_identity_and_first_name_and_slug_are_kept(store: SqlStore) -> None:
    store.upsert_article(article("a", tags=(ECONOMY,)), NOW)
    store.upsert_article(article("b", tags=(Tag(ECONOMY.key, "الإقتصاد", "eco-2"),)), NOW)

    b = store.get_article("b")

    assert b is not None and b.tags == (ECONOMY,)
    assert store.tags() == [(ECONOMY, 2)]


def test_new_key_with_a_taken_slug_gets_a_hash_suffix(store: SqlStore) -> None:
    clash = Tag("اقتصادي", "اقتصادي", ECONOMY.slug)
    store.upsert_article(article("a", tags=(ECONOMY,)), NOW)
    store.upsert_article(article("b", tags=(clash,)), NOW)
    # two new keys sharing one slug within a single batch
    store.upsert_articles(
        [
            article("c", tags=(Tag("k1", "k1", "same"),)),
            article("d", tags=(Tag("k2", "k2", "same"),)),
        ],
        NOW,
    )

    def short(key: str) -> str:
        return hashlib.sha1(key.encode()).hexdigest()[:8]

    slugs = {tag.key: tag.slug for tag, _ in store.tags()}
    assert slugs == {
        ECONOMY.key: "economy",
        clash.key: f"economy-{short(clash.key)}",
        "k1": "same",
        "k2": f"same-{short('k2')}",
    }


def test_article_tags_are_sorted_by_name_and_deduplicated_by_key(store: SqlStore) -> None:
    store.upsert_article(article("a", tags=(SPORT, POLITICS, ECONOMY, SPORT)), NOW)

    a = store.get_article("a")

    assert a is not None
    assert a.tags == (ECONOMY, SPORT, POLITICS)  # اقتصاد < رياضة < سياسة


def test_tags_lists_every_tag_with_its_count_by_slug(store: SqlStore) -> None:
    store.upsert_articles(
        [
            article("a", tags=(ECONOMY, SPORT)),
            article("b", tags=(ECONOMY,)),
            article("c", tags=(POLITICS,)),
        ],
        NOW,
    )
    # a retagged article leaves its old tag behind with no articles
    store.upsert_article(article("c", tags=(SPORT,), content_hash="v2"), NOW)

    assert store.tags() == [(ECONOMY, 2), (POLITICS, 0), (SPORT, 2)]


# --- listing -------------------------------------------------------------------


@pytest.fixture
def timeline(store: SqlStore) -> SqlStore:
    """Six articles an hour apart (a1 oldest), two sharing a2's time."""
    store.upsert_articles(
        [
            article("a1", published=T0, tags=(ECONOMY,)),
            article("a2", published=T0 + timedelta(hours=1), tags=(SPORT,)),
            article("a2b", published=T0 + timedelta(hours=1), tags=(ECONOMY, SPORT)),
            article("a3", published=T0 + timedelta(hours=2), tags=(ECONOMY,)),
            article("a4", published=T0 + timedelta(hours=3)),
            article("a5", published=T0 + timedelta(hours=4), tags=(SPORT,)),
        ],
        NOW,
    )
    return store


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["a5", "a4", "a3", "a2b", "a2", "a1"]),  # equal times: id desc
        ({"limit": 2}, ["a5", "a4"]),
        ({"limit": 2, "offset": 2}, ["a3", "a2b"]),
        ({"offset": 4}, ["a2", "a1"]),
        ({"tag_key": ECONOMY.key}, ["a3", "a2b", "a1"]),
        ({"tag_key": SPORT.key, "limit": 2}, ["a5", "a2b"]),
        ({"tag_key": SPORT.key, "offset": 1, "limit": 1}, ["a2b"]),
        ({"tag_key": "no-such-tag"}, []),
    ],
)
def test_latest_articles_are_newest_first(
    timeline: SqlStore, kwargs: dict[str, Any], expected: list[str]
) -> None:
    assert ids(timeline.latest_articles(**kwargs)) == expected


@pytest.mark.parametrize("limit", [1, 2, 10])
def test_latest_per_tag_matches_one_query_per_tag(timeline: SqlStore, limit: int) -> None:
    newest = timeline.latest_per_tag(limit)

    assert {key: ids(found) for key, found in newest.items()} == {
        tag.key: ids(timeline.latest_articles(limit=limit, tag_key=tag.key))
        for tag, _ in timeline.tags()
    }
    assert [t.key for t in newest[SPORT.key][0].tags] == [SPORT.key]


def test_latest_per_tag_follows_a_changed_publish_time(timeline: SqlStore) -> None:
    moved = article("a1", published=T0 + timedelta(hours=9), tags=(ECONOMY,), content_hash="v2")
    timeline.upsert_article(moved, NOW)

    assert ids(timeline.latest_articles(tag_key=ECONOMY.key)) == ["a1", "a3", "a2b"]
    assert timeline.article_count() == 6


@pytest.mark.parametrize(
    ("after", "until", "tag_keys", "limit", "expected"),
    [
        # after is exclusive, until inclusive
        (T0 + timedelta(hours=1), T0 + timedelta(hours=3), (), None, ["a4", "a3"]),
        (None, T0 + timedelta(hours=1), (), None, ["a2b", "a2", "a1"]),
        (None, T0 + timedelta(days=1), (), 2, ["a5", "a4"]),
        (T0 + timedelta(hours=4), T0 + timedelta(days=1), (), None, []),
        # any of the tags, each article once
        (
            None,
            T0 + timedelta(days=1),
            (ECONOMY.key, SPORT.key),
            None,
            ["a5", "a3", "a2b", "a2", "a1"],
        ),
        (T0, T0 + timedelta(hours=2), (ECONOMY.key,), None, ["a3", "a2b"]),
        (None, T0 + timedelta(days=1), (SPORT.key, ECONOMY.key), 2, ["a5", "a3"]),
        (None, T0 + timedelta(days=1), ("no-such-tag",), None, []),
    ],
)
def test_articles_between_bounds_tags_and_limit(
    timeline: SqlStore,
    after: datetime | None,
    until: datetime,
    tag_keys: tuple[str, ...],
    limit: int | None,
    expected: list[str],
) -> None:
    assert ids(timeline.articles_between(after, until, tag_keys, limit)) == expected


def test_articles_for_edition_takes_late_ones_and_leaves_what_the_last_could_hold(
    store: SqlStore,
) -> None:
    """The last edition (slot T0+2h, made T0+3h) could hold what was
    published by its slot and first seen by then; the next (slot T0+1d,
    made T0+1d) takes what was published after that slot, or first seen
    after it was made (late), and nothing first seen after it is made."""
    slot, made = T0 + timedelta(hours=2), T0 + timedelta(hours=3)
    store.upsert_articles([article("held", published=T0)], T0 + timedelta(hours=1))
    store.upsert_articles(
        [article("late", published=T0 + timedelta(hours=1))], made + timedelta(minutes=5)
    )
    store.upsert_articles(
        [article("new", published=slot + timedelta(hours=1))], made + timedelta(hours=1)
    )
    store.upsert_articles([article("future", published=T0 + timedelta(days=2))], made)
    store.upsert_articles([article("unseen", published=slot)], T0 + timedelta(days=2))
    nxt = T0 + timedelta(days=1)
    found = store.articles_for_edition(nxt, nxt, published_after=slot, seen_after=made)
    assert ids(found) == ["new", "late"]
    first = store.articles_for_edition(slot, made, published_after=T0 - timedelta(hours=1))
    assert ids(first) == ["held"]  # by first_seen: late and unseen were not seen yet


def test_articles_between_compares_instants_across_zones(timeline: SqlStore) -> None:
    # 15:00 at +03:00 is 12:00 UTC, a1's publish time: included as "until"
    until = (T0).astimezone(DAMASCUS)

    assert ids(timeline.articles_between(None, until)) == ["a1"]


# --- rejects -------------------------------------------------------------------


def test_rejects_are_listed_newest_first(store: SqlStore) -> None:
    old = Reject("feed.jsonl", "لا عنوان", T0, "line 3")
    new = Reject("feed.jsonl", "invalid date", T0 + timedelta(hours=1))
    assert store.add_reject(old) is True
    assert store.add_reject(new) is True

    assert store.rejects() == [new, old]


@pytest.mark.parametrize("location", ["line 3", None])
def test_the_same_reject_seen_again_is_kept_once_with_its_latest_time(
    store: SqlStore, location: str | None
) -> None:
    first = Reject("feed.jsonl", "لا عنوان", T0, location)
    again = Reject("feed.jsonl", "لا عنوان", T0 + timedelta(hours=1), location)
    other = Reject("feed.jsonl", "لا عنوان", T0, "line 9")

    assert store.add_reject(first) is True
    assert store.add_reject(again) is False
    assert store.add_reject(other) is True

    assert store.rejects() == [again, other]


@pytest.mark.parametrize("location", ["line 3", None])
def test_replacing_the_rejects_of_a_source_drops_those_not_seen_again(
    store: SqlStore, location: str | None
) -> None:
    later = T0 + timedelta(hours=1)
    fixed = Reject("feed.jsonl", "لا عنوان", T0, "line 9")
    kept = Reject("feed.jsonl", "invalid date", T0, location)
    elsewhere = Reject("other.txt", "empty file", T0)
    store.add_reject(elsewhere)
    assert store.replace_rejects("feed.jsonl", [fixed, kept]) == [True, True]

    again = replace(kept, seen=later)
    moved = Reject("feed.jsonl", "لا عنوان", later, "line 10")
    assert store.replace_rejects("feed.jsonl", [again, moved]) == [False, True]
    assert store.rejects() == [moved, again, elsewhere]

    assert store.replace_rejects("feed.jsonl", []) == []
    assert store.rejects() == [elsewhere]
    with pytest.raises(ValueError, match=r"other\.txt"):
        store.replace_rejects("feed.jsonl", [elsewhere])


def test_keys_of_255_characters_round_trip(store: SqlStore) -> None:
    long_tag = Tag("و" * 255, "و" * 255, "w-" + "0" * 60)
    store.upsert_article(article("x" * 255, tags=(long_tag,)), NOW)

    [stored] = store.latest_articles()
    assert (stored.id, stored.tags) == ("x" * 255, (long_tag,))


# --- editions ------------------------------------------------------------------


def edition(digest: str, slot: datetime, *article_ids: str, dropped: int = 0) -> Edition:
    return Edition(digest, slot, article_ids, created=slot + timedelta(minutes=1), dropped=dropped)


def test_an_edition_is_added_once_per_digest_and_slot(store: SqlStore) -> None:
    first = edition("morning", T0, "c", "a", "b", dropped=2)

    assert store.add_edition(first) is True
    assert store.add_edition(edition("morning", T0.astimezone(DAMASCUS), "x")) is False
    assert store.add_edition(edition("evening", T0, "x")) is True

    assert store.get_edition("morning", T0.astimezone(DAMASCUS)) == first
    assert store.editions("morning") == [first]


def test_editions_are_listed_latest_slot_first(store: SqlStore) -> None:
    slots = [T0 + timedelta(days=d) for d in (1, 0, 2)]
    for slot in slots:
        store.add_edition(edition("morning", slot, slot.isoformat()))
    store.add_edition(edition("evening", T0 + timedelta(days=9)))

    listed = store.editions("morning")

    assert [e.slot for e in listed] == sorted(slots, reverse=True)
    assert store.last_edition("morning") == listed[0]
    assert store.last_edition("weekly") is None
    assert store.get_edition("morning", T0 + timedelta(days=5)) is None
    assert store.editions("weekly") == []


# --- opening and schema --------------------------------------------------------


def test_opening_again_keeps_schema_and_data(store_url: str) -> None:
    with SqlStore.open(store_url) as first:
        first.upsert_article(article("a", tags=(ECONOMY,)), NOW)
        first.add_edition(edition("morning", T0, "a"))

    with SqlStore.open(store_url) as second:
        assert ids(second.latest_articles()) == ["a"]
        assert second.tags() == [(ECONOMY, 1)]
        assert second.last_edition("morning") == edition("morning", T0, "a")


def test_store_with_a_newer_schema_is_refused(
    store_url: str, run_sql: Callable[[str], None]
) -> None:
    SqlStore.open(store_url).close()
    run_sql(f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}")

    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}"):
        SqlStore.open(store_url)


def test_sqlite_store_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "feedpub.db"

    with SqlStore.open(f"sqlite:///{path}") as opened:
        assert opened.article_count() == 0

    assert path.is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "bad URL"),
        ("nosuchdb://user:secret@host/db", "cannot open: Can.t load plugin"),
        ("postgresql+psycopg://postgres:secret@127.0.0.1:1/test", "cannot open"),
        ("sqlite:////proc/no/such/dir/feedpub.db", "cannot open"),
    ],
    ids=["garbage", "unknown-dialect", "unreachable-server", "unwritable-path"],
)
def test_bad_url_raises_store_error_without_the_password(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as caught:
        SqlStore.open(url)

    assert "secret" not in str(caught.value)


def test_bulk_upsert_refreshes_statistics_midway_and_at_the_end(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BATCH_SIZE", 2)
    monkeypatch.setattr(store_module, "ANALYZE_AFTER", 4)
    monkeypatch.setattr(store_module, "_ANALYZE_AT_END", 1)
    batch = [article(f"s{i}", tags=(ECONOMY,)) for i in range(7)]

    assert store.upsert_articles(batch, NOW) == {"new": 7, "updated": 0, "unchanged": 0}
    assert ids(store.latest_articles(tag_key=ECONOMY.key)) == [f"s{i}" for i in range(6, -1, -1)]


# --- two writers at once ---------------------------------------------------------


def test_two_processes_writing_the_same_article_at_once_are_serialised(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ingests at once (an overlapping cron run) both find the article
    missing unless their read-then-write transactions take turns: then the
    second inserts it again and fails on the primary key."""
    first, second = SqlStore.open(store_url), SqlStore.open(store_url)
    inside, release = threading.Event(), threading.Event()
    original = SqlStore._upsert_batch

    def held_open(self: SqlStore, *args: Any) -> Any:
        outcomes = original(self, *args)
        if self is first:  # keep the first transaction open, its rows written
            inside.set()
            release.wait(10)
        return outcomes

    monkeypatch.setattr(SqlStore, "_upsert_batch", held_open)
    shared = article("same", tags=(ECONOMY,))
    results: dict[str, object] = {}

    def upsert(name: str, into: SqlStore) -> None:
        try:
            results[name] = into.upsert_articles([shared], NOW)
        except StoreError as exc:
            results[name] = exc

    one = threading.Thread(target=upsert, args=("first", first))
    two = threading.Thread(target=upsert, args=("second", second))
    try:
        one.start()
        assert inside.wait(10)
        two.start()
        two.join(0.5)
        assert two.is_alive()  # waiting for the first writer, not failing
        release.set()
        one.join(15)
        two.join(15)
    finally:
        release.set()
        first.close()
        second.close()

    assert results == {
        "first": {"new": 1, "updated": 0, "unchanged": 0},
        "second": {"new": 0, "updated": 0, "unchanged": 1},
    }


def test_a_value_the_driver_cannot_take_is_a_store_error_without_the_statement(
    store: SqlStore,
) -> None:
    # 1 January of year 1 at +03:00 is before the earliest UTC datetime.
    early = datetime(1, 1, 1, tzinfo=DAMASCUS)

    with pytest.raises(StoreError, match="cannot write article") as caught:
        store.upsert_article(article("early", published=early), NOW)

    assert "INSERT" not in str(caught.value)
    assert "نص الخبر" not in str(caught.value)


# --- first URL -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("urls", "first_url"),
    [
        (["https://a.sy/1"], "https://a.sy/1"),
        ([None], ""),
        ([None, "https://a.sy/1"], ""),
        (["https://a.sy/1", "https://a.sy/moved"], "https://a.sy/1"),
        (["https://a.sy/1", None, "https://a.sy/2"], "https://a.sy/1"),
    ],
    ids=["set-on-insert", "none", "none-when-gained", "kept-when-changed", "kept-when-lost"],
)
def test_first_url_is_stored_once_and_kept(
    store: SqlStore, urls: list[str | None], first_url: str | None
) -> None:
    for n, url in enumerate(urls):
        # The URL is part of the content hash (as in ingest): each is a change.
        store.upsert_article(article("a", url=url, content_hash=f"h{n}"), NOW)

    stored = store.get_article("a")
    assert stored is not None
    assert (stored.url, stored.first_url) == (urls[-1], first_url)


# --- article pages -------------------------------------------------------------


def test_page_versions_list_the_articles_without_a_url_with_their_tags(store: SqlStore) -> None:
    urls = {"a": None, "b": "", "c": "  ", "d": "https://a.sy/d"}
    for n, (article_id, url) in enumerate(urls.items()):
        tags = (ECONOMY, SPORT) if article_id == "a" else ()
        store.upsert_article(article(article_id, url=url, tags=tags, content_hash=f"h{n}"), NOW)

    versions = store.page_versions()

    assert [v[0] for v in versions] == ["a", "b", "c"]
    assert versions[0][1] == "h0" and versions[0][3] == tuple(sorted([ECONOMY.key, SPORT.key]))
    assert all(v[2].utcoffset() is not None for v in versions)
    # Given a URL, an article leaves the list (its page is removed by the next build).
    store.upsert_article(article("a", url="https://a.sy/a", content_hash="h9"), NOW)
    assert [v[0] for v in store.page_versions()] == ["b", "c"]


def test_a_store_keeps_one_instance_key_and_two_stores_differ(
    store: SqlStore, store_url: str, tmp_path: Path
) -> None:
    key = store.instance_key()
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    with SqlStore.open(store_url) as again:
        assert again.instance_key() == key
    with SqlStore.open(f"sqlite:///{tmp_path / 'other.db'}") as other:
        assert other.instance_key() != key
