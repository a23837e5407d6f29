"""Each source's state (its cursor, its last sync and error), the one
transaction that stores a batch a source read together with its cursor,
and withdrawn articles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.engine import Connection

from feedpub.model import Article, Reject, SourceFile, require_aware
from feedpub.store import journal
from feedpub.store.engine import IN_CHUNK, chunks
from feedpub.store.schema import t_article_tags, t_articles, t_source_state, t_withdrawn
from feedpub.store.sitemap_pages import SitemapPagesMixin, put_sitemap_pages
from feedpub.store.source_files import FilesWritten, ReadFile, SourceFilesMixin

GONE = "gone from its source"


class BatchItem(Protocol):
    """One unit a source read (``ingest.source.Item``)."""

    @property
    def key(self) -> str: ...
    @property
    def articles(self) -> Sequence[Article]: ...
    @property
    def rejects(self) -> Sequence[Reject]: ...
    @property
    def row(self) -> SourceFile | None: ...
    @property
    def withdrawn(self) -> Sequence[str]: ...
    @property
    def partial(self) -> bool: ...


class SourceBatch(Protocol):
    """What a source read (``ingest.source.Batch``), as the store takes it."""

    @property
    def items(self) -> Sequence[BatchItem]: ...
    @property
    def withdrawn(self) -> Sequence[str]: ...
    @property
    def cursor(self) -> str | None: ...
    @property
    def unchanged_rows(self) -> Sequence[SourceFile]: ...
    @property
    def still_rejected(self) -> Sequence[str]: ...
    @property
    def released(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class SourceState:
    source: str
    cursor: str | None
    synced: datetime | None
    error: str | None
    error_at: datetime | None


class SourcesMixin(SourceFilesMixin, SitemapPagesMixin):
    def source_cursor(self, source: str) -> str | None:
        """The checkpoint ``source`` stored with its last batch (None: none yet)."""
        with self._guard("cannot read source state"), self._engine.connect() as conn:
            found = conn.execute(
                select(t_source_state.c.cursor).where(t_source_state.c.source == source)
            ).scalar()
        return None if found is None else str(found)

    def source_states(self) -> list[SourceState]:
        """Every source's state, by name."""
        with self._guard("cannot read source state"), self._engine.connect() as conn:
            rows = conn.execute(select(t_source_state).order_by(t_source_state.c.source)).all()
        return [SourceState(r.source, r.cursor, r.synced, r.error, r.error_at) for r in rows]

    def source_article_ids(self, source: str) -> list[str]:
        """The ids of the stored articles ``source`` gave (their ``Article.source``)."""
        with self._guard("cannot read articles"), self._engine.connect() as conn:
            query = select(t_articles.c.id).where(t_articles.c.source == source)
            return [str(i) for i in conn.execute(query).scalars()]

    def note_source(self, source: str, now: datetime, error: str | None) -> None:
        """The end of a read of ``source``: it worked (``synced`` moves to
        ``now``, the error is cleared) or failed (``error``; the cursor and
        the last sync stay)."""
        require_aware("now", now)
        values: dict[str, object] = (
            {"synced": now, "error": None, "error_at": None}
            if error is None
            else {"error": error, "error_at": now}
        )
        with self._guard("cannot write source state"), self._writing() as conn:
            _put_state(conn, source, values)

    def write_batch(self, source: str, batch: SourceBatch, now: datetime) -> FilesWritten:
        """In one transaction: the articles each item no longer gives taken
        out (only where the store holds them from that item: the first
        source of an id keeps it), the batch's items as ``write_read_files``
        writes files, its withdrawn articles taken out, and ``source``'s
        cursor moved to the batch's (when it has one). Returns what
        ``write_read_files`` returns, with every withdrawal counted."""
        files = [ReadFile(i.key, i.articles, i.rejects, i.row, i.partial) for i in batch.items]
        withdrawn = 0

        def first(conn: Connection) -> int:
            return sum(
                len(self._withdraw(conn, i.withdrawn, "", GONE, now, False, owner=i.key))
                for i in batch.items
                if i.withdrawn
            )

        def also(conn: Connection) -> None:
            nonlocal withdrawn
            if batch.withdrawn:
                withdrawn = len(self._withdraw(conn, batch.withdrawn, source, GONE, now, False))
            if batch.cursor is not None:
                _put_state(conn, source, {"cursor": batch.cursor})
            # A sitemap source's pages (``ingest.sitemap_source.PagesBatch``).
            put_sitemap_pages(conn, source, getattr(batch, "pages", ()))

        written = self.write_read_files(
            files,
            now,
            unchanged=batch.unchanged_rows,
            still_rejected=batch.still_rejected,
            released=batch.released,
            first=first,
            also=also,
        )
        return replace(written, withdrawn=written.withdrawn + withdrawn)

    def withdraw_articles(self, ids: Iterable[str], reason: str, now: datetime) -> list[str]:
        """An editor's withdrawal: the stored ones of ``ids`` leave every feed,
        page and future digest and stay out while their source still has
        them. Returns the ids withdrawn (stored ones only)."""
        require_aware("now", now)
        with self._guard("cannot withdraw articles"), self._writing() as conn:
            return self._withdraw(conn, list(ids), "", reason, now, True)

    def withdrawn(self) -> list[tuple[str, str, str, datetime, bool]]:
        """(id, source, reason, when, by hand) of every withdrawn article, newest first."""
        t = t_withdrawn
        with self._guard("cannot read withdrawn articles"), self._engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.withdrawn.desc(), t.c.id)).all()
        return [(r.id, r.source, r.reason, r.withdrawn, bool(r.by_hand)) for r in rows]

    def _withdraw(
        self,
        conn: Connection,
        ids: Sequence[str],
        source: str,
        reason: str,
        now: datetime,
        by_hand: bool,
        owner: str | None = None,
    ) -> list[str]:
        """Delete the stored articles of ``ids`` (those ``owner`` gave, when
        given: their ``Article.source``), their tags with them, journal the
        feeds they leave, and keep a tombstone of each."""
        found: list[tuple[str, str]] = []  # (id, its source)
        keys: set[str] = set()
        for chunk in chunks(dict.fromkeys(ids), IN_CHUNK):
            query = select(t_articles.c.id, t_articles.c.source).where(t_articles.c.id.in_(chunk))
            if owner is not None:
                query = query.where(t_articles.c.source == owner)
            rows = [(r.id, r.source) for r in conn.execute(query)]
            found += rows
            keys.update(
                conn.execute(
                    select(t_article_tags.c.tag_key).where(
                        t_article_tags.c.article_id.in_([i for i, _ in rows])
                    )
                ).scalars()
            )
        gone = [i for i, _ in found]
        if not gone:
            return []
        journal.record_change(conn, keys, gone)
        for chunk in chunks(gone, IN_CHUNK):
            conn.execute(t_article_tags.delete().where(t_article_tags.c.article_id.in_(chunk)))
            conn.execute(t_articles.delete().where(t_articles.c.id.in_(chunk)))
            conn.execute(t_withdrawn.delete().where(t_withdrawn.c.id.in_(chunk)))
        conn.execute(
            t_withdrawn.insert(),
            [
                {
                    "id": i,
                    "source": source or stored_source,
                    "reason": reason,
                    "withdrawn": now,
                    "by_hand": by_hand,
                }
                for i, stored_source in found
            ],
        )
        return gone


def _put_state(conn: Connection, source: str, values: dict[str, object]) -> None:
    moved = conn.execute(
        t_source_state.update().where(t_source_state.c.source == source).values(**values)
    )
    if not moved.rowcount:
        conn.execute(t_source_state.insert().values(source=source, **values))
