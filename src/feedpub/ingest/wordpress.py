"""The ``wordpress`` source: a WordPress site read through its REST API.

```yaml
sources:
  - wordpress: https://news.example.org/
    post_types: [posts]        # REST bases under wp/v2 (default: posts)
    username: feeds            # optional: its application password comes from
                               # $FEEDPUB_WORDPRESS_PASSWORD or the credential
                               # feedpub_wordpress_password, never from here
    reconcile: 1d              # how often to look for deleted posts (off: never)
    delay: 0.5                 # seconds between two requests (default 0)
```

The API is found from the site's URL: the ``Link: <…>; rel="https://api.w.org/"``
header of its home page, else ``/wp-json/``, else ``/?rest_route=/`` (a site
without pretty permalinks); where it is, and the site's time zone, are kept
in the cursor, so a run with nothing new makes one request.

Each run lists, per post type, the published posts modified since the
cursor (``modified_after``, ``orderby=modified&order=asc``, 100 a page, only
their ids and ``modified_gmt``), and fetches the ones not read before whole
by id (``include``, with ``_embed`` for the author, the terms and the
featured image). Each page of the listing is one ``Batch`` whose cursor
covers exactly that page, so a site that goes down mid-sync loses nothing
and the next run resumes after the last stored page. The listing starts
``OVERLAP`` before the cursor (WordPress compares ``modified_after``
strictly, by the second): a post saved in the same second as the last one
read is not missed. The posts read in that window are kept in the cursor
with their ``modified_gmt`` and are not fetched again while unchanged, so a
run with nothing new is one light request. Pages are walked by moving
``modified_after`` forward (not by page number), so an edit during the sync,
which moves a post to the end, never shifts a post past the reader.

Deletions: the API never says a post was trashed, unpublished or made
private. A reconcile pass (every ``reconcile``, and on ``feedpub ingest
--reconcile``) lists the ids still published (``_fields=id``), checks the
stored ones missing from it once more (``include=``), withdraws those, and
reads any published post the store lacks. Its last time is in the cursor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit, urlunsplit

from feedpub.config import ConfigError, SourceConfig
from feedpub.config.secrets import WORDPRESS_PASSWORD, secret
from feedpub.credentials import where_to_put
from feedpub.ingest import http
from feedpub.ingest.source import Batch, Progress, Source, SourceContext, SourceError
from feedpub.ingest.wordpress_sync import (
    EMBED,
    FIELDS,
    Api,
    Cursor,
    Run,
    StaleApi,
    json_or_none,
)
from feedpub.model import Article

log = logging.getLogger("feedpub.ingest.wordpress")

API_REL = "https://api.w.org/"
OPTIONS = ("post_types", "username", "reconcile", "delay")
DEFAULT_RECONCILE = timedelta(days=1)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TYPE = re.compile(r"^[a-z0-9_-]+$")
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")


# --- config --------------------------------------------------------------------------


@dataclass(frozen=True)
class WordPressOptions:
    post_types: tuple[str, ...] = ("posts",)
    username: str | None = None
    reconcile: timedelta | None = DEFAULT_RECONCILE  # None: only on --reconcile
    delay: float = 0.0


def wordpress_sources(configs: Sequence[SourceConfig], context: SourceContext) -> list[Source]:
    """The ``wordpress`` kind: one source per entry (``ConfigError`` naming
    the entry and key for a bad one)."""
    made: list[Source] = []
    names: dict[str, str] = {}
    for config in configs:
        site = site_url(config)
        options = parse_options(config)
        auth = None
        if options.username:
            auth = (options.username, _password(config, context))
        source = WordPressSource(site, options, context, auth=auth)
        if source.name in names:
            raise ConfigError(
                f"{config.where}: {site} is already a source ({names[source.name]}); "
                "list its post_types in one entry"
            )
        names[source.name] = config.where
        made.append(source)
    return made


def site_url(config: SourceConfig) -> str:
    raw = config.location.strip()
    try:
        parts = urlsplit(raw)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{config.where}: wordpress: not an http(s) URL: {raw!r}")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


def parse_options(config: SourceConfig) -> WordPressOptions:
    where = config.where
    options = WordPressOptions()
    for key, value in config.options.items():
        if key == "post_types":
            types = [value] if isinstance(value, str) else value
            if (
                not isinstance(types, list)
                or not types
                or not all(isinstance(t, str) and _TYPE.match(t) for t in types)
            ):
                raise ConfigError(
                    f"{where}.post_types: a list of REST bases such as [posts, pages], "
                    f"got {value!r}"
                )
            options = replace(options, post_types=tuple(dict.fromkeys(types)))
        elif key == "username":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{where}.username: a WordPress user name, got {value!r}")
            options = replace(options, username=value.strip())
        elif key == "reconcile":
            options = replace(options, reconcile=_duration(value, f"{where}.reconcile"))
        elif key == "delay":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}.delay: seconds (0 or more), got {value!r}")
            options = replace(options, delay=float(value))
        else:
            known = ", ".join(OPTIONS)
            raise ConfigError(f"{where}.{key}: unknown key (known here: {known})")
    return options


def _duration(value: object, where: str) -> timedelta | None:
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "never")):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or int(match[1]) == 0:
        raise ConfigError(f"{where}: a duration such as 1d, 12h or 30m (or off), got {value!r}")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def _password(config: SourceConfig, context: SourceContext) -> str:
    parts = urlsplit(config.location.strip())
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(
            f"{config.where}.username: the application password would cross the network in "
            "clear text over http://; use the site's https:// URL"
        )
    found = secret(WORDPRESS_PASSWORD, context.environ)
    if not found:
        raise ConfigError(
            f"{config.where}.username: no application password: provide "
            f"{where_to_put(WORDPRESS_PASSWORD)}"
        )
    return found


# --- discovery -------------------------------------------------------------------------


def _api_links(header: str | None, base: str) -> list[str]:
    """The targets of ``rel="https://api.w.org/"`` in a ``Link`` header."""
    found = []
    for target, params in _LINK.findall(header or ""):
        rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', params)
        if any(API_REL in rel.split() for rel in rels):
            found.append(urljoin(base, target.strip()))
    return found


# --- the source ----------------------------------------------------------------------


class WordPressSource:
    """One WordPress site (see the module docstring)."""

    def __init__(
        self,
        site: str,
        options: WordPressOptions,
        context: SourceContext,
        *,
        auth: tuple[str, str] | None = None,
        client: http.Client | None = None,
    ) -> None:
        self.site = site
        self.options = options
        self.context = context
        parts = urlsplit(site)
        self.name = "wordpress:" + (parts.netloc + parts.path).rstrip("/")
        self.client = client or http.Client(
            self.name, replace(http.DEFAULTS, delay=options.delay), auth=auth
        )

    def close(self) -> None:
        self.client.close()

    def article_id(self, post_id: int) -> str:
        return f"{self.name}:{post_id}"

    # --- reading ----------------------------------------------------------------

    def read(self, cursor: str | None, now: datetime, progress: Progress | None) -> Iterator[Batch]:
        state = Cursor.load(cursor, self.name)
        first_run = not state.types
        run = Run(self, state, now, progress)
        try:
            yield from run.sync_all()
        except StaleApi:
            # The API kept in the cursor answers no more (the site switched its
            # permalinks, moved): nothing was read; find it again and read.
            state = Cursor.load(cursor, self.name)
            state.api = None
            run = Run(self, state, now, progress)
            yield from run.sync_all()
        every = self.options.reconcile
        if first_run and not self.context.reconcile:
            # A first read lists every published post: a stored post it did not
            # list (a store that lost this source's cursor) is checked and withdrawn.
            yield from run.reconcile(listed=run.read_ids)
        elif self.context.reconcile or (
            every is not None and (state.reconciled is None or now - state.reconciled >= every)
        ):
            yield from run.reconcile(listed=None)
        run.finish()

    def explain(self, ref: str, now: datetime) -> list[str] | None:
        """``feedpub ingest --explain``: where each field of one post comes
        from. ``ref``: the post's article id (``wordpress:host:7``) or its
        URL on this site (``?p=7``, or a permalink, found by its slug);
        None when it is neither. ``OSError`` when the post cannot be read."""
        post_type, params = self._post_query(ref)
        if params is None:
            return None
        run = Run(self, Cursor(), now, None)
        try:
            answer, posts = run.get_json(
                f"wp/v2/{post_type}",
                {**params, "status": "publish", "_embed": EMBED, "_fields": FIELDS},
            )
        except SourceError as exc:
            raise OSError(str(exc)) from None
        if not isinstance(posts, list) or not posts:
            raise OSError(f"{self.name}: no published post answers {http.shown(answer.url)}")
        mapped = run.map(posts[0])
        out = [
            f"WordPress post {mapped.post_id} of {self.name}, read from {http.shown(answer.url)}"
        ]
        row = "{:<10} {:<44} {}".format
        out += [row(name, origin, value) for name, origin, value in mapped.trail]
        out += [f"REJECTED: {i.reason}" for i in mapped.items if not isinstance(i, Article)]
        return out

    def _post_query(self, ref: str) -> tuple[str, dict[str, str | int] | None]:
        post_type = self.options.post_types[0]
        prefix = self.name + ":"
        if ref.startswith(prefix) and ref[len(prefix) :].isdigit():
            return post_type, {"include": ref[len(prefix) :]}
        try:
            parts, site = urlsplit(ref), urlsplit(self.site)
        except ValueError:
            return post_type, None
        if parts.netloc.lower() != site.netloc or not parts.path.startswith(site.path.rstrip("/")):
            return post_type, None
        number = dict(parse_qsl(parts.query)).get("p", "")
        if number.isdigit():
            return post_type, {"include": number}
        slug = [s for s in parts.path.split("/") if s]
        return post_type, ({"slug": unquote(slug[-1])} if slug else None)

    def discover(self) -> Api:
        """The site's API: announced by its home page, else found where
        WordPress puts it; ``SourceError`` when the site is not WordPress."""
        tried: list[str] = []
        home = self.client.get(self.site, allow=range(400, 600))
        candidates = _api_links(home.header("link"), home.url)
        if home.status >= 400:
            tried.append(f"{http.shown(self.site)} answered {home.status}")
        elif not candidates:
            tried.append('its home page announces no REST API (no Link rel="https://api.w.org/")')
        candidates += [urljoin(self.site, "wp-json/"), urljoin(self.site, "?rest_route=/")]
        for root in dict.fromkeys(candidates):
            answer = self.client.get(root, allow=range(400, 600))
            index = json_or_none(answer.content)
            if answer.status in (401, 403) and isinstance(index, Mapping) and "code" in index:
                # A WordPress refusing the credentials: its own words say why.
                said = " ".join(str(index.get("message") or index["code"]).split())
                raise SourceError(
                    f"{self.name}: {http.shown(answer.url)}: answered {answer.status} "
                    f"{http.phrase(answer.status)} ({said})"
                )
            index = index if answer.status < 400 else None
            if isinstance(index, Mapping) and "wp/v2" in (index.get("namespaces") or []):
                timezone = index.get("timezone_string")
                return Api(root, timezone if isinstance(timezone, str) else "")
            what = (
                f"answered {answer.status}"
                if answer.status >= 400
                else "is not a WordPress API index (no wp/v2 namespace)"
            )
            tried.append(f"{http.shown(root)} {what}")
        raise SourceError(f"{self.name}: not a WordPress site: " + "; ".join(tried))
