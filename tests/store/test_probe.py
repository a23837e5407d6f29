"""store.probe: the generation of a SQLite store read with the stdlib
driver, for the no-op build; None whenever the usual way must answer."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedpub.store import SCHEMA_VERSION, SqlStore, probe
from support.feedfactory import article

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def make_store(path: Path, articles: int) -> str:
    url = f"sqlite:///{path}"
    with SqlStore.open(url) as store:
        for n in range(articles):
            store.upsert_articles([article(n + 1)], NOW)
    return url


@pytest.mark.parametrize("articles", [0, 1, 3])
def test_the_probe_reads_what_the_store_reads(tmp_path: Path, articles: int) -> None:
    url = make_store(tmp_path / "feedpub.db", articles)
    with SqlStore.open(url) as store:
        expected = store.generation()
    assert probe.generation(url) == expected
    assert probe.generation(f"sqlite+pysqlite:///{tmp_path / 'feedpub.db'}") == expected


def test_a_store_at_another_schema_version_is_left_to_the_usual_way(tmp_path: Path) -> None:
    path = tmp_path / "feedpub.db"
    url = make_store(path, 1)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM schema_version WHERE version = ?", (SCHEMA_VERSION,))
    assert probe.generation(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{missing}",
        "sqlite:///{not_a_db}",
        "sqlite:///{empty_db}",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///{db}?mode=ro",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ],
)
def test_anything_but_a_plain_current_sqlite_file_answers_none(tmp_path: Path, url: str) -> None:
    (tmp_path / "not-a-db").write_text("hello", encoding="utf-8")
    sqlite3.connect(tmp_path / "empty.db").close()
    db = tmp_path / "feedpub.db"
    make_store(db, 1)
    filled = url.format(
        missing=tmp_path / "missing.db",
        not_a_db=tmp_path / "not-a-db",
        empty_db=tmp_path / "empty.db",
        db=db,
    )
    assert probe.generation(filled) is None
    assert not (tmp_path / "missing.db").exists(), "the probe never creates a store"
