"""Lists written as one string: ``"a; b|c"`` in a CSV cell or a command
line option."""

from __future__ import annotations

import re

# A comma would clash with the CSV itself, so ; and | separate; the command
# line's --tags/--digests also take commas.
_LIST_SEPARATORS = re.compile(r"[;|]")


def split_list(value: str | None) -> tuple[str, ...]:
    """``"a; b|c"`` -> ("a", "b", "c"); also used for the CLI's --tags/--digests."""
    if not value:
        return ()
    parts = (p.strip() for p in _LIST_SEPARATORS.split(value.replace(",", ";")))
    return tuple(dict.fromkeys(p for p in parts if p))
