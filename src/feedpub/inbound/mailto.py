"""Unsubscribe by mail: the ``mailto:`` of ``List-Unsubscribe``.

Every digest's ``List-Unsubscribe`` offers
``mailto:unsubscribe@<domain>?subject=unsubscribe%20<token>`` beside the
one-click https URI (``digests.message``), the token being
``tokens.make_token(secret, "unsubscribe", <digest>, <address>)``: the very
token of the web unsubscribe link, which names its list only through its
signature. So a token is tried against each list name until one verifies.
Mail clients send that subject as it is, sometimes behind a ``Re:`` or with
the token percent-decoded (which changes nothing: it is ``[A-Za-z0-9_.-]``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from feedpub.tokens import ALL_LISTS, read_token

# A token: base64url address, a dot, a base64url HMAC-SHA256 (43 characters).
_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])")


@dataclass(frozen=True)
class UnsubscribeToken:
    address: str  # lower-cased, as signed
    list_name: str  # a digest name; ALL_LISTS never (preferences tokens are not read here)


def read_unsubscribe(secret: bytes, text: str, lists: Sequence[str]) -> UnsubscribeToken | None:
    """The first genuine unsubscribe token in ``text`` (a subject, or the
    start of a body) for one of ``lists``; None when there is none."""
    for found in _TOKEN.finditer(text):
        token = found.group(1)
        for list_name in lists:
            if list_name == ALL_LISTS:
                continue
            address = read_token(secret, "unsubscribe", list_name, token)
            if address is not None:
                return UnsubscribeToken(address, list_name)
    return None
