"""index.html: the right-to-left page listing every feed, each topic (its
page: feedpub's topic page or the site's own) and the sign-up page, with
autodiscovery ``<link rel="alternate">`` for the main feed. The template is
``templates/feeds/index.html.j2`` (found by ``templating``)."""

from __future__ import annotations

from collections.abc import Sequence

from feedpub import templating
from feedpub.feeds import writers
from feedpub.feeds.entry import FeedHead
from feedpub.feeds.site import SiteValues
from feedpub.feeds.urls import OPML_PATH, STYLE_PATH

TEMPLATE = "feeds/index.html.j2"


def template_text() -> str:
    """The template's source: part of the page's fingerprint."""
    return (templating.templates_dir() / TEMPLATE).read_text(encoding="utf-8")


def render(site: SiteValues, heads: Sequence[FeedHead]) -> bytes:
    def links(head: FeedHead) -> list[dict[str, str]]:
        return [
            {
                "type": writers.get(fmt).media_type,
                "label": writers.get(fmt).label,
                "title": f"{head.title} ({writers.get(fmt).label})",
                "url": head.urls[fmt],
            }
            for fmt in site.formats
        ]

    main = [head for head in heads if head.directory == ""]
    tags = [head for head in heads if head.directory != ""]
    text = templating.render(
        TEMPLATE,
        lang=site.language,
        dir=site.direction,
        title=site.title,
        description=site.description,
        home=site.home,
        discovery=[link for head in main for link in links(head)],
        main=[{"title": head.title, "links": links(head)} for head in main],
        tags=[
            {
                "name": head.tag.label if head.tag else head.title,
                "page": head.home,
                "links": links(head),
            }
            for head in tags
        ],
        opml_url=site.url(OPML_PATH),
        style_url=site.url(STYLE_PATH),
        subscribe_url=site.subscribe_url,
    )
    return text.encode("utf-8")
