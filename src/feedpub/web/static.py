"""The files of ``public/``, served as the README's nginx block serves them:
types by file name, ETag from size and mtime, conditional GET, and nothing
outside the folder (no ``..``, no dotfiles, no symlink out of it).

The feed build never rewrites an unchanged file, so its mtime, and with it
the ETag, stays put and feed readers get 304s.
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

StartResponse = Callable[..., Any]

BY_NAME = {
    "atom.xml": "application/atom+xml; charset=utf-8",
    "rss.xml": "application/rss+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
}
BY_SUFFIX = {
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
CACHE_CONTROL = "public, max-age=300"
CHUNK = 64 * 1024

# Encoded dot, slash or backslash in the raw request: nginx refuses these
# shapes too; an honest link to a feed file never needs them.
_ENCODED_TRICKS = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)


def content_type(name: str) -> str:
    if name in BY_NAME:
        return BY_NAME[name]
    suffix = os.path.splitext(name)[1].lower()
    if suffix in BY_SUFFIX:
        return BY_SUFFIX[suffix]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def request_path(environ: Mapping[str, Any]) -> str | None:
    """PATH_INFO as text (PEP 3333 hands it over as latin-1 of the UTF-8
    bytes), or None when the request is not a plain path."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")  # gunicorn, uWSGI
    if isinstance(raw, str) and _ENCODED_TRICKS.search(raw.split("?")[0]):
        return None
    try:
        return str(environ.get("PATH_INFO") or "/").encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None


def locate(root: Path, path: str) -> tuple[Path, bool] | None:
    """(file, is_directory_without_slash) for ``path`` inside ``root``, or None.

    Every segment is checked before the file system is asked, and the
    resolved file is checked again, so neither an encoded ``..`` nor a
    symlink leads outside ``root`` or to a hidden file."""
    if not path.startswith("/"):
        return None
    segments = path[1:].split("/")
    trailing_slash = segments[-1] == ""
    if trailing_slash:
        segments = segments[:-1]
    for segment in segments:
        if not segment or segment.startswith(".") or "\\" in segment or "\x00" in segment:
            return None  # "..", ".", dotfiles (manifest, lock, temp files), "//"
    try:
        base = Path(os.path.realpath(root))
        target = Path(os.path.realpath(base.joinpath(*segments)))
        inside = target.relative_to(base)
        info = target.stat()
    except (ValueError, OSError):
        return None
    if any(part.startswith(".") for part in inside.parts):
        return None  # a symlink onto a hidden file
    if stat.S_ISDIR(info.st_mode):
        if not trailing_slash and segments:
            return target, True
        # The folder's index.html, with every check above applied to it too.
        return locate(root, "/" + "/".join([*segments, "index.html"]))
    if not stat.S_ISREG(info.st_mode) or trailing_slash:
        return None  # a file asked for as a folder (``atom.xml/``): nginx says 404 too
    return target, False


def etag(size: int, mtime: float) -> str:
    return f'"{int(mtime):x}-{size:x}"'  # nginx's form


def not_modified(environ: Mapping[str, Any], tag: str, mtime: float) -> bool:
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 13.2.2).
    match = environ.get("HTTP_IF_NONE_MATCH")
    if match is not None:
        candidates = [c.strip().removeprefix("W/") for c in str(match).split(",")]
        return "*" in candidates or tag in candidates
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since is None:
        return False
    try:
        when = parsedate_to_datetime(str(since))
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:
        return False
    return int(mtime) <= when.timestamp()


class _FileBody:
    """Iterates a file in chunks and closes it, for servers without file_wrapper."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._handle.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self._handle.close()


def serve(
    root: Path,
    environ: Mapping[str, Any],
    start_response: StartResponse,
    not_found: Callable[[], Iterable[bytes]],
) -> Iterable[bytes]:
    method = environ.get("REQUEST_METHOD", "GET")
    base_headers = [("X-Content-Type-Options", "nosniff")]
    if method not in ("GET", "HEAD"):
        start_response(
            "405 Method Not Allowed",
            [*base_headers, ("Allow", "GET, HEAD"), ("Content-Length", "0")],
        )
        return []
    path = request_path(environ)
    found = locate(root, path) if path is not None else None
    if found is None or path is None:
        return not_found()
    target, needs_slash = found
    if needs_slash:
        # Relative links in a folder's index.html need the slash (nginx does the same).
        location = quote(str(environ.get("SCRIPT_NAME", "")) + path + "/", safe="/")
        start_response(
            "301 Moved Permanently",
            [*base_headers, ("Location", location), ("Content-Length", "0")],
        )
        return []
    try:
        handle = open(target, "rb")  # noqa: SIM115 - closed by the server through the body
    except OSError:
        return not_found()
    try:
        # fstat of the open file: the build may rename a new version into place meanwhile.
        info = os.fstat(handle.fileno())
        tag = etag(info.st_size, info.st_mtime)
        headers = [
            *base_headers,
            ("ETag", tag),
            ("Last-Modified", formatdate(info.st_mtime, usegmt=True)),
            ("Cache-Control", CACHE_CONTROL),
        ]
        if not_modified(environ, tag, info.st_mtime):
            handle.close()
            start_response("304 Not Modified", headers)
            return []
        headers += [
            ("Content-Type", content_type(target.name)),
            ("Content-Length", str(info.st_size)),
        ]
        start_response("200 OK", headers)
        if method == "HEAD":
            handle.close()
            return []
    except BaseException:
        handle.close()
        raise
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        wrapped: Iterable[bytes] = wrapper(handle, CHUNK)
        return wrapped
    return _FileBody(handle)
