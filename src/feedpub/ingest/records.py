"""Structured records (``*.jsonl``, ``*.json``, ``*.yaml``/``*.yml``) with
the fields ``id``, ``title``, ``summary``, ``content`` (HTML) or ``text``
(plain), ``author``, ``published``, ``updated``, ``tags``, ``url``,
``image``. Unknown fields are ignored.

* Every format goes through one path (``_record``), so text that cannot be
  encoded (a lone surrogate from a ``\\ud800`` escape) is cleaned the same
  way whatever the format, and the limits are the same: a record over
  ``ingest.max_article_bytes`` or nested deeper than ``ingest.max_depth``
  is a reject naming the limit.
* JSONL is read a line at a time, each line at most
  ``ingest.max_article_bytes`` (a line is one record).
* YAML is read with bounded alias expansion (``config.yaml``'s loader).
* Records without ``updated`` use ``published`` (not the mtime: appending a
  record to a file changes the mtime of every record in it). Records
  without ``published`` use ``updated``, else the file's mtime.
* Explicit tags whose key is a vocabulary name or alias become that
  vocabulary tag.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

from feedpub.config import yaml as yamlio
from feedpub.ingest.article import (
    MAX_KEY_CHARS,
    Fields,
    RecordError,
    assemble,
    clean_content,
    nfc,
    plain,
    tags_for,
)
from feedpub.ingest.context import FileContext
from feedpub.ingest.dates import DateError, parse_record_date
from feedpub.model import Article, Reject
from feedpub.text.arabic import collapse_ws, strip_xml_illegal
from feedpub.text.sanitize import html_paragraphs, paragraphs_to_html

Items = list[Article | Reject]
_SKIP_CHUNK = 64 * 1024


def decode(data: bytes) -> tuple[str | None, str]:
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"


def read_jsonl(stream: BinaryIO, ctx: FileContext) -> Items:
    """One record per line; the whole file is refused only when it is
    binary (a NUL byte: UTF-16 or not text) or holds no record at all.
    ``stream`` holds at most ``ingest.max_file_bytes`` (the file as read
    whole): more is a file that grew while read."""
    try:
        return list(iter_jsonl(stream, ctx, max_bytes=ctx.settings.limits.max_file_bytes))
    except BinaryFile:
        return [ctx.reject(BINARY)]


BINARY = "binary file (contains NUL bytes; UTF-16 or not text)"
_BOM = b"\xef\xbb\xbf"


class BinaryFile(Exception):
    """A NUL byte in a line-per-record file: UTF-16 or not text at all."""


@dataclass(frozen=True)
class JsonlScan:
    """A first pass over a JSONL file, with memory bounded by one line: the
    sha256 of its bytes, how many bytes were scanned (the parse reads no
    further), and the last line of each record id (an export that appends
    edits gives an id again: its last line is the record)."""

    sha256: str
    size: int
    last_line: dict[str, int]
    binary: bool


def scan_jsonl(stream: BinaryIO, cap: int) -> JsonlScan:
    """``JsonlScan`` of ``stream``, each line read at most ``cap`` bytes at a time."""
    digest = hashlib.sha256()
    last_line: dict[str, int] = {}
    size = lineno = 0
    binary = False
    while True:
        raw_line = stream.readline(cap + 1)
        if not raw_line:
            break
        lineno += 1
        size += len(raw_line)
        digest.update(raw_line)
        if len(raw_line) > cap and not raw_line.endswith(b"\n"):
            size += _skip_line(stream, digest)
            continue
        binary = binary or b"\x00" in raw_line
        if binary:
            continue
        found = _scanned_id(raw_line.removeprefix(_BOM) if lineno == 1 else raw_line)
        if found is not None:
            last_line[found] = lineno
    return JsonlScan(digest.hexdigest(), size, last_line, binary)


# A line that opens with its id, the usual export: the id read without
# parsing the rest (a fifth of a first pass otherwise; bench/RESULTS.md).
# "_" stands for JSON's whitespace.
_LEADING_ID = re.compile(
    rb'_\{_"id"_:_("(?:[^"\\]|\\.)*"|-?[0-9]+)_[,}]'.replace(b"_", rb"[ \t\r\n]*")
)


def _scanned_id(raw_line: bytes) -> str | None:
    """The record id of a JSONL line as ``_jsonl_line`` reads it, or None."""
    leading = _LEADING_ID.match(raw_line)
    # "id" twice in the line may be a second top-level id, which the parse
    # takes: parse the whole line then.
    if leading is not None and raw_line.count(b'"id"') == 1:
        try:
            value = json.loads(leading.group(1))
        except ValueError:
            value = None
    else:
        try:
            record = json.loads(raw_line)
        except (ValueError, RecursionError):
            return None  # the parse rejects it
        value = record.get("id") if isinstance(record, dict) else None
    return str(value) if _valid_id(value) else None


def iter_jsonl(
    stream: BinaryIO,
    ctx: FileContext,
    *,
    max_bytes: int | None = None,
    scan: JsonlScan | None = None,
) -> Iterator[Article | Reject]:
    """The records of ``stream``, one line at a time, each line at most
    ``ingest.max_article_bytes`` (a longer one is a reject, the rest goes
    on). ``max_bytes``: more is a reject (a file read whole that grew).
    ``scan``: read no further than it did, and leave out a record whose id
    a later line gives again. Raises ``BinaryFile`` at a NUL byte."""
    limits = ctx.settings.limits
    cap = limits.max_article_bytes
    total = lineno = 0
    seen_text = False
    while True:
        raw_line = stream.readline(cap + 1)
        if not raw_line:
            break
        lineno += 1
        total += len(raw_line)
        if scan is not None and total > scan.size:
            break  # appended since the scan: the next ingest reads it
        where = f"line {lineno}"
        if len(raw_line) > cap and not raw_line.endswith(b"\n"):
            total += _skip_line(stream)
            reason = f"record is over {cap} bytes, larger than ingest.max_article_bytes ({cap})"
            yield ctx.reject(reason, where)
            seen_text = True
            continue
        if max_bytes is not None and total > max_bytes:  # the file grew while read
            yield ctx.reject(f"file is larger than ingest.max_file_bytes ({max_bytes})")
            break
        if b"\x00" in raw_line:
            raise BinaryFile
        if lineno == 1:
            raw_line = raw_line.removeprefix(_BOM)
        if not raw_line.strip():
            continue
        seen_text = True
        yield from _jsonl_line(raw_line, lineno, ctx, scan)
    if not seen_text:
        yield ctx.reject("empty file")


def _jsonl_line(
    raw_line: bytes, lineno: int, ctx: FileContext, scan: JsonlScan | None
) -> Iterator[Article | Reject]:
    where = f"line {lineno}"
    line, error = decode(raw_line)
    if line is None:
        yield ctx.reject(error, where)
        return
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        yield ctx.reject(f"invalid JSON: {exc.msg} (column {exc.colno})", where)
        return
    except RecursionError:
        yield ctx.reject(_too_deep(ctx.settings.limits.max_depth), where)
        return
    if not isinstance(record, dict):
        yield ctx.reject(f"JSON line is not an object (got {_kind(record)})", where)
        return
    if _valid_id(record.get("id")):  # the line finds it in the file, the id in a feed
        if scan is not None and scan.last_line.get(str(record["id"]), lineno) != lineno:
            return  # a later line gives this id again: that one is the record
        where = f"{where}, id {collapse_ws(strip_xml_illegal(str(record['id'])))}"
    yield from _record(record, len(raw_line), where, ctx)


def _skip_line(stream: BinaryIO, digest: Any = None) -> int:
    """Read past the rest of an overlong line, a chunk at a time (hashing
    it into ``digest`` when given)."""
    skipped = 0
    while True:
        chunk = stream.readline(_SKIP_CHUNK)
        skipped += len(chunk)
        if digest is not None:
            digest.update(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def read_json(text: str, ctx: FileContext) -> Iterator[Article | Reject]:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        yield ctx.reject(f"invalid JSON: {exc.msg} (column {exc.colno})", f"line {exc.lineno}")
        return
    except RecursionError:
        yield ctx.reject(_too_deep(ctx.settings.limits.max_depth))
        return
    yield from _records(loaded, "JSON", ctx)


def read_yaml(text: str, ctx: FileContext) -> Iterator[Article | Reject]:
    depth = ctx.settings.limits.max_depth
    limits = yamlio.Limits(
        # The list of records is one level more than a record.
        max_depth=depth + 1,
        depth_name="ingest.max_depth",
        depth_offset=1,
    )
    try:
        loaded = yamlio.safe_load(text, limits)
    except yamlio.YamlError as exc:
        where = f"line {exc.line}" if exc.line else None
        yield ctx.reject(f"invalid YAML: {exc.problem}", where)
        return
    yield from _records(loaded, "YAML", ctx)


def _records(loaded: Any, kind: str, ctx: FileContext) -> Iterator[Article | Reject]:
    if isinstance(loaded, dict):
        items: list[Any] = [loaded]
    elif isinstance(loaded, list):
        items = loaded
    else:
        yield ctx.reject(f"{kind} must be an object or a list of objects, got {_kind(loaded)}")
        return
    for number, record in enumerate(items, start=1):
        where = f"record {number}"
        if not isinstance(record, dict):
            yield ctx.reject(f"record is not an object (got {_kind(record)})", where)
            continue
        if _valid_id(record.get("id")):
            where = f"id {collapse_ws(strip_xml_illegal(str(record['id'])))}"
        yield from _record(record, _encoded_size(record), where, ctx)


def _encoded_size(record: dict[Any, Any]) -> int:
    """The record's size as JSON in UTF-8. "surrogatepass" counts a lone
    surrogate (which the fields' cleaning removes) instead of failing on it,
    as JSONL counts the line's bytes."""
    text = json.dumps(record, ensure_ascii=False, default=str, skipkeys=True)
    return len(text.encode("utf-8", "surrogatepass"))


def _depth_over(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _too_deep(limit: int) -> str:
    return f"nested deeper than ingest.max_depth ({limit})"


def _valid_id(value: object) -> bool:
    return (isinstance(value, str) and bool(collapse_ws(strip_xml_illegal(value)))) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _record(record: dict[str, Any], size: int, where: str, ctx: FileContext) -> Items:
    try:
        return assemble(_fields(record, size, ctx), ctx, where)
    except RecordError as exc:
        return [ctx.reject(str(exc), where)]


def _fields(record: dict[str, Any], size: int, ctx: FileContext) -> Fields:
    settings = ctx.settings
    limits = settings.limits
    raw_id = record.get("id")
    if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
        raise RecordError("record has no id")
    if not _valid_id(raw_id):
        raise RecordError(f"id must be text or a whole number, got {_kind(raw_id)}")
    if size > limits.max_article_bytes:
        raise RecordError(
            f"record is {size} bytes, larger than ingest.max_article_bytes "
            f"({limits.max_article_bytes})"
        )
    if _depth_over(record, limits.max_depth):
        raise RecordError(_too_deep(limits.max_depth))
    id_ = nfc(collapse_ws(strip_xml_illegal(str(raw_id))))
    if len(id_) > MAX_KEY_CHARS:
        raise RecordError(f"id is longer than {MAX_KEY_CHARS} characters")

    title = plain(_text_field(record, "title"))
    if not title:
        raise RecordError("no title")

    if record.get("content") is not None:
        content = clean_content(_text_field(record, "content"))
    elif record.get("text") is not None:
        blocks = re.split(r"\n[ \t\r\f\v]*\n", strip_xml_illegal(_text_field(record, "text")))
        content = clean_content(paragraphs_to_html([p for p in map(collapse_ws, blocks) if p]))
    else:
        content = ""

    summary = plain(_text_field(record, "summary"))
    if not summary:
        # The lead, never an image caption the body opens with.
        lead = html_paragraphs(_FIGURE.sub(" ", content))
        summary = plain(lead[0]) if lead else ""
    if not content and summary:
        content = clean_content(paragraphs_to_html([summary]))
    # The body's text is only for the vocabulary: without one, not worth an
    # nh3 pass per paragraph.
    vocabulary = settings.vocabulary
    body = html_paragraphs(content) if vocabulary.entries else []

    raw_tags = record.get("tags")
    if raw_tags is None:
        raw_tags = []
    elif isinstance(raw_tags, str):
        raw_tags = [raw_tags]
    if not isinstance(raw_tags, list) or not all(isinstance(t, str) for t in raw_tags):
        raise RecordError("tags must be a list of strings")

    published = _date_field(record, "published", settings.tz)
    updated = _date_field(record, "updated", settings.tz)
    pub = published or updated or ctx.mtime
    return Fields(
        id=id_,
        title=title,
        summary=summary,
        content=content,
        author=plain(_text_field(record, "author")) or None,
        url=_url_field(record, "url", settings.site_url),
        image=_url_field(record, "image", settings.site_url),
        tags=tags_for(raw_tags, [title, summary, *body], vocabulary),
        published=pub,
        updated=max(updated or pub, pub),
        published_given=published is not None or updated is not None,
        updated_given=updated is not None,
    )


# A figure (image and caption) or a bare caption in the content HTML.
_FIGURE = re.compile(r"<(figure|figcaption)\b.*?</\1\s*>", re.S | re.I)


def _text_field(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordError(f"{name} must be text, got {_kind(value)}")
    return str(value)


def _date_field(record: dict[str, Any], name: str, tz: tzinfo) -> datetime | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse_record_date(value, tz)
    except DateError as exc:
        raise RecordError(f"{name}: {exc}") from None


def _url_field(record: dict[str, Any], name: str, site_url: str) -> str | None:
    raw = collapse_ws(strip_xml_illegal(_text_field(record, name)))
    if not raw:
        return None
    try:
        if raw.startswith("/") and not raw.startswith("//"):
            raw = urljoin(site_url + "/", raw)
        parts = urlsplit(raw)
    except ValueError:  # "http://[::1": an unclosed IPv6 host
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or " " in raw:
        raise RecordError(f"{name} must be an http(s) URL or a site path, got {raw!r}")
    return raw


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__
