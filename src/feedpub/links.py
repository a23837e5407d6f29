"""Where an article can be read: its own URL, else the page feedpub publishes
for it under ``feeds.output`` (``articles/<segment>.html``).

Below both ``feeds`` (which writes those pages and links entries to them) and
``digests`` (whose items link to them), which may not import each other.
A URL is percent-encoded UTF-8 with uppercase hex, as every feed URL is.
"""

from __future__ import annotations

import functools
import hashlib
import re

from feedpub.model import Article
from feedpub.text.uri import iri_to_uri, percent_encode

ARTICLES_DIR = "articles"
PAGE_SUFFIX = ".html"
# An id kept as its own file name: letters and digits of any script, "_",
# "-" and "." (not first, so never "." or ".." or a hidden file). "~" is
# not in this set: it marks a hashed name, so the two kinds never collide.
_PLAIN_ID = re.compile(r"[\w-][\w.-]*")
_NOT_PLAIN = re.compile(r"[^\w-]+")
# File names are at most 255 bytes on common file systems; Arabic letters
# take two bytes each, so an id of up to 60 Arabic letters stays readable.
MAX_PLAIN_BYTES = 120
_PREFIX_CHARS = 40


@functools.cache
def _base_uri(iri: str) -> str:
    return iri_to_uri(iri)


def public_url(base: str, path: str) -> str:
    """The public URL of ``path`` (relative to feeds.output) under ``base``
    (feeds.url, which may be an IRI: an Arabic folder, an international host)."""
    return f"{_base_uri(base)}/{percent_encode(path, '/')}"


def page_segment(article_id: str) -> str:
    """The file name (without suffix) of the article's page: the id itself
    when it is a short run of letters, digits, "_", "-" and "."; otherwise
    its plain characters (up to 40) then "~" and a hash of the whole id, so
    "a/b", "../x", "a b" and a 500-letter id all get one safe name each."""
    if (
        _PLAIN_ID.fullmatch(article_id)
        and len(article_id.encode("utf-8", "surrogatepass")) <= MAX_PLAIN_BYTES
    ):
        return article_id
    digest = hashlib.sha256(article_id.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    prefix = _NOT_PLAIN.sub("-", article_id)[:_PREFIX_CHARS].strip("-")
    return f"{prefix}~{digest}" if prefix else digest


def page_path(article_id: str) -> str:
    """The article page's path relative to feeds.output."""
    return f"{ARTICLES_DIR}/{page_segment(article_id)}{PAGE_SUFFIX}"


def page_url(feeds_url: str, article_id: str) -> str:
    """The public URL of the article page feedpub publishes for ``article_id``."""
    return public_url(feeds_url, page_path(article_id))


def has_own_url(article: Article) -> bool:
    """Whether the article has a URL of its own (else feedpub publishes its page)."""
    return bool(article.url and article.url.strip())


def article_url(feeds_url: str, article: Article) -> str:
    """Where ``article`` is read: its own URL as stored (callers resolve a
    relative one against the site), else its page under ``feeds_url``."""
    if has_own_url(article):
        return (article.url or "").strip()
    return page_url(feeds_url, article.id)
