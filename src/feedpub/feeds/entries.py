"""Entry bytes: each article's entry printed once per version and format,
then spliced into every document holding it (each writer's ``entries`` and
``document``, from the registry in ``writers``).

An entry's bytes depend on the article, the renderer (code, feedgen, site
and feeds config: ``incremental.site_key``) and two things of the feed it
sits in: the feed's tag when the article's categories were capped
(``FeedItem.categories_in``) and the feed's author standing in for a missing
one (RSS ``dc:creator``: ``Writer.entries_show_feed_author``). Indentation is
the same in every document of a format. So an entry lives in a *slot*
(article id, format, those feed variations) and is valid while its
*fingerprint* (the renderer key, the article's key, the slot) is the one it
was printed under.

Within a build every slot is printed at most once. With an ``EntryCache``
(the store) the bytes outlive the build, so an unchanged article's entry is
never printed again; a fingerprint that differs (an edit, a new feedgen, a
config change) reprints it, and the cache holds one entry per slot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from feedpub.feeds import printing, writers
from feedpub.feeds.entry import FeedHead, ItemCache, entry_shape
from feedpub.feeds.incremental import digest
from feedpub.model import Article

# Bump when splicing changes how entry bytes are cut or joined.
ENTRY_FORMAT = "1"


class EntryCache(Protocol):
    """Where entry bytes outlive a build (``store.SqlStore`` has it)."""

    def cached_entries(self, slots: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """slot -> (fingerprint, bytes) for the slots held."""
        ...

    def keep_entries(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        """Store (slot, fingerprint, bytes), replacing what a slot held."""
        ...


def _version(article: Article) -> tuple[str, object]:
    return article.content_hash, article.updated


class Needed:
    """One entry a document needs: its format, slot, fingerprint and what
    prints it."""

    __slots__ = ("article", "fingerprint", "fmt", "head", "slot")

    def __init__(
        self, fmt: str, slot: str, fingerprint: str, article: Article, head: FeedHead
    ) -> None:
        self.fmt = fmt
        self.slot = slot
        self.fingerprint = fingerprint
        self.article = article
        self.head = head


class EntryBytes:
    """The entry bytes of one build: ``need`` each entry of the documents to
    print, ``fill`` once (cache lookups and printing in batches), then
    ``get`` them while assembling the documents."""

    def __init__(
        self,
        renderer_key: str,
        items: ItemCache,
        cache: EntryCache | None = None,
        load: Callable[[Sequence[str]], list[Article]] | None = None,
    ) -> None:
        """``load`` (ids -> whole articles): the articles given to ``need``
        may lack their text (a light selection); those to print are loaded."""
        self.key = digest([renderer_key, ENTRY_FORMAT])
        self.items = items
        self.load = load
        self.cache = cache
        self._bytes: dict[str, bytes] = {}
        self._needed: dict[str, Needed] = {}
        # Per article id (one version per build): its entry shape, its slots.
        self._shapes: dict[str, tuple[bool, bool]] = {}
        self._slots: dict[tuple[str, str, str, str], str] = {}
        # (slot, article key) -> fingerprint: release() drops the bytes, so
        # a later batch needing the slot again would hash it again.
        self._prints: dict[tuple[str, str], str] = {}
        self.printed = 0  # entries printed in this build
        # The formats whose entries differ by the feed's author (RSS).
        self._by_author = frozenset(w.name for w in writers.every() if w.entries_show_feed_author)
        self.cached = 0  # entries taken from the cache

    def slot(self, fmt: str, article: Article, head: FeedHead) -> str:
        """Where the entry of ``article`` in the feed of ``head`` lives
        (found without making its FeedItem: most entries come from the cache)."""
        shape = self._shapes.get(article.id)
        if shape is None:
            shape = self._shapes[article.id] = entry_shape(article)
        capped, has_author = shape
        variant = head.tag if capped and head.tag is not None else None
        tag = f"{variant.term}\x1d{variant.label}" if variant else ""
        author = head.author if not has_author and fmt in self._by_author else ""
        where = (fmt, article.id, tag, author)
        slot = self._slots.get(where)
        if slot is None:
            slot = self._slots[where] = digest(where)
        return slot

    def need(self, fmt: str, slot: str, article_key: str, article: Article, head: FeedHead) -> None:
        if slot not in self._bytes and slot not in self._needed:
            fingerprint = self._prints.get((slot, article_key))
            if fingerprint is None:
                fingerprint = self._prints[slot, article_key] = digest(
                    [self.key, slot, article_key]
                )
            self._needed[slot] = Needed(fmt, slot, fingerprint, article, head)

    def fill(self) -> None:
        """Every needed entry: from the cache when its fingerprint matches,
        else printed (in batches per format) and then kept in the cache."""
        needed, self._needed = self._needed, {}
        if not needed:
            return
        if self.cache is not None:
            for slot, (fingerprint, data) in self.cache.cached_entries(list(needed)).items():
                want = needed.get(slot)
                if want is not None and want.fingerprint == fingerprint:
                    self._bytes[slot] = data
                    del needed[slot]
                    self.cached += 1
        if self.load is not None and needed:
            whole = {a.id: a for a in self.load(list({w.article.id for w in needed.values()}))}
            for want in needed.values():
                found = whole.get(want.article.id)
                if found is None or _version(found) != _version(want.article):
                    # Written since it was selected: print this build's
                    # document from it, but keep no bytes under the old key.
                    want.fingerprint = ""
                want.article = found or want.article
        wants = list(needed.values())
        printed = printing.print_entries(
            self.items.site, self.items, [(w.fmt, w.article, w.head) for w in wants]
        )
        fresh: list[tuple[str, str, bytes]] = []
        for want, data in zip(wants, printed, strict=True):
            self._bytes[want.slot] = data
            fresh.append((want.slot, want.fingerprint, data))
        self.printed += len(fresh)
        fresh = [entry for entry in fresh if entry[1]]
        if self.cache is not None and fresh:
            self.cache.keep_entries(fresh)

    def release(self) -> None:
        """Drop what the documents just assembled needed: the FeedItems
        (made again if a later batch prints the article in another slot)
        and, with a cache to read them back from, the entry bytes, so a
        build holds one batch of entries, not every entry it printed."""
        self.items.clear()
        if self.cache is not None:
            self._bytes.clear()

    def get(self, slots: Iterable[str]) -> list[bytes]:
        return [self._bytes[slot] for slot in slots]
