"""Header values written by hand, so every mail reader reads back exactly
what was meant: the subject, display names, List-Id, Message-ID and
Feedback-ID.

Why not the standard library's folding: when it folds an Arabic subject it
can leave a space that belongs to the text *between* two RFC 2047
encoded-words, and RFC 2047 (section 6.2) tells decoders to drop whitespace
between adjacent encoded-words: Python's own parser and mutt read
«… ٢٠٢٦(٧ أخبار)». Here every space of a non-ASCII value sits inside an
encoded-word, and the whitespace between words is only the fold.

Display names are the other trap: in a phrase, Python's parser (before
CPython gh-128110) keeps the whitespace between two encoded-words that RFC
2047 readers (mutt, Gmail) drop, so no split of a name reads the same in
both. A non-ASCII display name is therefore one encoded-word, longer than
RFC 2047's 75 characters when the name needs it (Python, mutt, Thunderbird
and the webmail clients all decode it); only a name too long for a 998-byte
line is left to the standard library.

Values come back as ``set_raw`` strings: lines joined by LF, continuation
lines starting with a space (the policy writes the line ends it is asked
for).
"""

from __future__ import annotations

import re
from base64 import b64encode
from datetime import UTC, datetime

# RFC 2047: an encoded-word is at most 75 characters, and a line holding one
# at most 76. "=?utf-8?b?" + "?=" is 12 of them.
_PREFIX, _SUFFIX = "=?utf-8?b?", "?="
WORD_CHARS = 75
WORD_LINE = 76
# RFC 5322: a line SHOULD stay within 78 characters and MUST within 998.
LINE = 78
MAX_LINE = 998
# A display name or subject written as it is: printable ASCII words split by
# single spaces, nothing a decoder could take for an encoded-word.
_PLAIN_TEXT = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*\Z")
# A display name written as it is (an RFC 5322 phrase of atoms).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*\Z")
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\Z")


def _word(data: bytes) -> str:
    return f"{_PREFIX}{b64encode(data).decode('ascii')}{_SUFFIX}"


def _payload_bytes(room: int) -> int:
    """How many bytes of UTF-8 one encoded-word of at most ``room``
    characters holds (base64: 4 characters per 3 bytes)."""
    return 3 * ((min(room, WORD_CHARS) - len(_PREFIX) - len(_SUFFIX)) // 4)


def encoded_words(text: str, first_room: int) -> list[str]:
    """``text`` as base64 UTF-8 encoded-words, cut between characters (a
    decoder may decode each word alone); the first word fits in
    ``first_room`` characters, the others on a line of their own after the
    fold's space."""
    words: list[str] = []
    limit = max(_payload_bytes(first_room), 3)
    chunk = bytearray()
    for char in text:
        data = char.encode("utf-8")
        if chunk and len(chunk) + len(data) > limit:
            words.append(_word(bytes(chunk)))
            chunk.clear()
            limit = _payload_bytes(WORD_LINE - 1)
        chunk += data
    if chunk or not words:
        words.append(_word(bytes(chunk)))
    return words


def _no_line_breaks(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError("a header value must be one line")


def _fold_plain(name: str, value: str) -> str | None:
    """Printable ASCII folded at its spaces (unfolding gives back every
    space: the fold goes before it); None when a word would not fit in a
    line."""
    lines: list[str] = []
    line = ""
    used = len(name) + 2
    for index, word in enumerate(value.split(" ")):
        piece = word if index == 0 else " " + word
        if line and used + len(line) + len(piece) > LINE:
            lines.append(line)
            line, used = piece, 0
        else:
            line += piece
        if used + len(line) > MAX_LINE:
            return None
    lines.append(line)
    return "\n".join(lines)


def unstructured(name: str, value: str) -> str:
    """The raw value of an unstructured header (Subject): printable ASCII as
    it is, folded at spaces; anything else as encoded-words that carry every
    character, spaces included."""
    _no_line_breaks(value)
    if not value:
        return ""
    if _PLAIN_TEXT.match(value) and "=?" not in value:
        folded = _fold_plain(name, value)
        if folded is not None:
            return folded
    words = encoded_words(value, WORD_LINE - len(name) - 2)
    return "\n ".join(words)


def phrase(name: str) -> str:
    """A display name as a phrase: ASCII letters and digits as they are,
    other printable ASCII as a quoted-string (mutt drops the quotes and
    backslashes an encoded-word decodes to, taking them for a broken
    sender's), anything else one encoded-word (see the module docstring)."""
    if _PLAIN_NAME.match(name):
        return name
    if _PLAIN_TEXT.match(name) and "=?" not in name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return _word(name.encode("utf-8"))


def mailbox(header: str, name: str | None, address: str) -> str | None:
    """The raw value of an address header (From, To, Reply-To) with one
    mailbox; None when the standard library must write it (an address that
    is not plain ASCII, a name too long for a line). Whitespace inside the
    name is collapsed to single spaces, as the greeting shows it."""
    if not _PLAIN_ADDRESS.match(address):
        return None
    display = " ".join((name or "").split())
    if not display:
        return address
    words = phrase(display)
    one_line = f"{words} <{address}>"
    room = (WORD_LINE if words.startswith(_PREFIX) else LINE) - len(header) - 2
    if len(one_line) <= room:
        return one_line
    if len(header) + 2 + len(words) > MAX_LINE:
        return None
    return f"{words}\n <{address}>"


def list_id(title: str, label: str) -> str:
    """RFC 2919 List-Id: the title as encoded-words (every space inside
    one, as in the subject) and the ``<label>``."""
    _no_line_breaks(title)
    if not title:
        return f"<{label}>"
    if _PLAIN_NAME.match(title):
        words = [title]
    else:
        words = encoded_words(title, WORD_LINE - len("List-Id: "))
    return "\n ".join([*words, f"<{label}>"])


# --- identifiers ---------------------------------------------------------------


_KEY = re.compile(r"[a-z0-9]{8,64}\Z")


def message_id(domain: str, delivery_id: int, store_key: str) -> str:
    """``<feedpub.<delivery id>.<store key>@domain>``: fixed when the
    delivery is queued (a retry after a crash carries the same id, which
    receivers deduplicate on), unique across stores (a new store no longer
    starts again at the ids an old one used). ``domain`` is the ASCII
    (IDNA) domain."""
    if not _KEY.match(store_key):
        raise ValueError("the store key must be 8-64 lowercase letters or digits")
    if delivery_id < 0:
        raise ValueError("a delivery id is not negative")
    return f"<feedpub.{delivery_id}.{store_key}@{domain}>"


def feedback_id(digest: str, slot: datetime, domain: str) -> str:
    """Gmail's Feedback-ID (up to four fields, the sender's id last):
    ``<digest>:<edition>:feedpub:<domain>``, so Postmaster Tools shows
    complaint rates per digest and per edition. The edition is its slot in
    UTC (``20261128T0400Z``), the same on every machine; digest names are
    letters, digits, - and _ (config), never a colon."""
    edition = slot.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    return f"{digest}:{edition}:feedpub:{domain}"
