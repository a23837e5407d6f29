"""``SqlStore``: the ``Store`` (see the package docstring) over one SQL
database, composed of one mixin per domain."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from feedpub.store.articles import BATCH_SIZE, ArticlesMixin
from feedpub.store.deliveries import DeliveriesMixin
from feedpub.store.editions import EditionsMixin
from feedpub.store.engine import StoreError, mask_password, open_engine
from feedpub.store.entries import EntriesMixin
from feedpub.store.inbound import InboundMixin
from feedpub.store.interface import SCHEMA_VERSION, StoreLock
from feedpub.store.journal import JournalMixin
from feedpub.store.locks import lock_for
from feedpub.store.meta import MetaMixin
from feedpub.store.migrations import ensure_schema
from feedpub.store.rejects import RejectsMixin
from feedpub.store.runs import RunsMixin
from feedpub.store.signups import SignupsMixin
from feedpub.store.sources import SourcesMixin
from feedpub.store.subscribers import SubscribersMixin


class SqlStore(
    MetaMixin,
    SourcesMixin,
    ArticlesMixin,
    RejectsMixin,
    EditionsMixin,
    SubscribersMixin,
    DeliveriesMixin,
    RunsMixin,
    EntriesMixin,
    JournalMixin,
    InboundMixin,
    SignupsMixin,
):
    """The ``Store`` over one SQL database. Open with ``SqlStore.open(url)``;
    close with ``close()`` or use it as a context manager. Safe to share
    between threads (one pooled engine)."""

    BATCH_SIZE = BATCH_SIZE
    SCHEMA_VERSION = SCHEMA_VERSION

    @classmethod
    def open(cls, url: str) -> SqlStore:
        """Connect, then create the schema of an empty store or migrate an
        older one in place. Raises ``StoreError`` when the URL is malformed,
        the database is unreachable, or its schema is newer than this code."""
        try:
            parsed = make_url(url)
        except SQLAlchemyError as exc:
            raise StoreError(f"store {mask_password(url)}: bad URL: {exc}") from exc
        where = parsed.render_as_string(hide_password=True)
        try:
            engine = open_engine(parsed)
        except (SQLAlchemyError, ImportError, OSError) as exc:
            raise StoreError(f"store {where}: cannot open: {exc}") from exc
        store = cls(engine)
        try:
            with store._guard("cannot open"):
                ensure_schema(engine, where)
        except BaseException:
            engine.dispose()
            raise
        return store

    def lock(self, name: str, *, timeout: float = 10.0) -> StoreLock:
        """The named lock (``run``, ``leader``) over this store, not yet
        taken: a file beside a SQLite database, a session advisory lock on
        a dedicated connection for PostgreSQL (see ``locks``). ``timeout``
        bounds how long a vanished holder keeps a PostgreSQL lock."""
        return lock_for(self._engine, self._where, name, timeout=timeout)

    def close(self) -> None:
        """Release every pooled connection. Safe to call twice."""
        self._engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
