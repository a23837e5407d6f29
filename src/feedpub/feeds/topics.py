"""Topic pages: ``tag/<slug>/index.html`` beside each tag's feeds, the page
those feeds link home to (unless ``feeds.tag_page_url`` names the site's
own, and then none is written). Right-to-left HTML5 from
``templates/feeds/topic.html.j2``: the tag's latest articles with their
dates and links, and its feeds in every configured format, with
autodiscovery ``<link rel="alternate">`` for browsers and readers.

A topic page shows what its feed holds, so it is fingerprinted from the
feed's fingerprint (``build``): rendered when the feed is, and written only
when its bytes change. It reads only what a light selection carries (id,
title, URL, date), never the articles' text.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime

from feedpub import templating
from feedpub.feeds import writers
from feedpub.feeds.entry import FeedHead, article_link
from feedpub.feeds.incremental import digest
from feedpub.feeds.site import SiteValues
from feedpub.feeds.urls import INDEX_PATH, STYLE_PATH, clean
from feedpub.model import Article
from feedpub.text import rtl

TEMPLATE = "feeds/topic.html.j2"
# Bump when the page's markup changes in code (template edits are hashed).
PAGE_VERSION = "1"
_DAY = "d MMMM y"


def page_path(directory: str) -> str:
    """The topic page of the feed in ``directory`` ("tag/<slug>")."""
    return f"{directory}/{INDEX_PATH}"


def template_text() -> str:
    """The template's source: part of every topic page's fingerprint."""
    return (templating.templates_dir() / TEMPLATE).read_text(encoding="utf-8")


def site_key(site: SiteValues) -> str:
    """What a topic page prints besides its feed: the template, the dates'
    zone, locale, digits and month names, and the formats it links."""
    s = site.site
    parts = [PAGE_VERSION, template_text(), str(s.timezone), s.locale, s.digits, s.month_names]
    return digest([*parts, *site.formats])


def render(site: SiteValues, head: FeedHead, articles: Sequence[Article]) -> bytes:
    """The topic page of the tag feed ``head`` holding ``articles``."""
    name = head.tag.label if head.tag else head.title
    feeds = [
        {
            "type": writers.get(fmt).media_type,
            "label": writers.get(fmt).label,
            "title": f"{head.title} ({writers.get(fmt).label})",
            "url": head.urls[fmt],
        }
        for fmt in site.formats
    ]
    text = templating.render(
        TEMPLATE,
        lang=site.language,
        dir=site.direction,
        site_title=site.title,
        home=site.home,
        url=head.home,
        name=name,
        style_url=site.url(STYLE_PATH),
        index_url=site.url(INDEX_PATH),
        subscribe_url=site.subscribe_url,
        feeds=feeds,
        articles=[_listed(site, article) for article in articles],
    )
    return text.encode("utf-8")


def _listed(site: SiteValues, article: Article) -> dict[str, str]:
    published = article.published.astimezone(site.site.timezone)
    return {
        "title": " ".join(clean(article.title).split()) or article.id,
        "url": article_link(article, site),
        "iso": published.isoformat(),
        "date": _day(published.date(), site.site.locale, site.site.digits, site.site.month_names),
    }


@functools.lru_cache(maxsize=4096)
def _day(day: date, locale: str, digits: str, month_names: str) -> str:
    """A date as the pages print it: a site has a few hundred days across
    thousands of topic entries, so each is formatted once."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)  # the day, whatever the zone
    return rtl.arabic_datetime(noon, _DAY, locale, digits, month_names)
