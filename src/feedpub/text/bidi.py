"""Bidirectional control characters in text a reader or an operator typed.

The embeddings and overrides (U+202A-U+202E) and the isolates (U+2066-U+2069)
change how the text around them is laid out: a name holding U+202E reverses
the rest of a greeting and can make a mail's line read as something else
(the "Trojan Source" trick). Names reach greetings verbatim, so these are
removed on every way in. The marks (U+200E LRM, U+200F RLM, U+061C ALM) only
nudge neighbouring characters and are kept: Arabic text uses them.
"""

from __future__ import annotations

import re

BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def strip_bidi_controls(text: str) -> str:
    """``text`` without bidi embeddings, overrides and isolates."""
    return BIDI_CONTROLS.sub("", text)
