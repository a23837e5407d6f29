"""The site values the feeds print, given by the composition root, and what
one build derives from them and from ``FeedsConfig`` once.

``FeedSite`` is the narrow input (app builds it from ``cfg.site``), so a
test of a writer needs a ``FeedsConfig`` and four strings, not a whole site.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, tzinfo

from feedpub.config import FeedsConfig
from feedpub.links import public_url
from feedpub.text.arabic import strip_xml_illegal as clean
from feedpub.text.uri import iri_to_uri

_RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ps", "sd", "ug", "ur", "yi"})


@dataclass(frozen=True)
class FeedSite:
    """The site as its feeds name it: ``url`` is the home page (an IRI is fine)."""

    title: str
    url: str
    language: str
    description: str = ""
    # How article pages (feeds/pages.py) print dates: the site's zone, and
    # the locale and digits the digests use (email.locale, email.digits).
    timezone: tzinfo = UTC
    locale: str = "ar_SY"
    digits: str = "arab"
    # As the digests write dates (email.month_names, email.hijri,
    # email.hijri_adjust): «كانون الأول/ديسمبر», the Hijri date beside.
    month_names: str = "locale"
    hijri: bool = False
    hijri_adjust: int = 0


@dataclass(frozen=True)
class SiteValues:
    """Everything about the site and feeds config that a document is printed
    from, normalised once per build: XML-safe text, URIs, the direction."""

    site: FeedSite
    feeds: FeedsConfig
    title: str
    home: str  # the site's home page, as a URI ending in "/"
    language: str
    direction: str
    description: str
    host: str  # for tag: URIs
    hub: str | None
    formats: tuple[str, ...]
    subscribe_url: str  # the sign-up page index.html and the topic pages link to

    @classmethod
    def of(cls, site: FeedSite, feeds: FeedsConfig) -> SiteValues:
        home = iri_to_uri(site.url)
        # A URL without a scheme has no hostname: fall back on its first segment.
        domain = re.sub(r"^[a-z]+://", "", site.url).split("/")[0].split(":")[0]
        return cls(
            site=site,
            feeds=feeds,
            title=clean(site.title),
            home=home + "/",
            language=site.language,
            direction="rtl" if site.language.split("-")[0].lower() in _RTL_LANGUAGES else "ltr",
            description=clean(site.description),
            host=urllib.parse.urlsplit(home).hostname or domain,
            hub=iri_to_uri(feeds.websub_hub) if feeds.websub_hub else None,
            # Names checked by writers.check_formats at the start of a build.
            formats=tuple(dict.fromkeys(feeds.formats)),
            subscribe_url=iri_to_uri(feeds.subscribe_url or f"{site.url.rstrip('/')}/subscribe"),
        )

    def url(self, path: str) -> str:
        """The public URL of ``path`` (relative to feeds.output)."""
        return public_url(self.feeds.url, path)

    @property
    def writes_topic_pages(self) -> bool:
        """Whether each tag feed's topic page is feedpub's (``topic_path``),
        not the site's own (``feeds.tag_page_url``)."""
        return not self.feeds.tag_page_url

    def topic_url(self, slug: str) -> str:
        """The page a tag's feeds link home to: feedpub's topic page, or the
        site's own from ``feeds.tag_page_url``."""
        if self.feeds.tag_page_url:
            return iri_to_uri(self.feeds.tag_page_url.replace("{slug}", slug))
        return self.url(f"tag/{slug}") + "/"

    def wrap(self, fragment: str) -> str:
        # Neither RSS nor Atom can say "right to left"; readers that ignore
        # the feed language still honour the HTML attributes.
        return f'<div dir="{self.direction}" lang="{html.escape(self.language)}">{fragment}</div>'
