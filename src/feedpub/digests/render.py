"""Rendering one edition: the right-to-left HTML email (CSS inlined), the
plain-text part, the subject and the web archive page, under a size guard.

Recipient parts (greeting, unsubscribe URL) are left as slots
(``slots.Personal``), filled per recipient by ``message`` without touching
the rest. Inlining is the slow step, so ``Renderer`` renders each distinct
content variant once and hands the same result to every recipient of it.
"""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from urllib.parse import urljoin, urlsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from feedpub import links
from feedpub.config import DigestConfig, EmailConfig
from feedpub.digests import images, inline
from feedpub.digests.archive import archive_path
from feedpub.digests.plan import PlannedEdition
from feedpub.digests.site import Site, edition_date, environment, hijri_date, news_count
from feedpub.digests.slots import Markers, Personal
from feedpub.model import Article, Edition
from feedpub.text import rtl

log = logging.getLogger(__name__)

# Room left under max_html_bytes for what fills the recipient slots after the
# size check: an unsubscribe URL with a long token and a greeting with a name.
RECIPIENT_RESERVE = 1024
# A summary longer than this is cut at a word boundary: a digest item is a
# teaser, and one pasted-in article must not crowd out the rest.
SUMMARY_CHARS = 320
# Titles are shortened at ingest (ingest.max_title_chars, 300 by default), but
# articles stored before that, or with a raised limit, can be any length: the
# email shows at most this many characters of one.
TITLE_CHARS = 300
PREHEADER_CHARS = 110
TEXT_WIDTH = 72

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


@dataclass(frozen=True)
class RenderedEdition:
    """One edition rendered. ``html`` (inlined) and ``text`` carry the
    recipient slots; ``archive_html`` is the public web page (none)."""

    planned: PlannedEdition
    subject: str
    html: Personal
    text: Personal
    archive_html: str
    archive_path: str  # relative to the public folder, e.g. "archive/daily/2026-11-28.html"
    archive_url: str
    articles: tuple[Article, ...]  # what the email holds, in planned.articles' order
    dropped: int  # left out to stay under max_html_bytes (the largest ones)
    html_bytes_before_inline: int

    @property
    def slot(self) -> datetime:
        return self.planned.slot

    @property
    def html_bytes(self) -> int:
        """The inlined HTML part without the recipient values."""
        return self.html.size


@dataclass(frozen=True)
class _ArticleView:
    """An article as the templates show it: absolute URLs, formatted date."""

    title: str
    url: str
    image: str | None  # as the web archive shows it
    image_alt: str
    image_width: int | None  # its size, when the source says (the web page)
    image_height: int | None
    mail_image: images.MailImage | None  # as the email shows it
    date: str
    summary: str
    summary_lines: tuple[str, ...]  # wrapped for the text part
    title_lines: tuple[str, ...]
    tags: str


class Renderer:
    """Renders editions for one site. Each distinct content variant (digest,
    slot and the articles it holds: the full edition, later each distinct
    tag selection) is rendered and inlined once, however many recipients get
    it."""

    def __init__(self, site: Site, email: EmailConfig) -> None:
        self.site = site
        self.email = email
        self._done: dict[tuple[str, datetime, tuple[str, ...]], RenderedEdition] = {}

    def render(self, planned: PlannedEdition) -> RenderedEdition:
        key = (planned.digest.name, planned.slot, planned.article_ids)
        if key not in self._done:
            self._done[key] = render_edition(planned, self.site, self.email)
        return self._done[key]


def edition_record(planned: PlannedEdition, rendered: RenderedEdition, now: datetime) -> Edition:
    """The Edition to store: the articles the email holds and which were
    left out for size."""
    held = tuple(article.id for article in rendered.articles)
    return Edition(
        digest=planned.digest.name,
        slot=planned.slot,
        article_ids=held,
        created=now,
        dropped=rendered.dropped,
        left_out=tuple(i for i in planned.article_ids if i not in held),
    )


@cache
def _subject_template(source: str) -> jinja2.Template:
    # Subjects are plain text (no autoescape) written by the operator; the
    # sandbox keeps a typo from reaching Python internals.
    env = SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined)
    return env.from_string(source)


def _absolute(url: str | None, base: str) -> str | None:
    """``url`` resolved against ``base``; None unless it is http(s), so a
    scraped "javascript:" or relative-to-nothing link never reaches a mail."""
    if not url:
        return None
    joined = urljoin(base + "/", url.strip())
    return joined if urlsplit(joined).scheme in ("http", "https") else None


def _item_url(article: Article, site: Site) -> str:
    """Its own URL; without one the page the feed build publishes for it
    (links.page_url under feeds.url); the home page only for a URL that is
    not http(s) (a scraped "javascript:"), which has no page either."""
    return _absolute(links.article_url(site.public_url, article), site.url) or site.url


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip("،,.؛;:") + "…"


def _view(article: Article, site: Site, email: EmailConfig) -> _ArticleView:
    summary = _shorten(article.summary, SUMMARY_CHARS)
    title = _shorten(article.title, TITLE_CHARS)
    published = article.published.astimezone(site.timezone)
    image = _absolute(article.image, site.url)
    # An image always says what it shows: its own alt text, else the title.
    alt = " ".join((article.image_alt or "").split()) or title
    known = bool(article.image_width and article.image_height)
    return _ArticleView(
        title=title,
        url=_item_url(article, site),
        image=image,
        image_alt=alt,
        image_width=article.image_width if known else None,
        image_height=article.image_height if known else None,
        mail_image=images.mail_image(
            image,
            alt=alt,
            width=article.image_width,
            height=article.image_height,
            max_width=email.image_width,
            fallback=email.image_fallback,
        ),
        date=rtl.arabic_datetime(
            published, _ARTICLE_DATE, email.locale, email.digits, email.month_names
        ),
        summary=summary,
        summary_lines=tuple(textwrap.wrap(summary, TEXT_WIDTH)),
        title_lines=tuple(textwrap.wrap(title, TEXT_WIDTH)),
        tags="، ".join(tag.name for tag in article.tags),
    )


def subject_line(
    digest: DigestConfig, slot: datetime, site: Site, email: EmailConfig, count: int, dropped: int
) -> str:
    """The subject of ``digest``'s edition at ``slot`` holding ``count``
    articles (``dropped`` more left out for size): the configured template,
    on one line. ``date`` is the Gregorian date (a subject is read on a
    phone's one line), ``hijri_date`` the Hijri one; ``count`` the number
    and ``count_text`` the count in words by the plural rules («خبران»,
    «١١ خبراً»)."""
    try:
        subject = _subject_template(digest.subject).render(
            site_title=site.title,
            digest_title=digest.title or site.title,
            date=edition_date(digest, slot, site, email, hijri=False),
            hijri_date=hijri_date(slot, site, email),
            count=rtl.shape_digits(str(count), email.digits),
            count_text=news_count(count, email),
            dropped=rtl.shape_digits(str(dropped), email.digits),
        )
    except jinja2.TemplateError as exc:
        raise ValueError(f"digests.{digest.name}.subject: {exc}") from None
    # A header is one line; a template's stray newline must not break it.
    return " ".join(subject.split())


def alert_subject(
    digest: DigestConfig, planned: PlannedEdition, site: Site, email: EmailConfig
) -> str:
    """The subject of an alert: the configured template (``title``: the
    article's, as the email shows it; ``date``: its publication date and
    time), on one line."""
    article = planned.articles[0] if planned.articles else None
    dated = article.published if article is not None else planned.slot
    try:
        subject = _subject_template(digest.subject).render(
            site_title=site.title,
            digest_title=digest.title or site.title,
            title=_shorten(article.title, TITLE_CHARS) if article is not None else "",
            date=edition_date(digest, dated, site, email, hijri=False),
            hijri_date=hijri_date(dated, site, email),
        )
    except jinja2.TemplateError as exc:
        raise ValueError(f"digests.{digest.name}.subject: {exc}") from None
    return " ".join(subject.split())


def _prose_rlm(text: str, link_slots: tuple[str, ...]) -> str:
    """RLM at the start of every prose line; link lines (and the URL slots,
    which become ones) are left alone so a terminal still recognises the
    URL."""
    lines = []
    for line in text.split("\n"):
        bare = line.strip()
        is_link = bare.startswith(("http://", "https://", "mailto:", *link_slots))
        has_letters = any(ch.isalpha() for ch in bare)
        lines.append(rtl.RLM + line if has_letters and not is_link else line)
    return "\n".join(lines)


def _weight(view: _ArticleView) -> int:
    """About how many bytes ``view`` adds to the email: each field as often as
    the item template prints it (the URL three times; the image's URL, alt
    text and size attributes)."""
    parts = [view.title, view.url * 3, view.date, view.summary, view.tags]
    if view.mail_image:
        parts += [view.mail_image.url, view.mail_image.alt, "x" * 60]  # and its size
    return sum(len(part.encode("utf-8")) for part in parts)


def _drop_order(views: list[_ArticleView]) -> list[int]:
    """Positions of ``views`` in the order the size guard leaves them out:
    the largest first (one oversized article must not push out several small
    ones), the older first among equals."""
    return sorted(range(len(views)), key=lambda i: (-_weight(views[i]), -i))


def render_edition(planned: PlannedEdition, site: Site, email: EmailConfig) -> RenderedEdition:
    """Render the email (HTML inlined, text), subject and archive page.

    The HTML is measured after inlining (inlining adds about half again) plus
    RECIPIENT_RESERVE; while over email.max_html_bytes the largest articles
    are left out (as few as will do, found by bisection, each step one
    inline), the rest keep their newest-first order, and the email says how
    many more are on the site. Prefer ``Renderer.render``, which renders each
    variant once.
    """
    digest = planned.digest
    views = [_view(article, site, email) for article in planned.articles]
    if digest.is_alert:
        # An alert has no web copy of its own: the article's page is one.
        path = ""
        archive_url = views[0].url if views else site.url
        dated = planned.articles[0].published if planned.articles else planned.slot
    else:
        path = archive_path(digest, planned.slot, site.timezone)
        archive_url = f"{site.public_url}/{path}"
        dated = planned.slot
    limit = email.max_html_bytes - RECIPIENT_RESERVE
    env = environment()
    markers = Markers()
    order = _drop_order(views)

    def kept_positions(dropped: int) -> list[int]:
        left_out = set(order[:dropped])
        return [i for i in range(len(views)) if i not in left_out]

    def context(dropped: int) -> dict[str, object]:
        kept = kept_positions(dropped)
        more = rtl.plural(dropped, MORE_ON_SITE, email.locale, email.digits) if dropped else ""
        # The inbox preview: the lead (else the title) of the top story the
        # email holds, else what the email says instead of stories.
        if kept:
            top = views[kept[0]]
            preheader = _shorten(top.summary or top.title, PREHEADER_CHARS)
        else:
            preheader = more or NOTHING_NEW
        return {
            "lang": site.language,
            "subject": alert_subject(digest, planned, site, email)
            if digest.is_alert
            else subject_line(digest, planned.slot, site, email, len(kept), dropped),
            "site_title": site.title,
            "site_url": site.url,
            "digest_title": digest.title or site.title,
            "edition_date": edition_date(digest, dated, site, email),
            "articles": [views[i] for i in kept],
            "preheader": preheader,
            "empty_notice": NOTHING_NEW,
            "dropped": dropped,
            "more_on_site": more,
            "archive_url": archive_url,
            "archive_index_url": f"{site.public_url}/archive/{digest.name}/",
            "style_url": site.style_url,
            "postal_address": email.postal_address,
            "unsubscribe_url": markers["unsubscribe_url"],
            "preferences_url": markers["preferences_url"],
            "has_preferences": bool(email.preferences_url),
            "greeting": markers["greeting"],
            "image_width": email.image_width,
        }

    def email_html(dropped: int) -> tuple[str, Personal]:
        raw = env.get_template("digests/digest.html.j2").render(**context(dropped))
        started = time.perf_counter()
        inlined = markers.split(inline.inline_css(raw))
        log.debug(
            "digest %s: inlined %d items in %.1f ms (%d -> %d bytes)",
            digest.name,
            len(views) - dropped,
            (time.perf_counter() - started) * 1000,
            len(raw.encode()),
            inlined.size,
        )
        return raw, inlined

    dropped = 0
    raw, html = email_html(dropped)
    if html.size > limit:
        dropped, raw, html = _fewest_dropped(len(views), limit, email_html)
        log.warning(
            "digest %s %s: left out the %d largest of %d articles to keep the HTML part "
            "under %d bytes (now %d after inlining); the email points to the site for them",
            digest.name,
            planned.slot.isoformat(),
            dropped,
            len(views),
            email.max_html_bytes,
            html.size,
        )

    ctx = context(dropped)
    text = env.get_template("digests/digest.txt.j2").render(**ctx)
    text = _prose_rlm(text, (markers["unsubscribe_url"], markers["preferences_url"]))
    archive = env.get_template("digests/archive.html.j2")
    archive_html = "" if digest.is_alert else archive.render(**ctx)
    return RenderedEdition(
        planned=planned,
        subject=str(ctx["subject"]),
        html=html,
        text=markers.split(text),
        archive_html=archive_html,
        archive_path=path,
        archive_url=archive_url,
        articles=tuple(planned.articles[i] for i in kept_positions(dropped)),
        dropped=dropped,
        html_bytes_before_inline=len(raw.encode("utf-8")),
    )


def _fewest_dropped(
    total: int, limit: int, build: Callable[[int], tuple[str, Personal]]
) -> tuple[int, str, Personal]:
    """The smallest k in 1..total such that the email without the k largest
    articles fits (each kept set holds the next one's, so size shrinks as k
    grows), by bisection; raises when even the email without articles is too
    big."""
    low, high = 1, total  # answer in [low, high]; 0 itself did not fit
    best: tuple[int, str, Personal] | None = None
    while low <= high:
        middle = (low + high) // 2
        raw, html = build(middle)
        if html.size <= limit:
            best = (middle, raw, html)
            high = middle - 1
        else:
            low = middle + 1
    if best is None:
        raise ValueError(
            f"even an empty digest email is over email.max_html_bytes - {RECIPIENT_RESERVE} "
            f"({limit} bytes): raise the limit or slim the template"
        )
    return best
