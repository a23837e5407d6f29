"""Upgrading deployed stores in place: real version-1 stores (made by the
code of cd73495, see tests/fixtures/README.md) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, inspect

from conftest import PG_CONNINFO, PG_URL, _postgres_problem
from feedpub.store import SCHEMA_VERSION, SqlStore, StoreError, migrations

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
FIXTURE_ARTICLES = 27


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def v1_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh copy of the version-1 fixture store."""
    if request.param == "sqlite":
        path = tmp_path / "store-v1.sqlite"
        shutil.copyfile(FIXTURES / "store-v1.sqlite", path)
        yield f"sqlite:///{path}"
        return
    problem = _postgres_problem()
    if problem is not None:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 unreachable: {problem}")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    dump = (FIXTURES / "store-v1.postgres.sql").read_text(encoding="utf-8")
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(dump.replace("v1fixture.", f"{schema}."))  # type: ignore[call-overload]
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def shape(url: str) -> dict[str, object]:
    """Tables, their columns (name, nullability), indexes, unique constraints
    and foreign keys."""
    engine = create_engine(url)
    try:
        found = inspect(engine)
        expressions: list[str] = []
        if engine.dialect.name == "sqlite":
            # SQLAlchemy cannot reflect SQLite expression indexes (lower(email)):
            # compare their DDL instead.
            with engine.connect() as conn:
                expressions = sorted(
                    conn.exec_driver_sql(
                        "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '%(%(%'"
                    ).scalars()
                )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            return {"expression indexes": expressions} | {
                table: (
                    sorted((c["name"], c["nullable"]) for c in found.get_columns(table)),
                    sorted((i["name"], bool(i["unique"])) for i in found.get_indexes(table)),
                    sorted(str(u["column_names"]) for u in found.get_unique_constraints(table)),
                    sorted(str(f["referred_table"]) for f in found.get_foreign_keys(table)),
                )
                for table in sorted(found.get_table_names())
            }
    finally:
        engine.dispose()


def test_fixture_is_a_version_1_store(v1_url: str) -> None:
    # Guards the tests below against a fixture already upgraded by accident.
    engine = create_engine(v1_url)
    try:
        with engine.connect() as conn:
            assert migrations.stored_version(conn) == 1
    finally:
        engine.dispose()


def test_a_version_1_store_upgrades_keeping_its_data(v1_url: str) -> None:
    with SqlStore.open(v1_url) as store:
        articles = store.latest_articles()
        assert len(articles) == store.article_count() == FIXTURE_ARTICLES
        assert all(a.first_url == a.url for a in articles)
        assert any(a.url is not None for a in articles)
        assert [(r.source, r.reason) for r in store.rejects()] == [
            ("/tmp/ref/samples/bad/broken.jsonl", "no title")
        ]
        (edition,) = store.editions("daily")
        assert len(edition.article_ids) == 15
        assert store.edition_id("daily", edition.slot) is not None
        assert store.subscriber_count() == 0
        assert store.tags()

    engine = create_engine(v1_url)
    try:
        with engine.connect() as conn:
            assert migrations.stored_version(conn) == SCHEMA_VERSION
    finally:
        engine.dispose()


def test_an_upgraded_store_has_the_shape_of_a_new_one(
    v1_url: str, store_url: str, request: pytest.FixtureRequest
) -> None:
    if v1_url.split(":")[0] != store_url.split(":")[0]:
        pytest.skip("compares stores of one database kind")
    SqlStore.open(v1_url).close()
    SqlStore.open(store_url).close()

    assert shape(v1_url) == shape(store_url)


def test_two_processes_opening_an_old_store_at_once_migrate_it_once(
    v1_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[int] = []
    steps = dict(migrations.MIGRATIONS)

    def counted(version: int) -> Callable[..., None]:
        def step(conn: object) -> None:
            ran.append(version)
            steps[version](conn)  # type: ignore[arg-type]

        return step

    monkeypatch.setattr(migrations, "MIGRATIONS", {version: counted(version) for version in steps})
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def open_it() -> None:
        start.wait(5)
        try:
            SqlStore.open(v1_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert ran == list(range(2, SCHEMA_VERSION + 1))


def test_a_failed_step_leaves_the_store_at_the_last_finished_one(
    v1_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: object) -> None:
        raise RuntimeError("step 3 broke")

    monkeypatch.setitem(migrations.MIGRATIONS, 3, broken)
    with pytest.raises(RuntimeError, match="step 3 broke"):
        SqlStore.open(v1_url)
    engine = create_engine(v1_url)
    try:
        with engine.connect() as conn:
            assert migrations.stored_version(conn) == 2
            assert not inspect(conn).has_table("subscribers")
    finally:
        engine.dispose()

    monkeypatch.undo()
    with SqlStore.open(v1_url) as store:
        assert store.subscriber_count() == 0
        assert store.article_count() == FIXTURE_ARTICLES


def test_a_store_newer_than_the_code_is_refused_naming_both_versions(
    v1_url: str, run_sql_at: Callable[[str, str], None]
) -> None:
    run_sql_at(v1_url, f"INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION + 1})")

    with pytest.raises(StoreError) as caught:
        SqlStore.open(v1_url)

    message = str(caught.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert f"the {SCHEMA_VERSION} this feedpub knows" in message
    assert "upgrade feedpub" in message


@pytest.fixture
def run_sql_at() -> Callable[[str, str], None]:
    def run(url: str, statement: str) -> None:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    return run


NEXT_DAY = "2026-11-30T08:00:00+03:00"  # after the fixture's run and the next 07:00 slot
NEW_RECORD = {
    "id": "r-2026-11-29-new-bridge",
    "title": "افتتاح جسر جديد في حمص",
    "text": "افتتحت محافظة حمص جسراً جديداً فوق نهر العاصي.",
    "published": "2026-11-29T18:00:00+03:00",
    "url": "https://news.example.org/2026/11/29/bridge",
    "tags": ["سوريا"],
}


def test_an_upgraded_store_ingests_builds_and_makes_the_next_digest(
    v1_url: str, tmp_path: Path
) -> None:
    """The whole cron job, as a subprocess, on the store as it was deployed:
    the fixture's 27 articles are unchanged, one new record is new, and the
    next daily edition carries just that one."""
    records = tmp_path / "records"
    records.mkdir()
    shipped = (REPO / "samples" / "records" / "articles.jsonl").read_text(encoding="utf-8")
    (records / "articles.jsonl").write_text(
        shipped.rstrip("\n") + "\n" + json.dumps(NEW_RECORD, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    config = (REPO / "config.yaml").read_text(encoding="utf-8")
    config = config.replace("path: samples/pages", f"path: {REPO / 'samples' / 'pages'}")
    config = config.replace("path: samples/records", f"path: {records}")
    config = config.replace("seed: samples/", f"seed: {REPO / 'samples'}/")
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    env = {
        **os.environ,
        "FEEDPUB_NOW": NEXT_DAY,
        "FEEDPUB_STORE_URL": v1_url,
        "FEEDPUB_SECRET": "migration-test-secret-0123456789",
    }

    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(tmp_path / "config.yaml"), "-v", "run"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # The v1 store holds r-2026-11-26-heritage-restoration with its figure
    # caption as the summary; ingest now takes the lead, so it is updated.
    assert lines[0] == "ingest: 1 new, 1 updated, 26 unchanged, 0 rejected"
    assert lines[1].startswith("build: ")
    assert lines[2].startswith("digest daily: edition 2026-11-30T07:00:00+03:00 with 1 article")
    assert (tmp_path / "public" / "atom.xml").is_file()
    with SqlStore.open(v1_url) as store:
        assert store.article_count() == FIXTURE_ARTICLES + 1
        new = store.get_article(NEW_RECORD["id"])
        assert new is not None and new.first_url == NEW_RECORD["url"]
        latest = store.last_edition("daily")
        assert latest is not None and latest.article_ids == (NEW_RECORD["id"],)
        assert len(store.editions("daily")) == 2
        assert len(store.rejects()) == 1
