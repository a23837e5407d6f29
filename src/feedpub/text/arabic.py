"""Arabic news text: normalisation, tag keys, slugs, vocabulary matching and
removal of characters XML 1.0 forbids.

Imports nothing of feedpub but ``model``.

Arabic matching is written by hand rather than with a stemmer library: the
rules wanted here are few and exact (diacritics and tatweel ignored, alef
forms, final ى/ي and ة/ه unified, a fixed list of proclitics, whole words
only), and a stemmer would also strip suffixes, which is exactly what must
*not* match («الأسدي» is not «الأسد»).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from feedpub.model import Tag

# XML 1.0 "Char": #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
# Everything else (C0 controls, lone surrogates, U+FFFE/U+FFFF) is removed.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_TATWEEL = "\u0640"
# Letter folds, as (from, to). Applied with str.replace, not str.translate:
# translate with a dict looks every character up in Python, replace is one C
# scan per letter (bench/RESULTS.md, figures behind the code).
_LETTER_FOLDS: tuple[tuple[str, str], ...] = (
    ("أ", "ا"),
    ("إ", "ا"),
    ("آ", "ا"),
    ("ٱ", "ا"),
    ("ى", "ي"),  # alef maksura: only ever word-final, so unify it everywhere
    ("ة", "ه"),
    ("ی", "ي"),  # Persian yeh, common in pasted text
    ("ک", "ك"),  # Persian keheh
    (_TATWEEL, ""),
)
# Unicode category Cf (invisible format characters: RLM, LRM, ZWNJ, BOM ...)
# as of the Unicode data of this Python; tests/text/test_arabic.py checks the
# ranges against unicodedata, so a newer Unicode shows up as a failing test.
# Written out because computing it at import is slow (bench/RESULTS.md).
FORMAT_CHAR_RANGES: tuple[tuple[int, int], ...] = (
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges) + "]"


# What normalisation removes, in two classes: sre tests a class of BMP ranges
# with a bitmap (3 us for a 200-character line) but one holding astral ranges
# range by range (18 us), so the astral ones only run on text that has an
# astral character at all.
_REMOVED_BMP = re.compile(
    # Harakat, Quranic marks (U+064B-U+065F), the superscript alef (U+0670), Cf.
    _char_class(
        [(0x64B, 0x65F), (0x670, 0x670), *(r for r in FORMAT_CHAR_RANGES if r[1] <= 0xFFFF)]
    )
)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_FORMAT_ASTRAL = re.compile(_char_class(r for r in FORMAT_CHAR_RANGES if r[0] > 0xFFFF))
# Quotes that scraped pages use interchangeably for the same text.
_QUOTES = re.compile("[\"'“”„‟«»‘’‚‛′″]")

# Proclitics allowed before a vocabulary term, longest first so the regex
# alternation prefers them (it would backtrack to the shorter ones anyway).
PROCLITICS: tuple[str, ...] = ("وال", "بال", "فال", "لل", "ال", "و", "ف", "ب", "ل", "ك")

_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

SLUG_MAX_CHARS = 60


def strip_xml_illegal(text: str) -> str:
    """Remove the characters XML 1.0 forbids (C0 controls other than tab, LF
    and CR, lone surrogates, U+FFFE, U+FFFF)."""
    if text.isprintable():  # each of them is unprintable: one C scan, no regex
        return text
    return _XML_ILLEGAL.sub("", text)


def collapse_ws(text: str) -> str:
    """Runs of whitespace (including NBSP and line breaks) to one space, trimmed."""
    # str.split() splits at exactly the characters re's \s matches, in C
    # without the regex machinery: a third of the time.
    return " ".join(text.split())


def is_collapsed(line: str) -> bool:
    """True when ``line`` certainly is ``collapse_ws(strip_xml_illegal(line))``
    and holds no line break: a few C scans instead of a split and a join.
    ``isprintable`` is False for every whitespace character but the space
    (and for every XML-illegal one); a False here may still be collapsed."""
    return (
        line.isprintable()
        and "  " not in line
        and not line.startswith(" ")
        and not line.endswith(" ")
    )


def lines_collapsed(text: str) -> bool:
    """``is_collapsed`` of every "\n"-separated line of ``text``, in a few
    scans of the whole text (a page's lines are many and short)."""
    return (
        "  " not in text
        and " \n" not in text
        and "\n " not in text
        and not text.startswith(" ")
        and not text.endswith(" ")
        and text.replace("\n", "x").isprintable()
    )


def is_blank(text: str) -> bool:
    """True for text that is only whitespace and invisible format characters
    (RLM, LRM, ZWNJ, BOM ...)."""
    first = text[:1]  # nearly always a letter: answer without the generator
    if first and not first.isspace() and unicodedata.category(first) != "Cf":
        return False
    return not any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def ascii_digits(text: str) -> str:
    """Arabic-Indic and Extended Arabic-Indic digits to ASCII digits."""
    return text.translate(_ARABIC_DIGITS)


def normalize_arabic(text: str) -> str:
    """The form used for comparing Arabic text: NFKC (presentation forms to
    letters), invisible format characters, diacritics and tatweel removed,
    alef forms to ا, ى to ي, ة to ه, ASCII case folded. Whitespace is kept."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():  # every character below is outside ASCII
        text = _REMOVED_BMP.sub("", text)
        if _ASTRAL.search(text):
            text = _FORMAT_ASTRAL.sub("", text)
        for letter, folded in _LETTER_FOLDS:
            if letter in text:
                text = text.replace(letter, folded)
    return text.casefold()


def normalize_lines(lines: list[str]) -> list[str]:
    """``[normalize_arabic(line) for line in lines]`` for lines holding no
    line feed, in one call over the lines joined by "\n": a page's lines are
    short, and the per-call steps (NFKC, the removal regex, the letter folds)
    cost more than their text. Exact: every step is per character except
    NFKC, and NFKC never composes or reorders across "\n" (a starter that
    combines with nothing), nor does any step make or remove one."""
    if not lines:
        return []
    out = normalize_arabic("\n".join(lines)).split("\n")
    if len(out) != len(lines):  # a line holding "\n" after all: one by one
        return [normalize_arabic(line) for line in lines]
    return out


def tag_key(name: str) -> str:
    """The identity of a tag: normalised spelling, whitespace collapsed.
    بوتين, بُوتين, بوتـين and "بوتين " all give the same key."""
    return collapse_ws(normalize_arabic(strip_xml_illegal(name)))


def compare_key(text: str) -> str:
    """Key for detecting repeated text (a teaser and the article): Arabic
    normalisation, quotes and whitespace dropped (the two copies differ in
    “ ” against " and in the spaces around them), ellipses unified."""
    text = normalize_arabic(text).replace("…", "...")
    return "".join(_QUOTES.sub("", text).split())


def _slug_char_ok(ch: str) -> bool:
    if ch.isascii():
        return ch.isalnum()
    # Arabic letters (Lo) and Arabic-Indic digits (Nd) of the Arabic blocks;
    # marks and tatweel (Lm) are dropped.
    code = ord(ch)
    in_arabic = 0x0600 <= code <= 0x06FF or 0x0750 <= code <= 0x077F
    return in_arabic and unicodedata.category(ch) in ("Lo", "Nd")


def slugify(text: str) -> str:
    """A slug safe as one URL path segment and one file name: Arabic letters
    and digits and ASCII letters/digits kept, whitespace to '-', everything
    else dropped, ASCII lower-cased. Never empty, '.', '..' or containing '/':
    text with nothing usable falls back to 't-' + a short hash of its key."""
    key = tag_key(text)
    # Built from the spelling, not the key: the key folds أ/ا and ة/ه for
    # matching, but a URL should read as the word is written. Diacritics and
    # tatweel still go (they are marks, dropped by _slug_char_ok).
    spelling = collapse_ws(unicodedata.normalize("NFKC", strip_xml_illegal(text))).casefold()
    words = ["".join(ch for ch in word if _slug_char_ok(ch)) for word in spelling.split(" ")]
    slug = "-".join(word for word in words if word).lower()
    if not slug:
        return "t-" + _short_hash(key)
    if len(slug) > SLUG_MAX_CHARS:
        # Keep file names well under the 255-byte limit (Arabic is 2 bytes a
        # letter); the hash keeps two long keys with one prefix apart.
        slug = slug[:SLUG_MAX_CHARS].rstrip("-") + "-" + _short_hash(key)
    return slug


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def clean_tag_name(name: str) -> str:
    """The display spelling of a tag: XML-illegal characters removed,
    whitespace collapsed, NFC."""
    return unicodedata.normalize("NFC", collapse_ws(strip_xml_illegal(name)))


def make_tag(name: str) -> Tag | None:
    """A Tag for the spelling ``name``; None for empty or whitespace-only names."""
    display = clean_tag_name(name)
    key = tag_key(display)
    if not key:
        return None
    return Tag(key=key, name=display, slug=slugify(display))


def _term_pattern(term: str) -> str:
    """Regex for one normalised term with its proclitics, whole word only."""

    def words(text: str) -> str:
        return r"\s+".join(re.escape(word) for word in text.split(" "))

    alternatives = [f"(?:{'|'.join(PROCLITICS)})?{words(term)}"]
    if term.startswith("ال") and len(term) > 2:
        # ل + الأسد is written للأسد: the article's alef is dropped.
        alternatives.append("لل" + words(term[2:]))
    return rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)"


_WORD = re.compile(r"\w+")


def _trigger_forms(term: str) -> tuple[frozenset[str], bool] | None:
    """The whole words (``\\w+`` runs) of which one must occur in a text for
    ``_term_pattern(term)`` to match it: the first word with each proclitic
    (and the لل form), and whether finding one is already a match (a
    one-word term). None when the term has a word that is not one ``\\w+``
    run ("c++", ".net"): such a term is always searched with its pattern."""
    words = term.split(" ")
    if not all(_WORD.fullmatch(word) for word in words):
        return None
    first = words[0]
    forms = {first, *(clitic + first for clitic in PROCLITICS)}
    if term.startswith("ال") and len(term) > 2:
        forms.add("لل" + first[2:])  # "لل" alone when the first word is "ال"
    # A one-word term's pattern is exactly "one of these forms, as a whole word".
    return frozenset(forms), len(words) == 1


@dataclass(frozen=True)
class Vocabulary:
    """Compiled vocabulary: tag display name -> pattern matching the name and
    its aliases the Arabic way, on text passed through ``normalize_arabic``.

    Matching does not run every pattern over every text (500 tags made that
    most of an ingest): the words of the text are collected once, a term can
    only match where its first word (with a proclitic) is one of them, and a
    one-word term that is one of them has matched. Only the patterns of
    longer terms so found, and of terms that are not plain words, run."""

    # (display name, keys of the name and its aliases, compiled pattern)
    entries: tuple[tuple[str, frozenset[str], re.Pattern[str]], ...]
    # word form -> (entry index, whether the form alone is a match)
    triggers: Mapping[str, tuple[tuple[int, bool], ...]] = field(default_factory=dict)
    always: tuple[int, ...] = ()  # entries whose pattern always runs
    by_key: Mapping[str, str] = field(default_factory=dict)  # tag key -> name

    def matches(self, text: str) -> list[str]:
        """Vocabulary names occurring in ``text`` (in vocabulary order)."""
        if not self.entries:
            return []
        normalized = normalize_arabic(text)
        found: set[int] = set()
        candidates = set(self.always)
        for word in set(_WORD.findall(normalized)) & self.triggers.keys():
            for index, exact in self.triggers[word]:
                (found if exact else candidates).add(index)
        candidates -= found
        found.update(i for i in candidates if self.entries[i][2].search(normalized))
        return [self.entries[i][0] for i in sorted(found)]

    def canonical(self, key: str) -> str | None:
        """The vocabulary name whose name or an alias has exactly this tag key."""
        return self.by_key.get(key)


def compile_vocabulary(vocabulary: Mapping[str, Iterable[str]]) -> Vocabulary:
    """Compile ``{name: aliases}``; cached, so calling it per file is cheap."""
    frozen = tuple((name, tuple(aliases)) for name, aliases in vocabulary.items())
    return _compile(frozen)


@lru_cache(maxsize=16)
def _compile(vocabulary: tuple[tuple[str, tuple[str, ...]], ...]) -> Vocabulary:
    entries: list[tuple[str, frozenset[str], re.Pattern[str]]] = []
    triggers: dict[str, dict[int, bool]] = {}
    always: list[int] = []
    by_key: dict[str, str] = {}
    for name, aliases in vocabulary:
        terms = {tag_key(term) for term in (name, *aliases)}
        terms.discard("")
        if not terms:
            continue
        index = len(entries)
        ordered = sorted(terms, key=lambda t: (-len(t), t))
        pattern = "|".join(f"(?:{_term_pattern(term)})" for term in ordered)
        display = clean_tag_name(name)
        entries.append((display, frozenset(terms), re.compile(pattern)))
        for term in ordered:
            by_key.setdefault(term, display)  # the first entry holding a key wins
            trigger = _trigger_forms(term)
            if trigger is None:
                always.append(index)
                continue
            forms, exact = trigger
            for form in forms:
                # One form may be exact for one term and not for another.
                seen = triggers.setdefault(form, {})
                seen[index] = seen.get(index, False) or exact
    return Vocabulary(
        tuple(entries),
        {form: tuple(hits.items()) for form, hits in triggers.items()},
        tuple(dict.fromkeys(always)),
        by_key,
    )
