"""HTML sanitising: the only module that imports nh3.

Layer 1: imports nothing of feedpub. ``clean_html`` keeps the markup a news
article needs and nothing that runs or restyles (no script, style, iframe,
event handlers, javascript: URLs); ``strip_tags`` turns HTML into plain text
for fields that must not carry markup (title, summary, author).
"""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p",
        "a",
        "strong",
        "em",
        "b",
        "i",
        "img",
        "ul",
        "ol",
        "li",
        "blockquote",
        "figure",
        "figcaption",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "br",
        "span",
    }
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "span": {"dir", "lang"},
}
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
# Elements removed together with their content (their text is never article
# text: code, fallback text of embeds, forms).
DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {
        "script",
        "style",
        "iframe",
        "object",
        "embed",
        "noscript",
        "template",
        "svg",
        "math",
        "form",
        "select",
        "textarea",
        "button",
        "head",
        "title",
    }
)

_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    # No rel="noopener noreferrer": target is not allowed, so there is no
    # opener to protect, and the output stays exactly the allowed markup.
    link_rel=None,
    strip_comments=True,
)
_TEXT_ONLY = nh3.Cleaner(
    tags=set(),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={},
    link_rel=None,
)
# Boundaries between blocks of text. Splitting here (rather than parsing a
# tree) is enough because the HTML is first normalised by nh3.
_BLOCK_END = re.compile(
    r"</(?:p|li|blockquote|figcaption|h[1-6]|div|section|article|tr|td|th)\s*>|<br\s*/?>",
    re.IGNORECASE,
)


# What nh3 rewrites in text: in plain text NUL, CR, a leading BOM (anything
# after & or <, and those two, are markup); in escaped text inside <p>, NUL,
# CR and NBSP (written &nbsp;). Text with none of these comes back from nh3 as
# it went in, so it is not sent (``tests/text/test_sanitize.py`` checks every code
# point against nh3). Pages are mostly plain text, and nh3 was a sixth of
# reading one.
_PLAIN_REWRITTEN = re.compile("[\x00\r<&\ufeff]")
_ESCAPED_REWRITTEN = re.compile("[\x00\r\xa0]")


def clean_html(fragment: str) -> str:
    """Sanitise an HTML fragment down to the allowed news markup."""
    return str(_CLEANER.clean(fragment))


def strip_tags(fragment: str) -> str:
    """Plain text of an HTML fragment (or of text that merely might hold
    markup): tags dropped, script/style content dropped, entities decoded.
    Text nh3 would give back unchanged is not sent (``_PLAIN_REWRITTEN``);
    NUL, CR and BOM are unprintable, so isprintable (a C scan) rules them
    out before the regex is needed."""
    if "<" not in fragment and "&" not in fragment and fragment.isprintable():
        return fragment
    if not _PLAIN_REWRITTEN.search(fragment):
        return fragment
    return html.unescape(str(_TEXT_ONLY.clean(fragment)))


def html_paragraphs(fragment: str) -> list[str]:
    """The text of each block (paragraph, list item, heading ...) of an HTML
    fragment, whitespace collapsed, empty blocks left out."""
    blocks = _BLOCK_END.split(str(_CLEANER.clean(fragment)))
    texts = (" ".join(strip_tags(block).split()) for block in blocks)
    return [text for text in texts if text]


def paragraphs_to_html(paragraphs: list[str]) -> str:
    """One escaped ``<p>`` per paragraph of plain text."""
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def clean_paragraphs_html(paragraphs: list[str]) -> str:
    """``clean_html(paragraphs_to_html(paragraphs))``: escaped plain text in
    ``<p>`` is already the markup nh3 writes, unless it holds a character
    nh3 rewrites there."""
    fragment = paragraphs_to_html(paragraphs)
    # NUL, CR and NBSP are unprintable: most paragraphs need no regex.
    if any(not p.isprintable() and _ESCAPED_REWRITTEN.search(p) for p in paragraphs):
        return clean_html(fragment)
    return fragment
