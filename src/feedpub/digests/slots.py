"""Recipient slots: a body rendered once, split where each recipient's own
values go, and joined with them by position.

The templates are rendered with a marker in each slot that carries a fresh
128-bit random nonce, so no article text, written before the nonce existed,
can contain one; the rendered (and inlined) body is then cut at the markers
into literal chunks. Filling never searches the text: an article titled
``%%UNSUBSCRIBE_URL%%`` stays that title.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast, get_args

Slot = Literal["greeting", "unsubscribe_url", "preferences_url"]
SLOTS: tuple[Slot, ...] = get_args(Slot)


@dataclass(frozen=True)
class Personal:
    """``chunks[0] + value(slots[0]) + chunks[1] + ...``: one more chunk than
    slots."""

    chunks: tuple[str, ...]
    slots: tuple[Slot, ...]

    def __post_init__(self) -> None:
        if len(self.chunks) != len(self.slots) + 1:
            raise ValueError("a body needs one chunk more than it has slots")

    def fill(self, values: Mapping[Slot, str]) -> str:
        parts = [self.chunks[0]]
        for slot, chunk in zip(self.slots, self.chunks[1:], strict=True):
            # A slot the caller has no value for (a template newer than the
            # caller) stays empty rather than leaking the marker.
            parts += (values.get(slot, ""), chunk)
        return "".join(parts)

    @property
    def size(self) -> int:
        """UTF-8 bytes without the slot values."""
        return sum(len(chunk.encode("utf-8")) for chunk in self.chunks)


class Markers:
    """One render's markers. Plain ASCII letters, digits and hyphens, so
    neither Jinja's escaping, premailer, lxml nor URL quoting changes them."""

    def __init__(self) -> None:
        self._prefix = f"feedpub-slot-{secrets.token_hex(16)}-"
        self._pattern = re.compile(re.escape(self._prefix) + "(" + "|".join(SLOTS) + ")")

    def __getitem__(self, slot: Slot) -> str:
        return self._prefix + slot

    def split(self, rendered: str) -> Personal:
        pieces = self._pattern.split(rendered)
        chunks = tuple(pieces[0::2])
        if any(self._prefix in chunk for chunk in chunks):
            # A marker a later step mangled: filling it would leave it in the mail.
            raise ValueError("a recipient slot marker was altered while rendering")
        return Personal(chunks, tuple(cast(Slot, name) for name in pieces[1::2]))
