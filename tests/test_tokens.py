"""Signed link tokens: what reads back, what does not, and where the secret comes from."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedpub.tokens import (
    SecretError,
    check_form_token,
    load_secret,
    make_dated_token,
    make_form_token,
    make_token,
    preferences_scope,
    read_dated_token,
    read_token,
    token_address,
)

SECRET = b"0123456789abcdef-test-secret"
ADDRESS = "reader@example.org"
TOKEN = make_token(SECRET, "unsubscribe", "daily", ADDRESS)


def _alter_last(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _other_address(token: str) -> str:
    # Keep the signature, put someone else's address in front of it.
    other = make_token(SECRET, "unsubscribe", "daily", "victim@example.org")
    return other.split(".")[0] + "." + token.split(".")[1]


CASES: list[tuple[str, Callable[[], str | None], str | None]] = [
    ("roundtrip", lambda: read_token(SECRET, "unsubscribe", "daily", TOKEN), ADDRESS),
    (
        "altered signature",
        lambda: read_token(SECRET, "unsubscribe", "daily", _alter_last(TOKEN)),
        None,
    ),
    (
        "swapped address",
        lambda: read_token(SECRET, "unsubscribe", "daily", _other_address(TOKEN)),
        None,
    ),
    ("other list", lambda: read_token(SECRET, "unsubscribe", "weekly", TOKEN), None),
    ("other purpose", lambda: read_token(SECRET, "preferences", "daily", TOKEN), None),
    ("other secret", lambda: read_token(SECRET + b"x", "unsubscribe", "daily", TOKEN), None),
    ("no dot", lambda: read_token(SECRET, "unsubscribe", "daily", TOKEN.replace(".", "")), None),
    ("padding added", lambda: read_token(SECRET, "unsubscribe", "daily", TOKEN + "=="), None),
    ("empty", lambda: read_token(SECRET, "unsubscribe", "daily", ""), None),
    ("garbage", lambda: read_token(SECRET, "unsubscribe", "daily", "%%%.***"), None),
    (
        "address case does not matter",
        lambda: read_token(
            SECRET,
            "unsubscribe",
            "daily",
            make_token(SECRET, "unsubscribe", "daily", "Reader@Example.ORG"),
        ),
        ADDRESS,
    ),
    (
        "arabic list and international address",
        lambda: read_token(
            SECRET, "confirm", "يومي", make_token(SECRET, "confirm", "يومي", "قارئ@مثال.شبكة")
        ),
        "قارئ@مثال.شبكة",
    ),
]


@pytest.mark.parametrize(("case", "read", "expected"), CASES, ids=[c[0] for c in CASES])
def test_read_token(case: str, read: Callable[[], str | None], expected: str | None) -> None:
    assert read() == expected


def test_token_is_url_safe() -> None:
    token = make_token(SECRET, "unsubscribe", "daily", "a+b/c=d@example.org")
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 15])
def test_short_secret_is_refused(secret: bytes) -> None:
    with pytest.raises(SecretError, match="at least 16"):
        make_token(secret, "unsubscribe", "daily", ADDRESS)
    with pytest.raises(SecretError, match="at least 16"):
        read_token(secret, "unsubscribe", "daily", TOKEN)
    with pytest.raises(SecretError, match="at least 16"):
        load_secret({"FEEDPUB_SECRET": secret.decode()} if secret else {"FEEDPUB_SECRET": "x"})


def test_secret_from_environment() -> None:
    assert load_secret({"FEEDPUB_SECRET": SECRET.decode()}) == SECRET


def test_secret_from_systemd_credential(tmp_path: Path) -> None:
    (tmp_path / "feedpub_secret").write_bytes(SECRET + b"\n")
    assert load_secret({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == SECRET


def test_missing_secret_names_both_places(tmp_path: Path) -> None:
    for environ in ({}, {"CREDENTIALS_DIRECTORY": str(tmp_path)}):
        with pytest.raises(SecretError) as caught:
            load_secret(environ)
        assert "FEEDPUB_SECRET" in str(caught.value)
        assert "CREDENTIALS_DIRECTORY/feedpub_secret" in str(caught.value)


# --- dated (confirmation) tokens and form tokens ------------------------------------

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
DATED = make_dated_token(SECRET, "confirm", 42, ADDRESS, NOW + timedelta(hours=48))


def _dated_parts(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (DATED, (ADDRESS, 42, NOW + timedelta(hours=48))),
        (_dated_parts(DATED, 1, "43"), None),  # another sign-up
        (_dated_parts(DATED, 1, "042"), None),  # the same number, spelt otherwise
        (_dated_parts(DATED, 2, str(int((NOW + timedelta(days=30)).timestamp()))), None),
        (_alter_last(DATED), None),
        (
            make_dated_token(SECRET, "confirm", 42, "victim@example.org", NOW).split(".")[0]
            + DATED[DATED.index(".") :],
            None,
        ),
        (make_dated_token(b"another-secret-of-16+", "confirm", 42, ADDRESS, NOW), None),
        (TOKEN, None),  # an undated token
        ("a.b.c.d", None),
    ],
    ids=[
        "roundtrip",
        "other-ref",
        "leading-zero",
        "later-expiry",
        "altered",
        "swapped-address",
        "forged",
        "undated",
        "garbage",
    ],
)
def test_read_dated_token(token: str, expected: tuple[str, int, datetime] | None) -> None:
    found = read_dated_token(SECRET, "confirm", token)
    assert (None if found is None else (found.address, found.ref, found.expires)) == expected
    assert read_dated_token(SECRET, "unsubscribe", DATED) is None  # another purpose


def test_preferences_tokens_die_with_their_link_key() -> None:
    token = make_token(SECRET, "preferences", preferences_scope("key-1"), ADDRESS)
    assert token_address(token) == ADDRESS
    assert read_token(SECRET, "preferences", preferences_scope("key-1"), token) == ADDRESS
    assert read_token(SECRET, "preferences", preferences_scope("key-2"), token) is None


@pytest.mark.parametrize(
    ("page", "later", "expected"),
    [
        ("subscribe", timedelta(0), True),
        ("subscribe", timedelta(hours=23), True),
        ("subscribe", timedelta(hours=25), False),  # too old
        ("subscribe", timedelta(minutes=-5), False),  # from the future
        ("preferences:x", timedelta(0), False),  # another page's
    ],
)
def test_form_tokens(page: str, later: timedelta, expected: bool) -> None:
    token = make_form_token(SECRET, "subscribe", NOW)
    assert check_form_token(SECRET, page, token, NOW + later, timedelta(days=1)) is expected
    assert not check_form_token(SECRET, "subscribe", _alter_last(token), NOW, timedelta(days=1))
