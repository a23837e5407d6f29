"""``engine.insert_rows`` (an executemany handed to the driver) stores
exactly what SQLAlchemy's own ``insert()`` stores, on both databases: the
same raw column values, datetimes and NULLs included, read back as equal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from feedpub.store import SqlStore
from feedpub.store.engine import insert_rows
from feedpub.store.schema import t_article_tags, t_articles, t_source_files, t_tags

DAMASCUS = timezone(timedelta(hours=3))


def _article(article_id: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": article_id,
        "title": "عنوان «الخبر»",
        "summary": "ملخص",
        "content": "<p>نص</p>",
        "author": None,
        "published": datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=DAMASCUS),
        "updated": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        "url": None,
        "image": "https://example.org/a.jpg",
        "source": "/data/a.txt",
        "content_hash": "h" * 64,
        "first_seen": datetime(2026, 3, 2, tzinfo=UTC),
        "first_url": "",
    }
    row.update(changes)
    return row


def _raw(store: SqlStore, table_name: str, key: str) -> list[tuple[object, ...]]:
    # As stored, through the driver: no result processing on the way back.
    with store._engine.connect() as conn:
        result = conn.exec_driver_sql(f"SELECT * FROM {table_name} ORDER BY {key}")
        return [tuple(row) for row in result]


def test_rows_are_stored_exactly_as_sqlalchemy_stores_them(store: SqlStore) -> None:
    ours = [_article("a1"), _article("a2", author="كاتب", url="https://example.org/a2")]
    theirs = [_article("b1"), _article("b2", author="كاتب", url="https://example.org/a2")]
    with store._engine.begin() as conn:
        conn.execute(t_tags.insert(), [{"key": "k", "name": "اسم", "slug": "k"}])
        insert_rows(conn, t_articles, ours)
        conn.execute(t_articles.insert(), theirs)
        links = [{"tag_key": "k", "published": ours[0]["published"]}]
        insert_rows(conn, t_article_tags, [{"article_id": "a1", **links[0]}])
        conn.execute(t_article_tags.insert(), [{"article_id": "b1", **links[0]}])
        files = {
            "size": 2**40,
            "mtime_ns": 1_700_000_000_123_456_789,
            "ctime_ns": -1,
            "sha256": "s" * 64,
            "context": "c" * 64,
            "parse_key": "p" * 64,
            "articles": "[]",
            "rejects": 0,
            "read": datetime(2026, 3, 3, tzinfo=DAMASCUS),
        }
        insert_rows(conn, t_source_files, [{"path": "/a", **files}])
        conn.execute(t_source_files.insert(), [{"path": "/b", **files}])

    def without_key(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
        return [row[1:] for row in rows]

    articles = _raw(store, "articles", "id")
    assert without_key(articles[:2]) == without_key(articles[2:])
    tags = [row[1:] for row in _raw(store, "article_tags", "article_id")]
    assert tags[0] == tags[1]
    files_raw = _raw(store, "source_files", "path")
    assert without_key(files_raw[:1]) == without_key(files_raw[1:])
    with store._engine.connect() as conn:
        back = conn.execute(select(t_articles).where(t_articles.c.id == "a1")).one()
    assert back.published == ours[0]["published"]
    assert back.published.tzinfo is not None


def test_no_rows_write_nothing(store: SqlStore) -> None:
    with store._engine.begin() as conn:
        insert_rows(conn, t_articles, [])
    assert _raw(store, "articles", "id") == []


def test_thousands_of_rows_go_in_several_executemanys(store: SqlStore) -> None:
    rows = [_article(f"x{n:05d}") for n in range(4500)]
    with store._engine.begin() as conn:
        insert_rows(conn, t_articles, rows)
    assert [row[0] for row in _raw(store, "articles", "id")] == [r["id"] for r in rows]
