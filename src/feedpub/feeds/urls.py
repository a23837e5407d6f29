"""Where each document lives: its path under ``feeds.output`` and its public
URL under ``feeds.url``.

Every URL written is percent-encoded UTF-8 with uppercase hex (the form
validators accept as canonical); paths on disk stay plain UTF-8 slugs.
"""

from __future__ import annotations

from collections.abc import Iterable

from feedpub.feeds import writers
from feedpub.feeds.site import SiteValues
from feedpub.links import ARTICLES_DIR as ARTICLES_DIR
from feedpub.links import public_url as public_url
from feedpub.text.arabic import strip_xml_illegal

OPML_PATH = "feeds.opml"
INDEX_PATH = "index.html"  # the site's, and each tag folder's topic page
# The one stylesheet of every page feedpub writes (templates/feeds/style.css).
STYLE_PATH = "style.css"
# Not "archive/": the digest's web archive lives under archive/<digest-name>/.
ARCHIVE_DIR = "feed-archive"

# Characters XML 1.0 forbids (lxml refuses them, readers choke on them) are
# removed by the one helper ingest uses too.
clean = strip_xml_illegal


def feed_paths(directory: str, formats: Iterable[str]) -> dict[str, str]:
    """Format name -> relative path of that feed document in ``directory``."""
    prefix = f"{directory}/" if directory else ""
    return {fmt: prefix + writers.get(fmt).filename for fmt in formats}


def document_urls(site: SiteValues, directory: str) -> dict[str, str]:
    """Format -> public URL of the feed document in ``directory``, for every
    registered format (an Atom id is the atom.xml URL even when Atom is not
    written)."""
    return {fmt: site.url(path) for fmt, path in feed_paths(directory, writers.names()).items()}


def feed_urls(base: str, paths: Iterable[str]) -> list[str]:
    """Public URLs of the live feed documents among ``paths`` (e.g. a
    BuildReport's ``written``): what a WebSub hub should be told about.
    Archive pages never change, OPML and index.html are not feeds."""
    names = {w.filename for w in writers.every()}
    return [
        public_url(base, path)
        for path in sorted(paths)
        if path.rsplit("/", 1)[-1] in names and not path.startswith(ARCHIVE_DIR + "/")
    ]


def plain_directory(path: str) -> bool:
    """Whether ``path`` is "" or plain relative folder names: nothing a tag
    says may climb out of (or hide in) the output folder. sync_tree checks again."""
    return path == "" or all(
        segment
        and not segment.startswith(".")
        and "\\" not in segment
        and strip_xml_illegal(segment) == segment
        for segment in path.split("/")
    )
