"""What ingest last read from each source file (``model.SourceFile``), and
the one transaction that writes a batch of read files: their rejects, their
articles and their ``source_files`` rows together, so a row never claims a
reading whose articles did not commit."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from feedpub.model import Article, Reject, SourceFile, UpsertOutcome, require_aware
from feedpub.store.articles import (
    _ANALYZE_AT_END,
    _ANALYZED,
    ANALYZE_AFTER,
    BATCH_SIZE,
    ArticlesMixin,
)
from feedpub.store.engine import IN_CHUNK, analyze, chunks, insert_rows
from feedpub.store.rejects import RejectsMixin
from feedpub.store.schema import t_articles, t_rejects, t_source_files


@dataclass(frozen=True)
class ReadFile:
    """One source file as just read: its articles (the last of each id),
    its rejects, and its row (None: not to be remembered, read it again)."""

    source: str
    articles: Sequence[Article]
    rejects: Sequence[Reject]
    row: SourceFile | None
    # More of the file follows in later batches: its rejects stand as they are.
    partial: bool = False


def duplicate_reject(article: Article, owner: str, now: datetime) -> Reject:
    """``article`` refused: its id is ``owner``'s (another source's)."""
    reason = (
        f"article id {article.id} is also given by {owner}, which keeps it "
        f"(one id, one source: rename it in {article.source} or {owner})"
    )
    return Reject(article.source, reason, now, f"id {article.id}")


@dataclass(frozen=True)
class FilesWritten:
    """What ``write_read_files`` did: the upsert counts, and per file each
    reject recorded (its own, then the duplicate ids the store refused)
    with whether it is new, and the rejects of skipped files still standing."""

    counts: dict[UpsertOutcome, int]
    rejects: list[list[tuple[Reject, bool]]]
    kept: list[Reject]
    withdrawn: int = 0


class SourceFilesMixin(ArticlesMixin, RejectsMixin):
    _unanalysed = 0

    def source_files(self) -> dict[str, SourceFile]:
        """Every remembered source file, by path."""
        with self._guard("cannot read source files"), self._engine.connect() as conn:
            return {r.path: _from_row(r) for r in conn.execute(select(t_source_files))}

    def article_hashes(self, ids: Iterable[str]) -> dict[str, str]:
        """The stored content hash of each of these ids that is stored."""
        found: dict[str, str] = {}
        with self._guard("cannot read articles"), self._engine.connect() as conn:
            for chunk in chunks(dict.fromkeys(ids), IN_CHUNK):
                query = select(t_articles.c.id, t_articles.c.content_hash).where(
                    t_articles.c.id.in_(chunk)
                )
                found.update((r.id, r.content_hash) for r in conn.execute(query))
        return found

    def article_sources(self, ids: Iterable[str]) -> dict[str, str]:
        """The source (``Article.source``) of each of these ids that is stored."""
        found: dict[str, str] = {}
        with self._guard("cannot read articles"), self._engine.connect() as conn:
            for chunk in chunks(dict.fromkeys(ids), IN_CHUNK):
                query = select(t_articles.c.id, t_articles.c.source).where(
                    t_articles.c.id.in_(chunk)
                )
                found.update((r.id, r.source) for r in conn.execute(query))
        return found

    def reject_counts(self, sources: Iterable[str]) -> dict[str, int]:
        """How many rejects are recorded for each of these sources (absent: none)."""
        found: dict[str, int] = {}
        with self._guard("cannot read rejects"), self._engine.connect() as conn:
            for chunk in chunks(dict.fromkeys(sources), IN_CHUNK):
                query = (
                    select(t_rejects.c.source, func.count())
                    .where(t_rejects.c.source.in_(chunk))
                    .group_by(t_rejects.c.source)
                )
                found.update((r[0], int(r[1])) for r in conn.execute(query))
        return found

    def write_read_files(
        self,
        files: Sequence[ReadFile],
        now: datetime,
        *,
        unchanged: Sequence[SourceFile] = (),
        still_rejected: Sequence[str] = (),
        released: Collection[str] = (),
        first: Callable[[Connection], int] | None = None,
        also: Callable[[Connection], object] | None = None,
    ) -> FilesWritten:
        """In one transaction: each file's rejects replace its earlier ones
        (as ``replace_rejects``), the articles of all of them are upserted in
        file order (as ``upsert_articles``), and their rows are remembered;
        the rows of ``unchanged`` files (found by their hash) are stored as
        given, and the rejects of ``still_rejected`` sources (skipped files)
        have their ``seen`` moved to ``now``; ``first`` runs first (the
        withdrawals, returning how many) and ``also`` last in the same
        transaction (a source's cursor). An article whose id the store holds
        from another source (``Article.source``), or an earlier file of the
        batch gave, is not written: the first source keeps it, and the file
        gets a reject naming both; unless that source is one of
        ``released`` (gone: a file moved or deleted)."""
        require_aware("now", now)
        if len({f.source for f in files}) != len(files):
            raise ValueError("a source given twice in one batch")
        for f in files:
            for reject in f.rejects:
                if reject.source != f.source:
                    raise ValueError(f"reject of {reject.source!r} given for {f.source!r}")
        counts: dict[UpsertOutcome, int] = {"new": 0, "updated": 0, "unchanged": 0}
        with self._guard("cannot write ingested files"), self._writing() as conn:
            withdrawn = first(conn) if first is not None else 0
            files, moved = _without_duplicates(conn, files, now, released)
            whole = [f for f in files if not f.partial]
            news = iter(self._replace_rejects_many(conn, [(f.source, f.rejects) for f in whole]))
            for batch in chunks((a for f in files for a in f.articles), BATCH_SIZE):
                for outcome in self._upsert_batch(conn, batch, now):
                    counts[outcome] += 1
                    self._unanalysed += outcome != "unchanged"
            if moved:  # taken from a file that is gone: the article is this one's now
                conn.execute(
                    update(t_articles).where(t_articles.c.id == bindparam("b_id")),
                    [{"b_id": i, "source": s} for i, s in moved.items()],
                )
            if self._unanalysed >= ANALYZE_AFTER:
                analyze(conn, _ANALYZED)
                self._unanalysed = 0
            rows = [f.row for f in files if f.row is not None] + list(unchanged)
            _put_rows(conn, rows, now)
            kept = _touch_rejects(conn, still_rejected, now)
            if also is not None:
                also(conn)
        rejects = [
            [] if f.partial else list(zip(f.rejects, next(news), strict=True)) for f in files
        ]
        return FilesWritten(counts, rejects, kept, withdrawn)

    def finish_ingest(self, seen: Iterable[str]) -> None:
        """After a whole ingest: forget the rows of files not ``seen`` (removed
        from the sources: read again should they come back; their articles
        and rejects stay, as they always did), and refresh PostgreSQL's
        statistics if much was written since they last were."""
        keep = set(seen)
        with self._guard("cannot write source files"), self._writing() as conn:
            stale = [
                p for p in conn.execute(select(t_source_files.c.path)).scalars() if p not in keep
            ]
            for chunk in chunks(stale, IN_CHUNK):
                conn.execute(t_source_files.delete().where(t_source_files.c.path.in_(chunk)))
            if self._unanalysed >= _ANALYZE_AT_END:
                analyze(conn, _ANALYZED)
                self._unanalysed = 0


def _without_duplicates(
    conn: Connection, files: Sequence[ReadFile], now: datetime, released: Collection[str]
) -> tuple[list[ReadFile], dict[str, str]]:
    """``files`` without the articles whose id another source holds (stored,
    or given by an earlier file here), each refused with a reject naming
    both sources: the same id in two sources is a mistake to fix at one of
    them, and writing each in turn would rewrite the article (and the feeds
    it is in) on every run. Also returns the ids taken over from a released
    source, with their new source."""
    owners: dict[str, str] = {}
    moved: dict[str, str] = {}
    for chunk in chunks(list(dict.fromkeys(a.id for f in files for a in f.articles)), IN_CHUNK):
        owners.update(
            (r.id, r.source)
            for r in conn.execute(
                select(t_articles.c.id, t_articles.c.source).where(t_articles.c.id.in_(chunk))
            )
        )
    for i, owner in list(owners.items()):
        if owner in released:
            del owners[i]
            moved[i] = ""
    out: list[ReadFile] = []
    for f in files:
        kept: list[Article] = []
        refused: list[Reject] = []
        for article in f.articles:
            owner = owners.setdefault(article.id, article.source)
            if owner == article.source:
                kept.append(article)
                if article.id in moved:
                    moved[article.id] = article.source
                continue
            refused.append(replace(duplicate_reject(article, owner, now), source=f.source))
        if refused:
            f = replace(f, articles=kept, rejects=[*f.rejects, *refused])
        out.append(f)
    return out, {i: source for i, source in moved.items() if source}


def _from_row(r: Any) -> SourceFile:
    return SourceFile(
        path=r.path,
        size=int(r.size),
        mtime_ns=int(r.mtime_ns),
        ctime_ns=int(r.ctime_ns),
        sha256=r.sha256,
        context=r.context,
        parse_key=r.parse_key,
        articles=tuple((str(i), str(h)) for i, h in json.loads(r.articles)),
        rejects=int(r.rejects),
    )


def _put_rows(conn: Connection, rows: Sequence[SourceFile], now: datetime) -> None:
    latest = {row.path: row for row in rows}
    for chunk in chunks(list(latest), IN_CHUNK):
        conn.execute(t_source_files.delete().where(t_source_files.c.path.in_(chunk)))
    insert_rows(
        conn,
        t_source_files,
        [
            {
                "path": row.path,
                "size": row.size,
                "mtime_ns": row.mtime_ns,
                "ctime_ns": row.ctime_ns,
                "sha256": row.sha256,
                "context": row.context,
                "parse_key": row.parse_key,
                "articles": json.dumps(row.articles, ensure_ascii=False),
                "rejects": row.rejects,
                "read": now,
            }
            for row in latest.values()
        ],
    )


def _touch_rejects(conn: Connection, sources: Sequence[str], now: datetime) -> list[Reject]:
    """Move the ``seen`` of these sources' rejects to ``now``, as reading the
    unchanged file again would, and return them."""
    found: list[Reject] = []
    for chunk in chunks(dict.fromkeys(sources), IN_CHUNK):
        conn.execute(update(t_rejects).where(t_rejects.c.source.in_(chunk)).values(seen=now))
        query = select(t_rejects).where(t_rejects.c.source.in_(chunk)).order_by(t_rejects.c.id)
        found.extend(
            Reject(source=r.source, reason=r.reason, seen=r.seen, location=r.location)
            for r in conn.execute(query)
        )
    return found
