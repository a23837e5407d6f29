"""Sources -> clean ``Article`` values (and ``Reject`` values for input
that cannot be used), stored by the ingest job.

The ingest job (``job``) runs every configured ``Source`` (``source``: the
protocol and the registry of source kinds) and stores what each yields;
``files`` is the source of folders of files, read in worker processes by
``pool``. The modules that turn a file into articles, in reading order:

* ``sources``: which files, and the name their articles carry;
* ``chrome``: the built-in chrome lines, and the lines a source folder's
  pages repeat (``learn_chrome``, a first pass before its pages are read);
* ``shapes``: chrome known by its shape (navigation bars, share and legal
  lines, related-article lists), so a page alone in its folder reads right;
* ``layout``: the role of each line of a page (``--explain`` prints it);
* ``pages``: scraped pages (``*.txt``) built from those roles;
* ``html_pages``: HTML pages (``*.html``, ``*.htm``): metadata
  (``html_meta``), the body (``html_body``), ``--explain`` (``html_explain``);
* ``records``: ``*.jsonl``, ``*.json``, ``*.yaml``/``*.yml``;
* ``dates``: page date lines and record dates;
* ``article``: cleaning, tags, bounds and the content hash, shared by both.

``content_hash`` covers what a reader sees (id, title, summary, content,
author, url, image, tags) and the dates *only when they come from the
input*: a date taken from the file's mtime is left out, so touching a file
does not make its article "updated".

Files are read in a bounded way: ``ingest.max_file_bytes`` is checked with
stat() before reading and at most that many bytes are read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from functools import cached_property, lru_cache
from importlib import metadata
from pathlib import Path

from feedpub.config import IngestConfig, SourceConfig, TagsConfig
from feedpub.ingest.article import content_hash
from feedpub.ingest.chrome import SourceLines, count_lines, line_hashes, merge_lines, page_texts
from feedpub.ingest.context import FileContext, Settings
from feedpub.ingest.dates import DateError, find_page_date, parse_record_date
from feedpub.ingest.pages import DEFAULT_CHROME_LINES, chrome_keys, explain, parse_page
from feedpub.ingest.records import (
    BINARY,
    BinaryFile,
    JsonlScan,
    decode,
    iter_jsonl,
    read_json,
    read_yaml,
    scan_jsonl,
)
from feedpub.ingest.sources import (
    HTML_SUFFIXES,
    PAGE_SUFFIXES,
    SCRAPED_SUFFIXES,
    STREAM_SUFFIXES,
    SUFFIXES,
    discover,
    source_name,
)
from feedpub.model import Article, Reject
from feedpub.text.arabic import compile_vocabulary

__all__ = [
    "DEFAULT_CHROME_LINES",
    "HTML_SUFFIXES",
    "PAGE_SUFFIXES",
    "SCRAPED_SUFFIXES",
    "STREAM_SUFFIXES",
    "SUFFIXES",
    "DateError",
    "Opened",
    "Settings",
    "SourceLines",
    "chrome_share",
    "content_hash",
    "discover",
    "explain_path",
    "find_page_date",
    "learn_chrome",
    "merge_lines",
    "open_source",
    "page_chrome",
    "parse_record_date",
    "read_path",
    "read_sources",
    "read_stream",
    "scan_stream",
    "settings",
    "source_name",
]


def settings(
    ingest: IngestConfig, tags: TagsConfig, *, timezone: tzinfo, site_url: str
) -> Settings:
    """What ingest needs from the config, compiled once for a run."""
    chrome = chrome_keys(tuple(ingest.chrome_lines))
    vocabulary = compile_vocabulary(tags.vocabulary)
    parts = [
        _code_hash(),
        # How many processes read a file is not what it reads as.
        repr(replace(ingest, workers="auto")),
        repr(sorted(chrome)),
        repr([(name, sorted(keys)) for name, keys, _pattern in vocabulary.entries]),
        str(timezone),
        site_url,
    ]
    digest = hashlib.sha256("\0".join(parts).encode("utf-8", "backslashreplace")).hexdigest()
    return Settings(ingest, chrome, vocabulary, timezone, site_url, fingerprint=digest)


@lru_cache(maxsize=1)
def _code_hash() -> str:
    """The code that turns files into articles (ingest, text, model): a
    cached reading of a file never outlives a change to its parser."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder in ("ingest", "text"):
        for module in sorted((root / folder).glob("*.py")):
            digest.update(module.name.encode() + b"\0" + module.read_bytes())
    digest.update((root / "model.py").read_bytes())
    # HTML pages read as their libraries read them: a new version may read
    # a page differently, so its cached reading is not trusted.
    for library in ("trafilatura", "extruct", "lxml"):
        digest.update(f"{library} {metadata.version(library)}".encode())
    return digest.hexdigest()


def page_chrome(opened: Opened, lines: SourceLines | None) -> list[str]:
    """The lines of a page its folder's learned chrome removes: with the
    page's bytes, all a page's reading depends on besides the settings
    (``layout`` asks the learned chrome only whether a line repeats)."""
    if lines is None or not lines.threshold or not _scraped(opened.source):
        return []
    if opened.texts is None:
        return []
    return sorted(line for line in set(opened.texts) if line and lines.repeats(line))


def learn_chrome(paths: Iterable[Path], limits: IngestConfig) -> dict[Path, SourceLines]:
    """The first pass: for each folder of pages among ``paths``, how many of
    its pages each line stands on (``chrome.count_lines``). Pages that cannot
    be read, or are over the limits, are left out here (reading them proper
    rejects them)."""
    folders: dict[Path, list[Path]] = {}
    for path in paths:
        if path.suffix.lower() in PAGE_SUFFIXES:
            folders.setdefault(path.parent, []).append(path)
    return {folder: count_lines(_page_texts(pages, limits)) for folder, pages in folders.items()}


def chrome_share(pages: Iterable[Path], limits: IngestConfig) -> tuple[int, list[int]]:
    """``learn_chrome`` of a share of one folder's pages, as ``chrome.line_hashes``:
    ``merge_lines`` of the shares of a folder is what ``learn_chrome`` learns."""
    return line_hashes(_page_texts(pages, limits))


def _scraped(name: str) -> bool:
    """A scraped text page (the pages learned chrome applies to; an HTML
    page has its markup to tell chrome from article)."""
    return name.lower().endswith(SCRAPED_SUFFIXES)


def _page_texts(paths: Iterable[Path], limits: IngestConfig) -> Iterator[str]:
    cap = min(limits.max_file_bytes, limits.max_article_bytes)
    for path in paths:
        if not _scraped(path.name):
            continue
        try:
            with path.open("rb") as stream:
                data = stream.read(cap + 1)
        except OSError:
            continue
        if len(data) > cap or b"\x00" in data:
            continue
        text, _ = decode(data)
        if text is not None:
            yield text


def explain_path(path: Path, run: Settings, now: datetime) -> list[str]:
    """What each line of the page at ``path`` is taken as, and why, with the
    chrome its folder's pages teach; for an HTML page, where each field came
    from and why each block was left out (``feedpub ingest --explain``)."""
    if path.suffix.lower() in HTML_SUFFIXES:
        return _explain_html(path, run, now)
    if path.suffix.lower() not in PAGE_SUFFIXES:
        return [f"{path}: not a scraped page ({', '.join(PAGE_SUFFIXES)})"]
    siblings = sorted(p for p in path.parent.glob("*") if not p.name.startswith("."))
    lines = learn_chrome([p for p in siblings if p.is_file()], run.limits).get(path.parent)
    with path.open("rb") as stream:
        data = stream.read(run.limits.max_file_bytes + 1)
    if len(data) > run.limits.max_file_bytes:
        return [f"{path}: larger than ingest.max_file_bytes ({run.limits.max_file_bytes})"]
    text, error = decode(data)
    if text is None:
        return [f"{path}: {error}"]
    mtime = datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC).astimezone(run.tz)
    ctx = FileContext(source=source_name(path), settings=run, now=now, mtime=mtime, lines=lines)
    return explain(text, ctx)


def _explain_html(path: Path, run: Settings, now: datetime) -> list[str]:
    from feedpub.ingest.html_explain import explain_html  # imports trafilatura and extruct

    opened = open_source(path, run, now)
    if opened.early is not None:
        return [item.describe() for item in opened.early if isinstance(item, Reject)]
    assert opened.stat is not None and opened.data is not None
    ctx = _context(path, run, now, opened.stat)
    return [f"{path}:", *explain_html(opened.data, ctx, path=path)]


@dataclass(frozen=True)
class Opened:
    """A source file as read for parsing: its bytes and their stat, or the
    rejects that end it before parsing (a name that is not UTF-8, a file
    that cannot be read, one over the limits by its size)."""

    source: str
    stat: os.stat_result | None = None
    data: bytes | None = None
    early: list[Article | Reject] | None = None

    @property
    def streamed(self) -> bool:
        """A line-per-record file: not read here (``scan_stream``, ``read_stream``)."""
        return self.source.lower().endswith(STREAM_SUFFIXES)

    @cached_property
    def decoded(self) -> tuple[str | None, str]:
        """``records.decode`` of the bytes, once for the parse key and the parse."""
        return decode(self.data) if self.data is not None else (None, "")

    @cached_property
    def texts(self) -> list[str] | None:
        """A page's lines as ``chrome.page_texts`` makes them (None when the
        bytes are not text): shared by ``page_chrome`` and the classifier."""
        text = self.decoded[0]
        return None if text is None else page_texts(text)


def open_source(path: Path, run: Settings, now: datetime) -> Opened:
    """Read ``path`` in a bounded way (its size checked with stat() first,
    at most ``ingest.max_file_bytes`` + 1 bytes read): what ``read_path``
    parses, and what ``app`` hashes to know an unchanged file. A
    line-per-record file is only opened: it is read as a stream."""
    source = source_name(path)
    if source != str(path):
        return Opened(
            source, early=[Reject(source=source, reason="file name is not UTF-8", seen=now)]
        )
    limits = run.limits
    try:
        with path.open("rb") as stream:
            stat = os.fstat(stream.fileno())
            if source.lower().endswith(STREAM_SUFFIXES):
                return Opened(source, stat)
            too_big = _too_big(stat.st_size, _scraped(path.name), limits)
            if too_big:
                return Opened(source, stat, early=[_context(path, run, now, stat).reject(too_big)])
            data = stream.read(limits.max_file_bytes + 1)
    except OSError as exc:
        return Opened(
            source, early=[Reject(source, f"cannot read file: {exc.strerror or exc}", now)]
        )
    return Opened(source, stat, data)


def _context(
    path: Path, run: Settings, now: datetime, stat: os.stat_result, lines: SourceLines | None = None
) -> FileContext:
    mtime = datetime.fromtimestamp(int(stat.st_mtime), tz=UTC).astimezone(run.tz)
    return FileContext(source=source_name(path), settings=run, now=now, mtime=mtime, lines=lines)


def read_path(
    path: Path,
    run: Settings,
    now: datetime,
    lines: SourceLines | None = None,
    opened: Opened | None = None,
) -> list[Article | Reject]:
    """One file -> its articles and rejects, in file order, each with
    ``source_name(path)`` as its source. Never raises for bad content: every
    problem is a Reject stamped ``now``. ``lines`` is what ``learn_chrome``
    found for the file's folder (without it, a page has the seed chrome only).
    ``opened``: the file as ``open_source`` already read it."""
    if opened is None:
        opened = open_source(path, run, now)
    if opened.early is not None:
        return opened.early
    assert opened.stat is not None
    if opened.streamed:
        try:
            scan = scan_stream(path, run)
        except OSError as exc:
            return [Reject(opened.source, f"cannot read file: {exc.strerror or exc}", now)]
        return list(read_stream(path, run, now, opened.stat, scan))
    assert opened.data is not None
    ctx = _context(path, run, now, opened.stat, lines)
    data = opened.data
    too_big = _too_big(len(data), _scraped(path.name), run.limits)
    if too_big:  # it grew since stat()
        return [ctx.reject(too_big)]
    return _read_text(opened, path, ctx)


def scan_stream(path: Path, run: Settings) -> JsonlScan:
    """The first pass over a line-per-record file (``records.scan_jsonl``):
    its hash, and which line of each id is the record. Raises OSError."""
    with path.open("rb") as stream:
        return scan_jsonl(stream, run.limits.max_article_bytes)


def read_stream(
    path: Path, run: Settings, now: datetime, stat: os.stat_result, scan: JsonlScan
) -> Iterator[Article | Reject]:
    """The records of a line-per-record file, read a line at a time as far
    as ``scan`` read it: memory bounded by a line, whatever the file's size."""
    ctx = _context(path, run, now, stat)
    if scan.binary:
        yield ctx.reject(BINARY)
        return
    try:
        with path.open("rb") as stream:
            yield from iter_jsonl(stream, ctx, scan=scan)
    except BinaryFile:  # rewritten since the scan
        yield ctx.reject(BINARY)
    except OSError as exc:
        yield ctx.reject(f"cannot read file: {exc.strerror or exc}")


def _too_big(size: int, is_page: bool, limits: IngestConfig) -> str | None:
    if size > limits.max_file_bytes:
        return f"file is {size} bytes, larger than ingest.max_file_bytes ({limits.max_file_bytes})"
    if is_page and size > limits.max_article_bytes:
        # A scraped page is one article (an HTML page's content is checked
        # against the limit once extracted: its markup is most of it).
        return (
            f"file is {size} bytes, larger than "
            f"ingest.max_article_bytes ({limits.max_article_bytes})"
        )
    return None


def _read_text(opened: Opened, path: Path, ctx: FileContext) -> list[Article | Reject]:
    data = opened.data
    assert data is not None
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        # Imported here, by the first HTML page a process reads: trafilatura
        # and extruct take 0.5 s to import, and most sources hold no HTML.
        from feedpub.ingest.html_pages import read_html

        return read_html(data, ctx, path=path)  # it decodes: a page declares its charset
    if b"\x00" in data:
        return [ctx.reject("binary file (contains NUL bytes; UTF-16 or not text)")]
    if not data.strip():
        return [ctx.reject("empty file")]
    text, error = opened.decoded
    if text is None:
        return [ctx.reject(error)]
    if not text.strip(" \t\r\n\ufeff"):
        return [ctx.reject("empty file")]
    if suffix in SCRAPED_SUFFIXES:
        return parse_page(text, path, ctx, opened.texts)
    if suffix == ".json":
        return list(read_json(text, ctx))
    return list(read_yaml(text, ctx))


def read_sources(
    sources: Sequence[SourceConfig], run: Settings, now: datetime
) -> Iterator[Article | Reject]:
    """``discover`` then ``read_path`` for every file: all articles and rejects."""
    paths, problems = discover([s.path for s in sources if s.kind == "path"], now)
    yield from problems
    learned = learn_chrome(paths, run.limits)
    for path in paths:
        yield from read_path(path, run, now, learned.get(path.parent))
