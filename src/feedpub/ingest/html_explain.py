"""``feedpub ingest --explain`` for an HTML page: where each field came
from, the values the other sources gave, why each block of the extracted
body was dropped, and which parts of the page the extractor left out."""

from __future__ import annotations

from pathlib import Path

from lxml.html import HtmlElement

from feedpub.ingest.context import FileContext
from feedpub.ingest.html_pages import PageReading, read_page, text_blocks

__all__ = ["explain_html"]


def explain_html(
    data: bytes,
    ctx: FileContext,
    *,
    url: str | None = None,
    path: Path | None = None,
    charset: str | None = None,
) -> list[str]:
    """Where each field of the page came from, and why each block of the
    page is left out of the content (``feedpub ingest --explain``)."""
    reading = read_page(data, ctx, url=url, path=path, charset=charset)
    out = [f"HTML page, {len(data)} bytes, read as {reading.charset or '?'}"]
    meta = reading.meta
    if meta is not None:
        out.append("metadata: " + ("; ".join(meta.sources) or "none"))
        out.extend(f"metadata problem: {p}" for p in meta.problems)
        kind = meta.article_type or (f"og:type {meta.og_type}" if meta.og_type else "nothing")
        out.append(f"the page says it is: {kind}")
    if reading.reject is not None:
        out.append(f"REJECTED: {reading.reject}")
    row = "{:<10} {:<44} {}".format
    out.append(row("id", "", reading.id))
    for name, taken in (
        ("title", reading.title),
        ("summary", reading.summary),
        ("url", reading.url),
        ("author", reading.author),
    ):
        out.append(row(name, taken.origin or "-", taken.value or ""))
        out.extend(row("", "note", note) for note in taken.notes)
        found = getattr(meta, name if name != "url" else "url", None) if meta else None
        for other in found or []:
            if other.origin != taken.origin:
                out.append(row("", f"also {other.origin}", other.value[:80]))
    for name, value, taken in (
        ("published", reading.published, reading.published_from),
        ("updated", reading.updated, reading.updated_from),
    ):
        shown = value.isoformat() if value else "(the publication date)"
        if value and taken.value and taken.value != shown:
            shown = f"{taken.value} = {shown}"
        out.append(row(name, taken.origin or "-", shown))
        out.extend(row("", "note", note) for note in taken.notes)
    if reading.image is not None:
        image = reading.image
        size = f" {image.width or '?'}x{image.height or '?'}" if image.width or image.height else ""
        alt = f" alt «{image.alt}»" if image.alt else ""
        out.append(row("image", image.origin, f"{image.url}{size}{alt}"))
    else:
        out.append(row("image", "-", ""))
    for tag in reading.tags:
        out.append(row("tag", tag.origin, tag.value))
    for tag in meta.dropped_tags if meta else []:
        out.append(row("tag", f"DROPPED {tag.origin}", tag.value))
    if reading.prepared:
        out.append(
            f"content: {reading.prepared} ad slot(s) or comment box(es) removed, "
            "or <br> box(es) made paragraphs, first"
        )
    if reading.blocks:
        kept = sum(1 for b in reading.blocks if b.dropped is None)
        out.append(f"content: trafilatura's body, {kept} of {len(reading.blocks)} blocks kept")
        for block in reading.blocks:
            status = "kept" if block.dropped is None else "dropped"
            why = f"  [{block.dropped}]" if block.dropped else ""
            out.append(f"  {status:<8} {block.kind:<10} {block.text[:100]}{why}")
    if reading.root is not None and reading.body is not None:
        out.extend(_left_out(reading))
    return out


def _left_out(reading: PageReading) -> list[str]:
    """The page's text blocks the extractor did not take, grouped by the
    part of the page they stand in (menu, sidebar, comments ...)."""
    assert reading.root is not None
    taken = " ".join(b.text for b in reading.blocks)
    groups: list[tuple[str, list[str]]] = []
    for element, text in text_blocks(reading.root):
        if text in taken:
            continue
        where = _landmark(element)
        if groups and groups[-1][0] == where:
            groups[-1][1].append(text)
        else:
            groups.append((where, [text]))
    if not groups:
        return []
    out = ["left out by the extractor (not the article's body):"]
    for where, texts in groups:
        shown = " | ".join(t[:40] for t in texts[:4]) + (" | …" if len(texts) > 4 else "")
        out.append(f"  {where}: {len(texts)} block(s): {shown}")
    return out


_LANDMARKS = frozenset({"header", "nav", "aside", "footer", "form", "article", "section", "main"})


def _landmark(element: HtmlElement) -> str:
    """The part of the page an element stands in: its nearest ancestor that
    is a landmark element or has an id."""
    for node in (element, *element.iterancestors()):
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in ("body", "html"):
            break
        ident = node.get("id")
        if tag in _LANDMARKS or ident:
            label = f"#{ident}" if ident else "." + (node.get("class") or "").split(" ")[0]
            return f"<{tag}{label if label not in ('#', '.') else ''}>"
    return "<body>"
