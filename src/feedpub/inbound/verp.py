"""VERP: one envelope sender per message, so a delivery report names the
delivery it answers even when its body is mangled or non-standard.

``delivery.return_path: bounces@news.example.org`` makes delivery 1234's
envelope sender ``bounces+<token>@news.example.org``. The token is 26
lower-case base32 characters (case survives no MTA reliably, and some
lower-case local parts): an 80-bit HMAC of the delivery id, then the id (48
bits) masked with an HMAC of that tag. The same id always gives the same
token (a retried delivery keeps its address); nobody without the secret can
read an id out of it (the ids count the list's mail) or make one that
decodes (a forged report cannot bounce someone else). It is the SIV
construction of RFC 5297 with HMAC-SHA256 as both PRFs: the standard
library has no block cipher, and this needs none.

The secret is feedpub's token secret (``tokens.load_secret``), with its own
domain separation, so a VERP token is never read as any other token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Final

from feedpub.tokens import check_secret

_TAG: Final = b"feedpub-verp-1:tag"
_MASK: Final = b"feedpub-verp-1:mask"
_TAG_BYTES: Final = 10
_ID_BYTES: Final = 6
TOKEN_CHARS: Final = 26  # base32 of 16 bytes, unpadded
MAX_DELIVERY_ID: Final = 2 ** (8 * _ID_BYTES) - 1
# RFC 5321 4.5.3.1.1: a local part is at most 64 octets.
MAX_LOCAL_PART: Final = 64
DELIMITER: Final = "+"


def _prf(secret: bytes, label: bytes, data: bytes) -> bytes:
    return hmac.new(secret, label + data, hashlib.sha256).digest()


def encode_id(secret: bytes, delivery_id: int) -> str:
    """The token for ``delivery_id`` (0 .. 2**48-1)."""
    check_secret(secret)
    if not 0 <= delivery_id <= MAX_DELIVERY_ID:
        raise ValueError(f"delivery id {delivery_id} is out of the VERP range")
    plain = delivery_id.to_bytes(_ID_BYTES, "big")
    tag = _prf(secret, _TAG, plain)[:_TAG_BYTES]
    mask = _prf(secret, _MASK, tag)[:_ID_BYTES]
    sealed = bytes(a ^ b for a, b in zip(plain, mask, strict=True))
    return base64.b32encode(tag + sealed).decode("ascii").rstrip("=").lower()


def decode_id(secret: bytes, token: str) -> int | None:
    """The delivery id ``token`` was made for, or None when it was not made
    with this secret (forged, altered, truncated)."""
    check_secret(secret)
    if len(token) != TOKEN_CHARS:
        return None
    try:
        raw = base64.b32decode(token.upper() + "======")
    except (binascii.Error, ValueError):
        return None
    tag, sealed = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
    mask = _prf(secret, _MASK, tag)[:_ID_BYTES]
    plain = bytes(a ^ b for a, b in zip(sealed, mask, strict=True))
    expected = _prf(secret, _TAG, plain)[:_TAG_BYTES]
    if not hmac.compare_digest(tag, expected):
        return None
    return int.from_bytes(plain, "big")


def split_return_path(return_path: str) -> tuple[str, str]:
    """(local part, domain) of ``delivery.return_path``; raises ValueError
    when it cannot carry a token (no domain, a ``+`` already, too long)."""
    local, at, domain = return_path.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{return_path!r} is not an address (local@domain)")
    if DELIMITER in local:
        raise ValueError(f"{return_path!r}: the local part must not contain {DELIMITER!r}")
    if len(local) + len(DELIMITER) + TOKEN_CHARS > MAX_LOCAL_PART:
        room = MAX_LOCAL_PART - len(DELIMITER) - TOKEN_CHARS
        raise ValueError(f"{return_path!r}: the local part must be at most {room} characters")
    return local, domain


def envelope_sender(secret: bytes, return_path: str, delivery_id: int) -> str:
    """The envelope sender (SMTP ``MAIL FROM``, the outbox's ``Return-Path``)
    of delivery ``delivery_id``: ``local+<token>@domain``."""
    local, domain = split_return_path(return_path)
    return f"{local}{DELIMITER}{encode_id(secret, delivery_id)}@{domain}"


class VerpReader:
    """Finds the VERP addresses of one ``return_path`` in headers and text,
    and reads the delivery id out of them."""

    def __init__(self, secret: bytes, return_path: str) -> None:
        check_secret(secret)
        self._secret = secret
        local, domain = split_return_path(return_path)
        self._pattern = re.compile(
            rf"(?<![\w.+-]){re.escape(local)}\{DELIMITER}([a-z2-7]{{{TOKEN_CHARS}}})"
            rf"@{re.escape(domain)}(?![\w-])",
            re.IGNORECASE,
        )
        self._bytes_pattern = re.compile(self._pattern.pattern.encode("ascii"), re.IGNORECASE)

    def delivery_id(self, address: str) -> int | None:
        """The delivery of one VERP address, None for any other address."""
        found = self._pattern.fullmatch(address.strip().strip("<>"))
        return None if found is None else decode_id(self._secret, found.group(1).lower())

    def search(self, text: str) -> int | None:
        """The delivery of the first genuine VERP address anywhere in ``text``."""
        for found in self._pattern.finditer(text):
            delivery = decode_id(self._secret, found.group(1).lower())
            if delivery is not None:
                return delivery
        return None

    def search_bytes(self, data: bytes) -> int | None:
        """As ``search``, over a raw message."""
        for found in self._bytes_pattern.finditer(data):
            delivery = decode_id(self._secret, found.group(1).decode("ascii").lower())
            if delivery is not None:
                return delivery
        return None
