"""Signed tokens for the links in emails: unsubscribe, preferences, confirm.

A token is ``<address>.<mac>``, both base64url without padding: the address
(lower-cased) rides along so the web app knows whose link it is without a
lookup table, and the HMAC-SHA256 binds it to a purpose and a list, so an
unsubscribe token for one digest neither unsubscribes from another nor opens
the preferences page. Nothing is stored: a token is valid as long as the
secret is, and rotating ``FEEDPUB_SECRET`` revokes every link at once.

Two kinds carry more:

- A dated token (``make_dated_token``), ``<address>.<ref>.<expiry>.<mac>``:
  the confirmation link, bound to the sign-up it confirms (``ref``) and
  refused after its expiry (seconds since the epoch, signed with the rest).
- A preferences token is signed for the list ``*:<key>``, where ``key`` is
  the subscriber's link key in the store (``preferences_scope``); the store
  draws a new key when the address unsubscribes, which revokes every
  preferences link sent before.

Form tokens (``make_form_token``) are the pages' CSRF tokens: a form the
app served, signed with its time and the page it belongs to, so a form
posted from elsewhere (or long after) is refused without any cookie.

The secret comes from ``$FEEDPUB_SECRET`` or from the systemd credential
``$CREDENTIALS_DIRECTORY/feedpub_secret``, never from ``config.yaml``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from feedpub.credentials import CredentialError, credential_path, read_secret_bytes

Purpose = Literal["unsubscribe", "preferences", "confirm"]

SECRET_ENV: Final = "FEEDPUB_SECRET"
CREDENTIAL_NAME: Final = "feedpub_secret"
MIN_SECRET_BYTES: Final = 16
# Preferences and confirmation concern the subscriber, not one digest.
ALL_LISTS: Final = "*"

# Bumped if the signed layout ever changes, so old and new tokens never collide.
_VERSION: Final = b"feedpub-token-1"


class SecretError(Exception):
    """The signing secret is missing or too weak; phrased for the operator."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: str, list_name: str, address: str) -> bytes:
    # Length-prefixed fields: no choice of list name or address can make two
    # different (purpose, list, address) triples sign the same bytes.
    parts = [_VERSION, purpose.encode(), list_name.encode(), address.encode()]
    payload = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    return hmac.new(secret, payload, hashlib.sha256).digest()


def check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(
            f"the feedpub secret is {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed "
            "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def make_token(secret: bytes, purpose: Purpose, list_name: str, address: str) -> str:
    """A URL-safe token (``[A-Za-z0-9_-]`` and one ``.``) for ``address``."""
    check_secret(secret)
    address = address.strip().lower()
    return f"{_b64(address.encode())}.{_b64(_mac(secret, purpose, list_name, address))}"


def read_token(secret: bytes, purpose: Purpose, list_name: str, token: str) -> str | None:
    """The (lower-cased) address a token was made for, or None when it was not
    made with this secret for this purpose and list (forged, altered, other)."""
    check_secret(secret)
    encoded, dot, mac = token.partition(".")
    if not dot or not encoded or not mac:
        return None
    try:
        address = _unb64(encoded).decode("utf-8")
        given = _unb64(mac)
    except (binascii.Error, ValueError):  # ValueError covers UnicodeDecodeError
        return None
    # Canonical forms only: base64 tolerates variants (trailing bits, padding)
    # that would make one token readable under several spellings.
    if _b64(address.encode()) != encoded or _b64(given) != mac or address != address.lower():
        return None
    expected = _mac(secret, purpose, list_name, address)
    return address if hmac.compare_digest(given, expected) else None


def preferences_scope(link_key: str) -> str:
    """The list a preferences token is signed for: every list, under the
    subscriber's current link key."""
    return f"{ALL_LISTS}:{link_key}"


def token_address(token: str) -> str | None:
    """The address a token names, NOT verified: only to look up what its
    verification needs (the link key); ``read_token`` decides."""
    encoded = token.partition(".")[0]
    try:
        address = _unb64(encoded).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return address if _b64(address.encode()) == encoded else None


def _stamp(moment: datetime) -> int:
    return int(moment.timestamp())


def make_dated_token(
    secret: bytes, purpose: Purpose, ref: int, address: str, expires: datetime
) -> str:
    """A token for ``address`` and the record ``ref`` (a sign-up), valid
    until ``expires``: ``<address>.<ref>.<expiry>.<mac>``."""
    check_secret(secret)
    address = address.strip().lower()
    stamp = _stamp(expires)
    mac = _mac(secret, purpose, f"{ref}@{stamp}", address)
    return f"{_b64(address.encode())}.{ref}.{stamp}.{_b64(mac)}"


@dataclass(frozen=True)
class DatedToken:
    address: str
    ref: int
    expires: datetime


def read_dated_token(secret: bytes, purpose: Purpose, token: str) -> DatedToken | None:
    """What a dated token was made for, or None when forged or altered.
    Whether it has expired is the caller's to judge (its clock)."""
    check_secret(secret)
    parts = token.split(".")
    if len(parts) != 4:
        return None
    encoded, ref_text, stamp_text, mac = parts
    # Canonical decimals only: "007" and "7" must not both verify.
    if not all(x.isdigit() and x == str(int(x)) for x in (ref_text, stamp_text)):
        return None
    address = token_address(encoded)
    try:
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        return None
    if address is None or _b64(given) != mac or address != address.lower():
        return None
    expected = _mac(secret, purpose, f"{ref_text}@{stamp_text}", address)
    if not hmac.compare_digest(given, expected):
        return None
    expires = datetime.fromtimestamp(int(stamp_text), UTC)
    return DatedToken(address, int(ref_text), expires)


def make_form_token(secret: bytes, page: str, now: datetime) -> str:
    """The CSRF token of a form on ``page`` (the route and its link token),
    issued at ``now``: ``<issued>.<mac>``."""
    issued = str(_stamp(now))
    return f"{issued}.{_b64(_mac(secret, 'form', page, issued))}"


def check_form_token(
    secret: bytes, page: str, token: str, now: datetime, max_age: timedelta
) -> bool:
    """Whether ``token`` is a form token this app issued for ``page`` within
    ``max_age`` of ``now``."""
    issued, dot, mac = token.partition(".")
    if not dot or not issued.isdigit() or issued != str(int(issued)):
        return False
    try:
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        return False
    if _b64(given) != mac or not hmac.compare_digest(given, _mac(secret, "form", page, issued)):
        return False
    age = now.timestamp() - int(issued)
    return -60 <= age <= max_age.total_seconds()  # a minute's leeway for clocks apart


def load_secret(environ: Mapping[str, str]) -> bytes:
    """The signing secret: ``$FEEDPUB_SECRET``, else the systemd credential
    ``$CREDENTIALS_DIRECTORY/feedpub_secret`` (read by ``credentials``).
    Raises ``SecretError`` naming both places when neither is set, or when
    the secret is too short."""
    try:
        secret = read_secret_bytes(CREDENTIAL_NAME, environ)
    except CredentialError as exc:
        raise SecretError(str(exc)) from None
    if secret is None:
        path = credential_path(CREDENTIAL_NAME, environ)
        where = f" ({path} does not exist)" if path else " (CREDENTIALS_DIRECTORY is not set)"
        raise SecretError(
            f"no feedpub secret: set ${SECRET_ENV} or provide the systemd credential "
            f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}{where}; unsubscribe links need it"
        )
    check_secret(secret)
    return secret
