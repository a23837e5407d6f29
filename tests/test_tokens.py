"""Signed link tokens: what reads back, what does not, and where the secret comes from."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from feedpub.tokens import SecretError, load_secret, make_token, read_token

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
