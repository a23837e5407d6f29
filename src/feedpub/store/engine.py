"""Engine plumbing shared by every part of the store: opening an engine,
the SQLite and PostgreSQL write locks, the error guard and ``UtcDateTime``."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, Table, create_engine, event, text
from sqlalchemy.engine import URL, Connection, Dialect
from sqlalchemy.exc import SQLAlchemyError, StatementError
from sqlalchemy.types import TypeDecorator

from feedpub.model import require_aware
from feedpub.store.interface import StoreError as StoreError

T = TypeVar("T")

# Ids per IN (...) list: SQLite caps bound parameters per statement.
IN_CHUNK = 900

# Execution option naming the statement that opens a SQLite transaction.
_SQLITE_BEGIN = "feedpub_sqlite_begin"


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back UTC-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        require_aware("stored datetime", value)
        value = value.astimezone(UTC)
        # SQLite would silently drop the offset; store naive UTC explicitly so
        # text ordering and equality are by UTC instant.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def driver_marks(conn: Connection, count: int) -> list[str]:
    """``count`` positional placeholders in the driver's own style."""
    style = conn.dialect.paramstyle
    if style == "qmark":
        return ["?"] * count
    if style in ("format", "pyformat"):
        return ["%s"] * count
    if style == "numeric":
        return [f":{n}" for n in range(1, count + 1)]
    raise ValueError(f"unsupported driver parameter style {style!r}")


# Rows per executemany of ``insert_rows``: bounds the parameters held at once.
_INSERT_ROWS = 2000


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``conn.execute(table.insert(), rows)`` (every row with the first one's
    keys) handed to the driver as one executemany, each value through its
    column type's own bind processor, as SQLAlchemy would: its generic
    per-row parameter handling cost more than SQLite's own work, and the
    store writes bound an ingest whose pages are parsed on both cores. Same
    SQL, same values, same rows."""
    if not rows:
        return
    names = list(rows[0])
    dialect = conn.dialect
    processors: list[Callable[[Any], Any] | None] = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    quote = dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join(driver_marks(conn, len(names)))})"
    )
    plain = [(name, process) for name, process in zip(names, processors, strict=True)]
    try:
        values = [
            tuple(row[name] if process is None else process(row[name]) for name, process in plain)
            for row in rows
        ]
    except Exception as exc:  # as SQLAlchemy reports a bind processor's failure
        raise StatementError(str(exc), statement, None, exc) from exc
    for start in range(0, len(values), _INSERT_ROWS):
        conn.exec_driver_sql(statement, values[start : start + _INSERT_ROWS])


def mask_password(url: str) -> str:
    """Hide the password of a URL that SQLAlchemy could not even parse."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class StoreBase:
    """The engine and the two ways every domain part uses it: the guard that
    turns database errors into ``StoreError`` and the serialised writer."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._where = engine.url.render_as_string(hide_password=True)
        # SQLite has one writer at a time. This process's threads (the SMTP
        # connections each claiming and recording) queue here in turn rather
        # than in SQLite's busy handler, which polls and lets a waiter starve
        # past the busy timeout when dozens of them wait on a loaded machine.
        self._one_writer = threading.RLock() if engine.dialect.name == "sqlite" else None

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn any SQLAlchemy error into a StoreError naming the store."""
        try:
            yield
        except SQLAlchemyError as exc:
            # The underlying message alone (from the driver, or from a bind
            # processor such as an out-of-range date): SQLAlchemy's also
            # carries the statement and its parameters (whole article bodies).
            orig = exc.orig if isinstance(exc, StatementError) else None
            detail = orig if orig is not None else exc
            raise StoreError(
                f"store {self._where}: {doing}: {type(exc).__name__}: {detail}".strip()
            ) from exc

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A read-then-write transaction, run one at a time against every
        other feedpub writer of this store, in any process."""
        with (
            self._one_writer if self._one_writer is not None else nullcontext(),
            self._engine.connect() as conn,
            writing(conn),
        ):
            yield conn


@contextmanager
def writing(conn: Connection) -> Iterator[None]:
    """Begin a transaction on ``conn`` holding the store's writer lock until
    it ends: two ingests at once (an overlapping cron run, ``serve`` beside a
    manual run) must not both find an article or tag missing and both insert
    it, and two processes opening an old store must not both migrate it.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock up front, waiting up
    to the busy timeout (a deferred transaction that read first would get
    "database is locked" at once when another process wrote meanwhile).
    PostgreSQL: a transaction-scoped advisory lock per schema."""
    conn.execution_options(**{_SQLITE_BEGIN: "BEGIN IMMEDIATE"})
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:name || current_schema()))"),
                {"name": "feedpub-store-write:"},
            )
        yield


@contextmanager
def cache_writing(conn: Connection) -> Iterator[None]:
    """``writing``, for rows that are a cache (a lost row is made again):
    the commit does not wait for the disk. A crash may lose the last such
    commits, never what an earlier commit made durable, and leaves the
    store consistent. SQLite in WAL mode: ``synchronous=NORMAL`` for this
    transaction (the next FULL commit syncs its frames too); PostgreSQL:
    ``synchronous_commit`` off for it."""
    # On the driver's connection: through SQLAlchemy it would begin a transaction.
    driver: Any = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
    if driver is not None:
        driver.execute("PRAGMA synchronous=NORMAL")
    try:
        with writing(conn):
            if driver is None:
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            yield
    finally:
        if driver is not None:
            driver.execute("PRAGMA synchronous=FULL")


def analyze(conn: Connection, tables: str) -> None:
    """Refresh planner statistics after bulk writes (PostgreSQL only:
    SQLite picks these indexes by rule, statistics or not)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ANALYZE {tables}"))


def open_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # pre_ping: a long-running service outlives server restarts and idle timeouts.
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module only opens a transaction before the first write, so
    # the reads of a transaction would each see another snapshot and an
    # upgrade to writing could fail at once. feedpub emits BEGIN itself
    # (``_sqlite_begin``), the documented SQLAlchemy recipe for pysqlite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # Cascade deletes to article_tags; WAL lets feed builds read while
        # ingest writes; wait for a writer instead of failing at once.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get(_SQLITE_BEGIN, "BEGIN"))
