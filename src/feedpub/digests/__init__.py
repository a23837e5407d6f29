"""Digest editions: which slot is due, what it holds, the email and web pages.

An edition is identified by (digest, scheduled slot). ``plan_edition`` finds
the slot "now" belongs to and, unless that slot already has an edition, the
articles published since the previous edition's slot. ``render_edition``
renders the right-to-left HTML email (CSS inlined once, recipient parts left
as placeholders for ``message.personalize``), the plain-text part, the
subject and the web archive page, keeping the inlined HTML under
``email.max_html_bytes`` so Gmail does not clip the footer away.

The pipeline's order: plan, render, ``store.add_edition(edition_record(...))``,
``write_archive`` (before delivery, so the "view in browser" link works when
the mail arrives), then build and deliver the messages.
"""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from feedpub import cron, templating
from feedpub.config import Config, DigestConfig
from feedpub.digests import inline
from feedpub.digests.message import GREETING, UNSUBSCRIBE_URL
from feedpub.feeds import select
from feedpub.model import Article, Edition
from feedpub.output import safe_join, write_atomic
from feedpub.text import rtl

log = logging.getLogger(__name__)

# Room left under max_html_bytes for what personalize() substitutes after the
# size check: an unsubscribe URL with a long token and a greeting with a name.
RECIPIENT_RESERVE = 1024
# A summary longer than this is cut at a word boundary: a digest item is a
# teaser, and one pasted-in article must not crowd out the rest.
SUMMARY_CHARS = 320
PREHEADER_CHARS = 110
TEXT_WIDTH = 72
# Content width inside the 600px column (600 minus 2 x 24px cell padding).
IMAGE_WIDTH = 552

_EDITION_DATE = "EEEE، d MMMM y"
_EDITION_DATE_TIME = "EEEE، d MMMM y، h:mm a"
_ARTICLE_DATE = "d MMMM y، h:mm a"

# What an edition without articles says (only_if_new: false and no news); also
# its preheader, so the inbox preview says it too.
NOTHING_NEW = "لا أخبار جديدة في هذا العدد."

# «و N أخبار أخرى على الموقع», by Arabic plural category.
MORE_ON_SITE = {
    "one": "وخبر آخر على الموقع",
    "two": "وخبران آخران على الموقع",
    "few": "و {n} أخبار أخرى على الموقع",
    "many": "و {n} خبراً آخر على الموقع",
    "other": "و {n} خبر آخر على الموقع",
}
ITEM_COUNT = {
    "zero": "لا أخبار",
    "one": "خبر واحد",
    "two": "خبران",
    "few": "{n} أخبار",
    "many": "{n} خبراً",
    "other": "{n} خبر",
}


class EditionReader(select.ArticleReader, Protocol):
    """What planning needs from a store (``store.SqlStore`` has it)."""

    def last_edition(self, digest: str) -> Edition | None: ...

    def get_edition(self, digest: str, slot: datetime) -> Edition | None: ...


class ArchiveReader(Protocol):
    """What the archive index needs: a digest's editions, newest first."""

    def editions(self, digest: str) -> list[Edition]: ...


@dataclass(frozen=True)
class PlannedEdition:
    """A due edition before rendering: articles published in (after, until],
    newest first, already capped at the digest's max_items."""

    digest: DigestConfig
    slot: datetime  # in the site's time zone
    after: datetime | None
    until: datetime
    articles: tuple[Article, ...]

    @property
    def article_ids(self) -> tuple[str, ...]:
        return tuple(article.id for article in self.articles)


@dataclass(frozen=True)
class RenderedEdition:
    """One edition rendered. ``html`` is inlined and, like ``text``, holds the
    ``message`` placeholders for the recipient's greeting and unsubscribe URL;
    ``archive_html`` is the public web page (no placeholders)."""

    planned: PlannedEdition
    subject: str
    html: str
    text: str
    archive_html: str
    archive_path: str  # relative to feeds.output, e.g. "archive/daily/2026-11-28.html"
    archive_url: str
    articles: tuple[Article, ...]  # what the email holds (a prefix of planned.articles)
    dropped: int  # left out to stay under max_html_bytes
    html_bytes_before_inline: int

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


@dataclass(frozen=True)
class _ArticleView:
    """An article as the templates show it: absolute URLs, formatted date."""

    title: str
    url: str
    image: str | None
    date: str
    summary: str
    summary_lines: tuple[str, ...]  # wrapped for the text part
    title_lines: tuple[str, ...]
    tags: str


# --- planning ------------------------------------------------------------------


def plan_edition(
    reader: EditionReader, cfg: Config, digest: DigestConfig, now: datetime
) -> PlannedEdition | None:
    """The edition due at ``now``, or None: no slot yet, the slot already has
    an edition (a rerun never makes a second one), or nothing new and
    ``only_if_new``."""
    tz = cfg.site.timezone
    slot = cron.latest_slot(digest.schedule, tz, now)
    if slot is None or reader.get_edition(digest.name, slot) is not None:
        return None
    last = reader.last_edition(digest.name)
    if last is not None and last.slot >= slot:
        return None
    after = last.slot if last is not None else slot - digest.first_lookback
    articles = select.edition_articles(reader, digest, after, slot)
    if digest.only_if_new and not articles:
        return None
    return PlannedEdition(digest, slot.astimezone(tz), after, slot, tuple(articles))


def preview_edition(
    reader: EditionReader, cfg: Config, digest: DigestConfig, now: datetime
) -> PlannedEdition:
    """The next edition as it stands at ``now``, for ``--preview``: the due one
    if there is one, else the coming slot with what was published since the
    last edition so far. Ignores only_if_new (an empty preview is an answer)."""
    tz = cfg.site.timezone
    slot = cron.latest_slot(digest.schedule, tz, now)
    last = reader.last_edition(digest.name)
    due = (
        slot is not None
        and reader.get_edition(digest.name, slot) is None
        and (last is None or last.slot < slot)
    )
    if due and slot is not None:
        until = slot
    else:
        slot = cron.next_slot(digest.schedule, tz, now) or now
        until = now
    after = last.slot if last is not None else slot - digest.first_lookback
    articles = select.edition_articles(reader, digest, after, until)
    return PlannedEdition(digest, slot.astimezone(tz), after, until, tuple(articles))


def edition_record(planned: PlannedEdition, rendered: RenderedEdition, now: datetime) -> Edition:
    """The Edition to store: the articles the email holds and how many were
    left out for size."""
    return Edition(
        digest=planned.digest.name,
        slot=planned.slot,
        article_ids=tuple(article.id for article in rendered.articles),
        created=now,
        dropped=rendered.dropped,
    )


# --- rendering -----------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    """The shared template environment plus the digest filters, as an overlay
    (own filters and template cache, compiled once per process) so the
    shared environment is not modified."""
    env = templating.environment().overlay()
    env.filters = {**env.filters, "ltr": rtl.ltr_html}
    return env


@cache
def _subject_template(source: str) -> jinja2.Template:
    # Subjects are plain text (no autoescape) written by the operator; the
    # sandbox keeps a typo from reaching Python internals.
    env = SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined)
    return env.from_string(source)


def _several_a_day(schedule: str) -> bool:
    """Whether the cron schedule can fire more than once a day (any minute or
    hour field that is not one plain number)."""
    minute, hour = schedule.split()[:2]
    return not (minute.isdigit() and hour.isdigit())


def archive_stem(digest: DigestConfig, slot: datetime, cfg: Config) -> str:
    """The archive file name without ".html": the slot's date in the site's
    time zone, plus the time when the digest can run several times a day."""
    local = slot.astimezone(cfg.site.timezone)
    return f"{local:%Y-%m-%d-%H%M}" if _several_a_day(digest.schedule) else f"{local:%Y-%m-%d}"


def archive_path(digest: DigestConfig, slot: datetime, cfg: Config) -> str:
    return f"archive/{digest.name}/{archive_stem(digest, slot, cfg)}.html"


def _edition_date(digest: DigestConfig, slot: datetime, cfg: Config) -> str:
    pattern = _EDITION_DATE_TIME if _several_a_day(digest.schedule) else _EDITION_DATE
    local = slot.astimezone(cfg.site.timezone)
    return rtl.arabic_datetime(local, pattern, cfg.email.locale, cfg.email.digits)


def _absolute(url: str | None, base: str) -> str | None:
    """``url`` resolved against ``base``; None unless it is http(s), so a
    scraped "javascript:" or relative-to-nothing link never reaches a mail."""
    if not url:
        return None
    joined = urljoin(base + "/", url.strip())
    return joined if urlsplit(joined).scheme in ("http", "https") else None


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip("،,.؛;:") + "…"


def _view(article: Article, cfg: Config) -> _ArticleView:
    summary = _shorten(article.summary, SUMMARY_CHARS)
    title = " ".join(article.title.split())
    published = article.published.astimezone(cfg.site.timezone)
    return _ArticleView(
        title=title,
        url=_absolute(article.url, cfg.site.url) or cfg.site.url,
        image=_absolute(article.image, cfg.site.url),
        date=rtl.arabic_datetime(published, _ARTICLE_DATE, cfg.email.locale, cfg.email.digits),
        summary=summary,
        summary_lines=tuple(textwrap.wrap(summary, TEXT_WIDTH)),
        title_lines=tuple(textwrap.wrap(title, TEXT_WIDTH)),
        tags="، ".join(tag.name for tag in article.tags),
    )


def _subject(planned: PlannedEdition, cfg: Config, count: int, dropped: int) -> str:
    digest = planned.digest
    digits = cfg.email.digits
    try:
        subject = _subject_template(digest.subject).render(
            site_title=cfg.site.title,
            digest_title=digest.title or cfg.site.title,
            date=_edition_date(digest, planned.slot, cfg),
            count=rtl.shape_digits(str(count), digits),
            dropped=rtl.shape_digits(str(dropped), digits),
        )
    except jinja2.TemplateError as exc:
        raise ValueError(f"digests.{digest.name}.subject: {exc}") from None
    # A header is one line; a template's stray newline must not break it.
    return " ".join(subject.split())


def _prose_rlm(text: str) -> str:
    """RLM at the start of every prose line; link lines are left alone so a
    terminal still recognises the URL."""
    lines = []
    for line in text.split("\n"):
        bare = line.strip()
        is_link = bare.startswith(("http://", "https://", "mailto:", UNSUBSCRIBE_URL))
        has_letters = any(ch.isalpha() for ch in bare)
        lines.append(rtl.RLM + line if has_letters and not is_link else line)
    return "\n".join(lines)


def render_edition(planned: PlannedEdition, cfg: Config) -> RenderedEdition:
    """Render the email (HTML inlined, text), subject and archive page.

    The HTML is measured after inlining (inlining adds about half again) plus
    RECIPIENT_RESERVE; while over email.max_html_bytes the last articles are
    left out (found by bisection, each step one inline) and the email says how
    many more are on the site.
    """
    digest = planned.digest
    views = [_view(article, cfg) for article in planned.articles]
    path = archive_path(digest, planned.slot, cfg)
    archive_url = f"{cfg.feeds.url}/{path}"
    limit = cfg.email.max_html_bytes - RECIPIENT_RESERVE
    env = _environment()

    def context(kept: int) -> dict[str, object]:
        dropped = len(views) - kept
        return {
            "lang": cfg.site.language,
            "subject": _subject(planned, cfg, kept, dropped),
            "site_title": cfg.site.title,
            "site_url": cfg.site.url,
            "digest_title": digest.title or cfg.site.title,
            "edition_date": _edition_date(digest, planned.slot, cfg),
            "articles": views[:kept],
            "preheader": _shorten(views[0].summary, PREHEADER_CHARS) if views else NOTHING_NEW,
            "empty_notice": NOTHING_NEW,
            "dropped": dropped,
            "more_on_site": (
                rtl.plural(dropped, MORE_ON_SITE, cfg.email.locale, cfg.email.digits)
                if dropped
                else ""
            ),
            "archive_url": archive_url,
            "archive_index_url": f"{cfg.feeds.url}/archive/{digest.name}/",
            "postal_address": cfg.email.postal_address,
            "unsubscribe_url": UNSUBSCRIBE_URL,
            "greeting": GREETING,
            "image_width": IMAGE_WIDTH,
        }

    def email_html(kept: int) -> tuple[str, str, int]:
        raw = env.get_template("digest.html.j2").render(**context(kept))
        started = time.perf_counter()
        inlined = inline.inline_css(raw)
        log.debug(
            "digest %s: inlined %d items in %.1f ms (%d -> %d bytes)",
            digest.name,
            kept,
            (time.perf_counter() - started) * 1000,
            len(raw.encode()),
            len(inlined.encode()),
        )
        return raw, inlined, len(inlined.encode("utf-8"))

    kept = len(views)
    raw, html, size = email_html(kept)
    if size > limit:
        kept, raw, html, size = _largest_fitting(len(views), limit, email_html)
        log.warning(
            "digest %s %s: left out the last %d of %d articles to keep the HTML part "
            "under %d bytes (now %d after inlining); the email points to the site for them",
            digest.name,
            planned.slot.isoformat(),
            len(views) - kept,
            len(views),
            cfg.email.max_html_bytes,
            size,
        )

    ctx = context(kept)
    text = _prose_rlm(env.get_template("digest.txt.j2").render(**ctx))
    archive_html = env.get_template("archive.html.j2").render(**ctx)
    return RenderedEdition(
        planned=planned,
        subject=str(ctx["subject"]),
        html=html,
        text=text,
        archive_html=archive_html,
        archive_path=path,
        archive_url=archive_url,
        articles=planned.articles[:kept],
        dropped=len(views) - kept,
        html_bytes_before_inline=len(raw.encode("utf-8")),
    )


def _largest_fitting(
    total: int, limit: int, build: Callable[[int], tuple[str, str, int]]
) -> tuple[int, str, str, int]:
    """The largest k < total whose email fits (size grows with k), by
    bisection; raises when even the email without articles is too big."""
    low, high = 0, total - 1  # answer in [low, high]; total itself did not fit
    best: tuple[int, str, str, int] | None = None
    while low <= high:
        middle = (low + high) // 2
        raw, html, size = build(middle)
        if size <= limit:
            best = (middle, raw, html, size)
            low = middle + 1
        else:
            high = middle - 1
    if best is None:
        raise ValueError(
            f"even an empty digest email is over email.max_html_bytes - {RECIPIENT_RESERVE} "
            f"({limit} bytes): raise the limit or slim the template"
        )
    return best


# --- web archive ---------------------------------------------------------------


def write_archive(
    reader: ArchiveReader, cfg: Config, digest: DigestConfig, rendered: RenderedEdition
) -> list[Path]:
    """Write the edition's web page and the digest's archive index (editions
    newest first; only those whose page exists, so the index has no dead
    links). Returns the paths written."""
    output = cfg.feeds.output
    page = safe_join(output, rendered.archive_path)
    write_atomic(page, rendered.archive_html.encode("utf-8"))

    slots = {edition.slot: len(edition.article_ids) for edition in reader.editions(digest.name)}
    slots.setdefault(rendered.planned.slot, len(rendered.articles))
    entries = []
    for slot in sorted(slots, reverse=True):
        relative = archive_path(digest, slot, cfg)
        if not safe_join(output, relative).exists():
            continue
        entries.append(
            {
                "href": f"{cfg.feeds.url}/{relative}",
                "date": _edition_date(digest, slot, cfg),
                "count": rtl.plural(slots[slot], ITEM_COUNT, cfg.email.locale, cfg.email.digits),
            }
        )
    index_html = (
        _environment()
        .get_template("archive_index.html.j2")
        .render(
            lang=cfg.site.language,
            site_title=cfg.site.title,
            site_url=cfg.site.url,
            digest_title=digest.title or cfg.site.title,
            entries=entries,
        )
    )
    index = safe_join(output, f"archive/{digest.name}/index.html")
    write_atomic(index, index_html.encode("utf-8"))
    return [page, index]
