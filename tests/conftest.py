"""Shared fixtures: a fresh article store on SQLite and on PostgreSQL.

Every test using ``store`` (or ``store_url``) runs twice, ids "sqlite" and
"postgres". The PostgreSQL run gets its own schema on the server at
127.0.0.1:5432 (trust auth, user postgres, database ``test``), dropped after
the test; when that server is unreachable the run is skipped, with the reason.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from feedpub.store import SqlStore

# The command-line tests' ``site`` fixture (the samples under a config of
# their own), for every test folder that runs feedpub as cron does.
pytest_plugins = ["support.cli_site"]

PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

_pg_problem: list[str | None] = []  # probed once per session


def _postgres_problem() -> str | None:
    if not _pg_problem:
        try:
            with psycopg.connect(PG_CONNINFO) as conn:
                conn.execute("SELECT 1")
            _pg_problem.append(None)
        except psycopg.Error as exc:
            _pg_problem.append(" ".join(str(exc).split()) or type(exc).__name__)
    return _pg_problem[0]


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store: a SQLite file under tmp_path, or a fresh
    PostgreSQL schema made the connection's search_path."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'feedpub.db'}"
        return
    problem = _postgres_problem()
    if problem is not None:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 unreachable: {problem}")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        # libpq "options" reaches psycopg through the URL query string.
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """An open, empty store (closed after the test)."""
    with SqlStore.open(store_url) as opened:
        yield opened


@pytest.fixture
def run_sql(store_url: str) -> Callable[[str], None]:
    """Run one raw SQL statement against the store's database, bypassing the
    store (to plant states the API cannot produce, such as a future schema)."""

    def run(statement: str) -> None:
        if store_url.startswith("sqlite:///"):
            conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
            try:
                with conn:
                    conn.execute(statement)
            finally:
                conn.close()
            return
        schema = store_url.rsplit("%3D", 1)[1]
        with psycopg.connect(PG_CONNINFO, options=f"-csearch_path={schema}") as conn:
            conn.execute(statement)  # type: ignore[call-overload]

    return run
