"""One read of a WordPress site (``wordpress``): the posts changed since
the cursor, a page of the listing per batch, and the reconcile pass that
withdraws what the site no longer publishes; the cursor they move."""

from __future__ import annotations

import email.utils
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedpub.ingest import http
from feedpub.ingest.context import FileContext
from feedpub.ingest.source import Batch, Item, Progress, SourceError
from feedpub.ingest.wordpress_posts import Mapped, PostError, map_post, post_id_of
from feedpub.model import Article

if TYPE_CHECKING:
    from feedpub.ingest.wordpress import WordPressSource

log = logging.getLogger("feedpub.ingest.wordpress")

PER_PAGE = 100  # the API's maximum
# How far before the cursor each listing starts (``wordpress``'s docstring says why).
OVERLAP = timedelta(seconds=10)
# A post modified this close to the answer's own Date may still be being
# saved (its terms are written after the post row): it is not remembered as
# seen, so the next run reads it again (git's "racily clean" files).
RACY = timedelta(seconds=5)
# Posts remembered in the overlap window at most (the cursor stays small).
MAX_SEEN = 1000
EMBED = "author,wp:term,wp:featuredmedia"
FIELDS = "id,date_gmt,modified_gmt,link,title,excerpt,content,type,_links,_embedded"


class StoredIds(Protocol):
    """What the reconcile pass needs of the store (declared by its consumer)."""

    def source_article_ids(self, source: str) -> list[str]: ...


# --- the API ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    """Where a site's REST API answers (its index URL) and its time zone."""

    root: str
    timezone: str = ""  # the site's timezone_string ("" for a fixed offset)

    def route(self, route: str) -> tuple[str, dict[str, str]]:
        """The URL and the query parameters of ``route`` ("wp/v2/posts")."""
        parts = urlsplit(self.root)
        query = dict(parse_qsl(parts.query))
        if "rest_route" in query:  # a site without pretty permalinks
            query["rest_route"] = "/" + route
            return urlunsplit(parts._replace(query="")), query
        base = self.root if self.root.endswith("/") else self.root + "/"
        return urljoin(base, route), query


# --- the cursor ----------------------------------------------------------------------


@dataclass
class TypeCursor:
    modified: datetime | None = None  # the newest modified_gmt stored
    seen: dict[int, str] = field(default_factory=dict)  # post id -> its modified_gmt

    def to_json(self) -> dict[str, Any]:
        return {
            "modified": self.modified.isoformat() if self.modified else None,
            "seen": {str(k): v for k, v in self.seen.items()},
        }


@dataclass
class Cursor:
    api: Api | None = None
    types: dict[str, TypeCursor] = field(default_factory=dict)
    reconciled: datetime | None = None

    def dump(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "api": self.api.root if self.api else None,
                "timezone": self.api.timezone if self.api else "",
                "types": {name: t.to_json() for name, t in self.types.items()},
                "reconciled": self.reconciled.isoformat() if self.reconciled else None,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def load(cls, text: str | None, name: str) -> Cursor:
        """The cursor as stored; a missing or unreadable one starts over
        (everything is read again, nothing is lost)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            api = Api(data["api"], data.get("timezone") or "") if data.get("api") else None
            types = {
                name: TypeCursor(
                    _when(t.get("modified")), {int(k): str(v) for k, v in t["seen"].items()}
                )
                for name, t in data.get("types", {}).items()
            }
            return cls(api, types, _when(data.get("reconciled")))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("%s: its stored cursor cannot be read; reading the site again", name)
            return cls()


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class StaleApi(Exception):
    """The API root kept in the cursor no longer answers as one."""


def json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


class Run:
    """One read of a site: the cursor as it moves, and what was read."""

    def __init__(
        self, source: WordPressSource, state: Cursor, now: datetime, progress: Progress | None
    ) -> None:
        self.source = source
        self.state = state
        self.now = now
        self.progress = progress
        self.pages = 0
        self.read_ids: dict[str, set[int]] = {}  # post type -> ids read (published)
        self.done: dict[int, str] = {}  # post id -> modified_gmt, read in this run
        self.reported = (0, 0)  # the last (done, total) given to ``progress``
        # Whether the API answered as one in this run (else, from the cursor,
        # a first answer that is not JSON means it moved: ``StaleApi``).
        self.confirmed = False

    @property
    def api(self) -> Api:
        if self.state.api is None:
            self.state.api = self.source.discover()
            self.confirmed = True
        return self.state.api

    def get_json(
        self, route: str, params: Mapping[str, str | int], allow: Iterable[int] = ()
    ) -> tuple[http.Response, Any]:
        """GET ``route`` ("wp/v2/posts") of the API: the answer and its JSON
        (for an ``allow``ed error status, its JSON or None)."""
        url, base = self.api.route(route)
        answer = self.source.client.get(url, params={**base, **params}, allow=(*allow, 404))
        where = f"{self.source.name}: {http.shown(answer.url)}"
        data = json_or_none(answer.content)
        if (
            answer.status == 404
            and isinstance(data, Mapping)
            and data.get("code") == "rest_no_route"
        ):
            raise SourceError(
                f"{where}: the site has no route {route!r} (post_types names REST bases "
                "such as posts, pages)"
            )
        if answer.status == 404 or (answer.status < 400 and data is None):
            if not self.confirmed:
                raise StaleApi()
            if answer.status == 404:
                raise SourceError(f"{where}: answered 404 Not Found")
            http.json_of(answer, where)  # raises, naming what came instead
        self.confirmed = True
        return answer, data

    def sync_all(self) -> Iterator[Batch]:
        for post_type in self.source.options.post_types:
            yield from self.sync(post_type)

    # --- the changed posts ------------------------------------------------------

    def sync(self, post_type: str) -> Iterator[Batch]:
        """The posts of ``post_type`` modified since the cursor: a light
        listing (ids and ``modified_gmt``, 100 a page), then the ones not read
        before fetched whole by id (``include``, with ``_embed``); one batch
        per page of the listing, its cursor covering exactly that page."""
        tcursor = self.state.types.setdefault(post_type, TypeCursor())
        route = f"wp/v2/{post_type}"
        after = self._start(tcursor.modified)
        page = 1
        read = self.read_ids.setdefault(post_type, set())
        while True:
            params: dict[str, str | int] = {
                "per_page": PER_PAGE,
                "page": page,
                "orderby": "modified",
                "order": "asc",
                "status": "publish",
                "_fields": "id,modified_gmt",
            }
            if after is not None:
                params["modified_after"] = after.isoformat()
            answer, listed = self.get_json(route, params, allow=(400,))
            if answer.status == 400:
                if _past_last_page(listed):
                    break  # the last page shrank away under us
                raise self._error(answer, listed)
            changed = self._changed(answer, listed, tcursor, read)
            served_at = _served_at(answer, self.now)
            posts = self._fetch_posts(route, [i for i, _ in changed]) if changed else []
            yield self._page(posts, listed, tcursor, served_at)
            self.pages += 1
            total_pages = _int(answer.header("x-wp-totalpages"))
            self._report(self.pages + max((total_pages or page) - page, 0))
            if len(listed) < PER_PAGE or (total_pages is not None and page >= total_pages):
                break
            moved = self._start(tcursor.modified)
            if moved is not None and (after is None or moved > after):
                after, page = moved, 1
            else:
                page += 1

    def _start(self, modified: datetime | None) -> datetime | None:
        return query_start(modified, _zone(self.api.timezone), self.now)

    def _changed(
        self, answer: http.Response, listed: Any, tcursor: TypeCursor, read: set[int]
    ) -> list[tuple[int, str]]:
        """The (id, modified_gmt) of a listing's posts not read before as
        they are now."""
        if not isinstance(listed, list):
            raise SourceError(
                f"{self.source.name}: {http.shown(answer.url)}: the answer is not a list "
                f"of posts (got JSON {type(listed).__name__})"
            )
        changed = []
        for entry in listed:
            try:
                post_id = post_id_of(entry)
            except PostError as exc:
                raise SourceError(f"{self.source.name}: {exc}") from None
            read.add(post_id)
            modified = str(entry.get("modified_gmt") or "")
            if modified not in (tcursor.seen.get(post_id), self.done.get(post_id)):
                changed.append((post_id, modified))
        return changed

    def _fetch_posts(self, route: str, ids: Sequence[int]) -> list[Any]:
        """The posts ``ids`` whole, oldest change first (one published since
        the listing was read is simply not among them)."""
        answer, posts = self.get_json(
            route,
            {
                "include": ",".join(map(str, ids)),
                "per_page": PER_PAGE,
                "status": "publish",
                "_embed": EMBED,
                "_fields": FIELDS,
            },
        )
        if not isinstance(posts, list):
            raise SourceError(
                f"{self.source.name}: {http.shown(answer.url)}: the answer is not a list of posts"
            )
        for post in posts:
            try:
                post_id_of(post)
            except PostError as exc:
                raise SourceError(f"{self.source.name}: {exc}") from None
        return sorted(posts, key=lambda p: (str(p.get("modified_gmt") or ""), p["id"]))

    def _page(
        self, posts: list[Any], listed: list[Any], tcursor: TypeCursor, served_at: datetime
    ) -> Batch:
        """The batch of one page of the listing: its posts read, and the
        cursor moved to the newest change the listing showed (never to a
        later one a post fetched since has: posts listed after it are not
        read yet)."""
        items: list[Item] = []
        withdrawn: list[str] = []
        for post in posts:
            mapped = self.map(post)
            items.append(self._item(mapped))
            if mapped.withdraw:
                withdrawn.append(self.source.article_id(mapped.post_id))
            modified = str(post.get("modified_gmt") or "")
            self.done[mapped.post_id] = modified
            if mapped.modified is not None and served_at - mapped.modified > RACY:
                tcursor.seen[mapped.post_id] = modified
        for entry in listed:
            when = _when_gmt(str(entry.get("modified_gmt") or ""))
            if when is not None and (tcursor.modified is None or when > tcursor.modified):
                tcursor.modified = when
        if tcursor.modified is not None:
            floor = tcursor.modified - OVERLAP
            kept = {
                k: v
                for k, v in tcursor.seen.items()
                if (when := _when_gmt(v)) is not None and when >= floor
            }
            if len(kept) > MAX_SEEN:  # forget the oldest: read again, never lost
                kept = dict(sorted(kept.items(), key=lambda kv: kv[1])[-MAX_SEEN:])
            tcursor.seen = kept
        return Batch(items=tuple(items), withdrawn=tuple(withdrawn), cursor=self.state.dump())

    def map(self, post: Mapping[str, Any]) -> Mapped:
        source = self.source
        article_id = source.article_id(post_id_of(post))
        ctx = FileContext(article_id, source.context.settings, self.now, self.now)
        return map_post(post, article_id, source.name, ctx)

    def _item(self, mapped: Mapped) -> Item:
        articles = tuple(i for i in mapped.items if isinstance(i, Article))
        rejects = tuple(i for i in mapped.items if not isinstance(i, Article))
        return Item(self.source.article_id(mapped.post_id), articles, rejects)

    def _error(self, answer: http.Response, data: Any) -> SourceError:
        message = data.get("message") if isinstance(data, Mapping) else None
        return SourceError(
            f"{self.source.name}: {http.shown(answer.url)}: answered {answer.status}"
            + (f" ({' '.join(str(message).split())})" if message else "")
        )

    # --- deletions ----------------------------------------------------------------

    def reconcile(self, listed: Mapping[str, set[int]] | None) -> Iterator[Batch]:
        """Withdraw the stored posts no longer published; read the published
        ones the store lacks. ``listed``: the ids per type a full read just
        listed (else they are listed here, ``_fields=id``)."""
        store = self.source.context.files
        if not hasattr(store, "source_article_ids"):
            raise SourceError(f"{self.source.name}: no store to reconcile with")
        stored_ids = cast("StoredIds", store)
        published = dict(listed) if listed is not None else self._list_ids()
        prefix = self.source.name + ":"
        stored: set[int] = set()
        for article_id in stored_ids.source_article_ids(self.source.name):
            number = article_id.removeprefix(prefix)
            if article_id.startswith(prefix) and number.isdigit():
                stored.add(int(number))
        everywhere = set().union(*published.values()) if published else set()
        gone = stored - everywhere
        if gone:
            gone -= self._still_published(gone)
        if listed is None:
            for post_type, ids in published.items():
                missing = sorted(ids - stored - set(self.done))
                for start in range(0, len(missing), PER_PAGE):
                    yield self._fetch(post_type, missing[start : start + PER_PAGE])
        self.state.reconciled = self.now
        if gone:
            log.info("%s: %d posts no longer published, withdrawn", self.source.name, len(gone))
        yield Batch(
            withdrawn=tuple(self.source.article_id(i) for i in sorted(gone)),
            cursor=self.state.dump(),
        )

    def _list_ids(self) -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        for post_type in self.source.options.post_types:
            ids = found.setdefault(post_type, set())
            page = 1
            while True:
                answer, data = self.get_json(
                    f"wp/v2/{post_type}",
                    {
                        "per_page": PER_PAGE,
                        "page": page,
                        "orderby": "id",
                        "order": "asc",
                        "status": "publish",
                        "_fields": "id",
                    },
                    allow=(400,),
                )
                if answer.status == 400:
                    if _past_last_page(data):
                        break
                    raise self._error(answer, data)
                if not isinstance(data, list):
                    raise SourceError(
                        f"{self.source.name}: {http.shown(answer.url)}: the answer is not a "
                        "list of posts"
                    )
                try:
                    ids.update(post_id_of(post) for post in data)
                except PostError as exc:
                    raise SourceError(f"{self.source.name}: {exc}") from None
                total = _int(answer.header("x-wp-totalpages"))
                self.pages += 1
                self._report(self.pages + max((total or page) - page, 0))
                if len(data) < PER_PAGE or (total is not None and page >= total):
                    break
                page += 1
        return found

    def _still_published(self, ids: set[int]) -> set[int]:
        """Of ``ids``, those a direct look finds published after all (a
        listing can skip one when posts move while it pages)."""
        found: set[int] = set()
        ordered = sorted(ids)
        for post_type in self.source.options.post_types:
            for start in range(0, len(ordered), PER_PAGE):
                chunk = ordered[start : start + PER_PAGE]
                _, data = self.get_json(
                    f"wp/v2/{post_type}",
                    {
                        "include": ",".join(map(str, chunk)),
                        "per_page": PER_PAGE,
                        "status": "publish",
                        "_fields": "id",
                    },
                )
                if isinstance(data, list):
                    found.update(p["id"] for p in data if isinstance(p, Mapping) and "id" in p)
        return found

    def _fetch(self, post_type: str, ids: Sequence[int]) -> Batch:
        """Published posts the store lacks, read by id."""
        items, withdrawn = [], []
        for post in self._fetch_posts(f"wp/v2/{post_type}", ids):
            mapped = self.map(post)
            items.append(self._item(mapped))
            if mapped.withdraw:
                withdrawn.append(self.source.article_id(mapped.post_id))
        return Batch(items=tuple(items), withdrawn=tuple(withdrawn))

    def _report(self, total: int) -> None:
        """Pages fetched of the pages known so far (a terminal's bar)."""
        if self.progress is not None and (self.pages, total) != self.reported:
            self.reported = (self.pages, total)
            self.progress(self.pages, total)

    def finish(self) -> None:
        if self.pages:
            self._report(self.pages)


def query_start(modified: datetime | None, zone: ZoneInfo | None, now: datetime) -> datetime | None:
    """``modified_after`` for a cursor at ``modified``: ``OVERLAP`` earlier,
    and earlier still by the hour a clock change since gave back: WordPress
    compares ``post_modified`` in the site's local time, which repeats an
    hour when the clocks go back."""
    if modified is None:
        return None
    after = modified - OVERLAP
    if zone is not None:
        then, later = after.astimezone(zone).utcoffset(), now.astimezone(zone).utcoffset()
        if then is not None and later is not None and then > later:
            after -= then - later
    return after.astimezone(UTC).replace(microsecond=0)


def _past_last_page(data: Any) -> bool:
    return isinstance(data, Mapping) and data.get("code") == "rest_post_invalid_page_number"


def _zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _served_at(answer: http.Response, now: datetime) -> datetime:
    """When the site answered, by its own clock (``Date``), else ``now``."""

    try:
        sent = email.utils.parsedate_to_datetime(answer.header("date") or "")
    except (TypeError, ValueError):
        return now
    return sent if sent.tzinfo else now


def _when_gmt(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
