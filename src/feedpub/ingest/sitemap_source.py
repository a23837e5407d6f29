"""The ``sitemap`` source: a site's HTML article pages, found through its
sitemaps and read as saved HTML pages are (``html_pages``).

```yaml
sources:
  - sitemap: https://news.example.org/sitemap_index.xml
    include: ["/news/*"]           # URL patterns (fnmatch; one starting with /
    exclude: ["*/tag/*"]           # matches the path and query), default: all
    max_pages_per_run: 200         # a first run on a big site takes several
    delay: 1                       # seconds between two requests to the host
```

Each run:

1. ``robots.txt`` (kept for a day, as RFC 9309 allows): what may be fetched,
   and its ``Crawl-delay`` when longer than ``delay``. A 5xx answer allows
   nothing: the source fails until it can be read.
2. The sitemaps, from the configured one down its index (gzip too; Google
   News sitemaps' ``publication_date`` is their lastmod): each fetched with
   a conditional GET (its ``ETag`` and ``Last-Modified`` in the cursor), and a
   child whose ``lastmod`` in its index has not moved not fetched at all. The
   pages each lists are remembered with their ``lastmod`` (table
   ``sitemap_pages``), one batch per sitemap.
3. The pages due (never fetched, or their lastmod moved since), newest
   first, at most ``max_pages_per_run``: each fetched with a conditional GET
   (a 304 costs nothing), read by ``html_pages.read_html`` into an article or
   a reject naming the URL (a page that is not an article), and remembered
   as fetched in the transaction that stores what it gave. A page answering
   404 or 410 withdraws the article it gave.

So a second run with nothing changed fetches robots.txt at most daily and
the sitemaps with conditional GETs, and no page. A page without any lastmod
is fetched once. A site that cannot be reached, or whose sitemap is not
one (an HTML page), fails the source with one line; what earlier batches
stored stays, and the next run goes on from there.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

from feedpub.config import ConfigError, SourceConfig
from feedpub.ingest import http
from feedpub.ingest.context import FileContext
from feedpub.ingest.html_pages import read_html
from feedpub.ingest.sitemaps import Robots, SitemapError, parse_sitemap
from feedpub.ingest.source import Batch, Item, Progress, Source, SourceContext, SourceError
from feedpub.model import Article, Reject, SitemapPage

log = logging.getLogger("feedpub.ingest.sitemap")

OPTIONS = ("include", "exclude", "max_pages_per_run", "delay")
DEFAULT_MAX_PAGES = 200
DEFAULT_DELAY = 1.0
MAX_CRAWL_DELAY = 60.0  # a robots.txt asking for more is taken as this
MAX_SITEMAPS = 1000  # sitemap files read in one run at most
MAX_URL_CHARS = 2048  # the store's column; longer ones are skipped
PAGES_PER_BATCH = 20
ROBOTS_FOR = timedelta(hours=24)  # RFC 9309 2.4: a cached robots.txt, a day at most
MAX_ROBOTS_KEPT = 64 * 1024  # bytes of robots.txt kept in the cursor
SITEMAP_BYTES = 52 * 1024 * 1024  # the protocol's 50 MB, and a little room
AGENT = "feedpub"  # the name robots.txt rules are matched against
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class PageState(Protocol):
    """What the source needs of the store (declared by its consumer)."""

    def sitemap_pages(self, source: str) -> dict[str, SitemapPage]: ...


@dataclass(frozen=True)
class PagesBatch(Batch):
    """A batch with the pages it covers, written in its transaction."""

    pages: tuple[SitemapPage, ...] = ()


# --- config --------------------------------------------------------------------------


@dataclass(frozen=True)
class SitemapOptions:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_pages_per_run: int = DEFAULT_MAX_PAGES
    delay: float = DEFAULT_DELAY


def sitemap_sources(configs: Sequence[SourceConfig], context: SourceContext) -> list[Source]:
    """The ``sitemap`` kind: one source per entry."""
    made: list[Source] = []
    names: dict[str, str] = {}
    for config in configs:
        source = SitemapSource(_sitemap_url(config), _options(config), context)
        if source.name in names:
            raise ConfigError(f"{config.where}: the same sitemap as {names[source.name]}")
        names[source.name] = config.where
        made.append(source)
    return made


def _sitemap_url(config: SourceConfig) -> str:
    raw = config.location.strip()
    try:
        parts = urlsplit(raw)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{config.where}: sitemap: not an http(s) URL: {raw!r}")
    return raw


def _options(config: SourceConfig) -> SitemapOptions:
    where = config.where
    options = SitemapOptions()
    for key, value in config.options.items():
        if key in ("include", "exclude"):
            patterns = [value] if isinstance(value, str) else value
            if not isinstance(patterns, list) or not all(
                isinstance(p, str) and p.strip() for p in patterns
            ):
                raise ConfigError(
                    f"{where}.{key}: a list of URL patterns such as ['/news/*'], got {value!r}"
                )
            cleaned = tuple(p.strip() for p in patterns)
            if key == "include":
                options = replace(options, include=cleaned)
            else:
                options = replace(options, exclude=cleaned)
        elif key == "max_pages_per_run":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}.max_pages_per_run: a whole number (1 or more)")
            options = replace(options, max_pages_per_run=value)
        elif key == "delay":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}.delay: seconds (0 or more), got {value!r}")
            options = replace(options, delay=float(value))
        else:
            raise ConfigError(f"{where}.{key}: unknown key (known here: {', '.join(OPTIONS)})")
    return options


def _matches(url: str, patterns: Sequence[str]) -> bool:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return any(fnmatch.fnmatchcase(path if p.startswith("/") else url, p) for p in patterns)


# --- the cursor ----------------------------------------------------------------------


@dataclass
class Cursor:
    """Per sitemap file: its validators, its lastmod in its index when read,
    and (an index) its children; robots.txt as last read."""

    sitemaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    robots: dict[str, Any] = field(default_factory=dict)

    def dump(self) -> str:
        data = {"v": 1, "sitemaps": self.sitemaps, "robots": self.robots}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def load(cls, text: str | None, name: str) -> Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(dict(data["sitemaps"]), dict(data.get("robots") or {}))
        except (ValueError, KeyError, TypeError):
            log.warning("%s: its stored cursor cannot be read; reading the sitemaps again", name)
            return cls()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- the source ----------------------------------------------------------------------


class SitemapSource:
    """The pages of one sitemap (see the module docstring)."""

    def __init__(
        self,
        sitemap: str,
        options: SitemapOptions,
        context: SourceContext,
        *,
        client: http.Client | None = None,
    ) -> None:
        self.sitemap = sitemap
        self.options = options
        self.context = context
        parts = urlsplit(sitemap)
        self.name = "sitemap:" + (parts.netloc + parts.path).rstrip("/")
        self.client = client or http.Client(
            self.name, replace(http.DEFAULTS, delay=options.delay, max_bytes=SITEMAP_BYTES)
        )

    def close(self) -> None:
        self.client.close()

    def read(self, cursor: str | None, now: datetime, progress: Progress | None) -> Iterator[Batch]:
        store = self.context.files
        if not hasattr(store, "sitemap_pages"):
            raise SourceError(f"{self.name}: no store to remember its pages in")
        state = Cursor.load(cursor, self.name)
        known = cast("PageState", store).sitemap_pages(self.name)
        robots = self._robots(state, now)
        crawl_delay = robots.crawl_delay(AGENT)
        if crawl_delay is not None and crawl_delay > self.options.delay:
            self.client.options = replace(
                self.client.options, delay=min(crawl_delay, MAX_CRAWL_DELAY)
            )
        yield from self._walk(state, known, robots, now)
        yield from self._fetch_due(known, robots, now, progress)

    def explain(self, ref: str, now: datetime) -> list[str] | None:
        """``feedpub ingest --explain URL`` for a page of this site: fetched
        and explained as a saved page is (None for anything else)."""
        try:
            parts = urlsplit(ref)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or parts.netloc != urlsplit(self.sitemap).netloc:
            return None
        from feedpub.ingest.html_explain import explain_html

        try:
            answer = self.client.get(ref)
        except SourceError as exc:
            raise OSError(str(exc)) from None
        ctx = FileContext(ref, self.context.settings, now, now)
        head = f"page of {self.name}, fetched from {http.shown(answer.url)}"
        return [head, *explain_html(answer.content, ctx, url=answer.url, charset=answer.charset)]

    # --- robots.txt ---------------------------------------------------------------

    def _robots(self, state: Cursor, now: datetime) -> Robots:
        parts = urlsplit(self.sitemap)
        url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
        kept = state.robots
        fetched = kept.get("fetched")
        if (
            kept.get("url") == url
            and fetched
            and now - datetime.fromisoformat(fetched) < ROBOTS_FOR
        ):
            return Robots.for_status(int(kept["status"]), str(kept["text"]).encode())
        answer = self.client.get(url, allow=range(400, 600))
        if answer.status >= 500:
            raise SourceError(
                f"{self.name}: {url} answered {answer.status}: robots.txt cannot be read, and "
                "until it can nothing may be fetched (RFC 9309)"
            )
        if len(answer.content) <= MAX_ROBOTS_KEPT:
            state.robots = {
                "url": url,
                "status": answer.status,
                "text": answer.content.decode("utf-8", "replace"),
                "fetched": now.isoformat(),
            }
        return Robots.for_status(answer.status, answer.content)

    # --- the sitemaps -------------------------------------------------------------

    def _walk(
        self, state: Cursor, known: dict[str, SitemapPage], robots: Robots, now: datetime
    ) -> Iterator[PagesBatch]:
        """Every sitemap from the configured one down, each read (unless
        unchanged) into a batch of the pages whose lastmod it changed."""
        queue: list[tuple[str, datetime | None]] = [(self.sitemap, None)]
        walked: set[str] = set()
        while queue:
            url, listed = queue.pop(0)
            if url in walked:
                continue
            walked.add(url)
            if len(walked) > MAX_SITEMAPS:
                log.warning("%s: more than %d sitemaps; the rest next run", self.name, MAX_SITEMAPS)
                break
            kept = state.sitemaps.get(url, {})
            root = url == self.sitemap
            if listed is not None and kept.get("lastmod") == listed.isoformat():
                # Unchanged since it was read, as its index says: its pages are
                # remembered; an index's children are walked.
                queue += [(c, _parse_when(m)) for c, m in kept.get("children", {}).items()]
                continue
            if not robots.allowed(url, AGENT):
                yield self._sitemap_reject(url, "robots.txt does not allow fetching it", root, now)
                continue
            answer = self._get_sitemap(url, kept, root)
            if isinstance(answer, str):
                yield self._sitemap_reject(url, answer, root, now)
                continue
            if answer.not_modified:
                queue += [(c, _parse_when(m)) for c, m in kept.get("children", {}).items()]
                continue
            if answer.status >= 400:
                reason = f"answered {answer.status} {http.phrase(answer.status)}"
                yield self._sitemap_reject(url, reason, root, now)
                continue
            try:
                parsed = parse_sitemap(answer.content, url, self.context.timezone)
            except SitemapError as exc:
                if root:
                    raise SourceError(f"{self.name}: {exc}") from None
                yield self._sitemap_reject(url, str(exc).removeprefix(f"{url}: "), root, now)
                continue
            entry: dict[str, Any] = {
                "etag": answer.etag,
                "last_modified": answer.last_modified,
                "lastmod": _iso(listed),
            }
            pages: list[SitemapPage] = []
            if parsed.index:
                children = {c.url: _iso(c.lastmod) for c in parsed.children}
                entry["children"] = children
                queue += [(c.url, c.lastmod) for c in parsed.children]
            else:
                for page in parsed.pages:
                    changed = page.changed
                    if len(page.url) > MAX_URL_CHARS:
                        continue
                    row = known.get(page.url)
                    if row is None:
                        row = SitemapPage(page.url, changed)
                    elif row.lastmod == changed:
                        continue
                    else:
                        row = replace(row, lastmod=changed)
                    known[page.url] = row
                    pages.append(row)
            state.sitemaps[url] = {k: v for k, v in entry.items() if v is not None}
            notes = tuple(Reject(url, note, now) for note in parsed.notes)
            yield PagesBatch(items=(Item(url, (), notes),), pages=tuple(pages), cursor=state.dump())

    def _get_sitemap(self, url: str, kept: Mapping[str, Any], root: bool) -> http.Response | str:
        """The answer, or why there is none (a child's lasting failure: the
        root's, and a site that is down, fail the source)."""
        try:
            return self.client.get(
                url,
                etag=kept.get("etag"),
                last_modified=kept.get("last_modified"),
                allow=range(400, 500),
            )
        except http.FetchError as exc:
            if exc.transient or root:
                raise
            return str(exc).removeprefix(f"{self.name}: {http.shown(exc.url)}: ")

    def _sitemap_reject(self, url: str, reason: str, root: bool, now: datetime) -> PagesBatch:
        """A child sitemap that cannot be read: a reject; the configured one:
        the source fails."""
        if root:
            raise SourceError(f"{self.name}: {url}: {reason}")
        return PagesBatch(items=(Item(url, (), (Reject(url, reason, now),)),))

    # --- the pages ----------------------------------------------------------------

    def _fetch_due(
        self,
        known: dict[str, SitemapPage],
        robots: Robots,
        now: datetime,
        progress: Progress | None,
    ) -> Iterator[PagesBatch]:
        options = self.options
        due = [
            page
            for page in known.values()
            if page.due
            and (not options.include or _matches(page.url, options.include))
            and not _matches(page.url, options.exclude)
        ]
        allowed = [page for page in due if robots.allowed(page.url, AGENT)]
        if len(allowed) < len(due):
            log.info("%s: %d pages not fetched: robots.txt", self.name, len(due) - len(allowed))
        # The newest first: a first run over a big site reads the news first.
        allowed.sort(
            key=lambda p: (p.lastmod is None, -(p.lastmod.timestamp() if p.lastmod else 0), p.url)
        )
        todo = allowed[: options.max_pages_per_run]
        if len(allowed) > len(todo):
            log.info(
                "%s: %d pages due, %d read now (max_pages_per_run), the rest next run",
                self.name,
                len(allowed),
                len(todo),
            )
        for start in range(0, len(todo), PAGES_PER_BATCH):
            items: list[Item] = []
            pages: list[SitemapPage] = []
            withdrawn: list[str] = []
            for page in todo[start : start + PAGES_PER_BATCH]:
                item, row, gone = self._fetch(page, now)
                if item is not None:
                    items.append(item)
                pages.append(row)
                withdrawn += gone
                if progress is not None:
                    progress(start + len(pages), len(todo))
            yield PagesBatch(items=tuple(items), withdrawn=tuple(withdrawn), pages=tuple(pages))

    def _fetch(
        self, page: SitemapPage, now: datetime
    ) -> tuple[Item | None, SitemapPage, list[str]]:
        """One page: its item (None when it answered 304), its row as
        fetched, and the article id to withdraw when it is gone."""
        url = page.url
        fetched = replace(page, fetched=now, fetched_lastmod=page.lastmod)
        try:
            answer = self.client.get(
                url,
                etag=page.etag if page.fetched else None,
                last_modified=page.last_modified if page.fetched else None,
                allow=range(400, 500),
            )
        except http.FetchError as exc:
            if exc.transient:
                raise
            reason = str(exc).removeprefix(f"{self.name}: {http.shown(exc.url)}: ")
            return Item(url, (), (Reject(url, reason, now),)), fetched, []
        if answer.not_modified:
            return None, fetched, []
        if answer.status >= 400:
            reason = f"answered {answer.status} {http.phrase(answer.status)}"
            gone = [page.article_id] if answer.status in (404, 410) and page.article_id else []
            return (
                Item(url, (), (Reject(url, reason, now),)),
                replace(fetched, article_id=None),
                gone,
            )
        fetched = replace(fetched, etag=answer.etag, last_modified=answer.last_modified)
        kind = (answer.header("content-type") or "text/html").split(";")[0].strip().lower()
        if kind not in _HTML_TYPES:
            reason = f"not an HTML page ({kind})"
            return Item(url, (), (Reject(url, reason, now),)), fetched, []
        ctx = FileContext(url, self.context.settings, now, page.lastmod or now)
        read = read_html(answer.content, ctx, url=answer.url, charset=answer.charset)
        articles = tuple(replace(a, source=self.name) for a in read if isinstance(a, Article))
        rejects = tuple(r for r in read if isinstance(r, Reject))
        article_id = articles[0].id if articles else None
        gone = [page.article_id] if page.article_id and page.article_id != article_id else []
        return Item(url, articles, rejects), replace(fetched, article_id=article_id), gone


def _parse_when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
