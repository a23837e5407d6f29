"""An article's image as the email shows it: a type every mail client
shows, its size written as attributes (Outlook on Windows sizes images by
``width`` and ``height``, not by CSS) and its alt text.

WebP, AVIF and the like are not shown by Outlook for Windows and several
webmail clients (caniemail): such an image is replaced by the configured
fallback (``email.image_fallback``, a URL pattern such as
``https://news.example.org/{path}.jpg`` where the site keeps a JPEG copy,
or an image proxy ``https://img.example.org/?src={url}&fm=jpg``), else left
out: never sent as a broken image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import parse_qsl, quote, urlsplit

# Types mail clients commonly fail to show, by file suffix or by the format
# parameter image CDNs take (?format=webp, ?fm=avif).
UNSHOWN_TYPES = frozenset(("webp", "avif", "heic", "heif", "jxl", "svg", "svgz", "tif", "tiff"))
_FORMAT_PARAMETERS = frozenset(("format", "fm", "f", "ext", "output", "type"))


@dataclass(frozen=True)
class MailImage:
    """What the <img> of one article says: ``height`` None when the
    image's size is not known (the attribute is then left out, and CSS
    ``height:auto`` keeps its proportions)."""

    url: str
    width: int
    height: int | None
    alt: str


def unshown_type(url: str) -> str | None:
    """The image type of ``url`` when mail clients do not show it (by the
    path's suffix or a format query parameter), else None."""
    parts = urlsplit(url)
    suffix = PurePosixPath(parts.path).suffix.lower().lstrip(".")
    if suffix in UNSHOWN_TYPES:
        return suffix
    for name, value in parse_qsl(parts.query):
        if name.lower() in _FORMAT_PARAMETERS and value.lower() in UNSHOWN_TYPES:
            return value.lower()
    return None


def fallback_url(url: str, pattern: str) -> str | None:
    """``pattern`` filled for ``url`` (config.schema.IMAGE_FALLBACK_FIELDS):
    ``{url}`` the whole URL (quoted for a query), ``{path}`` its path
    without the leading slash and the suffix, ``{host}`` its host. None
    without a pattern, or when the result would still not show (or is not
    http(s))."""
    if not pattern:
        return None
    parts = urlsplit(url)
    path = parts.path.lstrip("/")
    stem = str(PurePosixPath(path).with_suffix("")) if PurePosixPath(path).suffix else path
    filled = (
        pattern.replace("{url}", quote(url, safe=""))
        .replace("{path}", stem)
        .replace("{host}", parts.hostname or "")
    )
    if urlsplit(filled).scheme not in ("http", "https") or unshown_type(filled):
        return None
    return filled


def displayed_size(width: int | None, height: int | None, max_width: int) -> tuple[int, int | None]:
    """(width, height) the email shows: the known size, scaled down to
    ``max_width`` keeping its proportions (never up: a small image stays
    sharp); the full column and no height when the size is not known."""
    if not width or not height or width <= 0 or height <= 0:
        return max_width, None
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def mail_image(
    url: str | None,
    *,
    alt: str,
    width: int | None,
    height: int | None,
    max_width: int,
    fallback: str,
) -> MailImage | None:
    """The image as the email shows it, or None (no image, or one of a type
    mail clients do not show and no fallback). A fallback keeps the known
    proportions: it is the same picture in another format."""
    if not url:
        return None
    if unshown_type(url):
        replaced = fallback_url(url, fallback)
        if replaced is None:
            return None
        url = replaced
    shown_width, shown_height = displayed_size(width, height, max_width)
    return MailImage(url, shown_width, shown_height, alt)
