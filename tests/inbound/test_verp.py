"""VERP addresses: one envelope sender per delivery, signed, opaque, read
back only when genuine; and the unsubscribe token of the mailto subject."""

from __future__ import annotations

import pytest

from feedpub.inbound import envelope_sender, verp
from feedpub.inbound.mailto import read_unsubscribe
from feedpub.tokens import SecretError, make_token

SECRET = b"verp-test-secret-0123456789abcdef"
RETURN_PATH = "bounces@news.example.org"


@pytest.mark.parametrize("delivery_id", [0, 1, 2, 1234, 10**9, verp.MAX_DELIVERY_ID])
def test_an_envelope_sender_reads_back_as_its_delivery(delivery_id: int) -> None:
    sender = envelope_sender(SECRET, RETURN_PATH, delivery_id)
    local, _, domain = sender.partition("@")
    assert domain == "news.example.org"
    assert local.startswith("bounces+") and len(local) <= 64
    assert verp.VerpReader(SECRET, RETURN_PATH).delivery_id(sender) == delivery_id


def test_the_same_delivery_always_gets_the_same_address_and_neighbours_look_unrelated() -> None:
    one, again = (envelope_sender(SECRET, RETURN_PATH, 41) for _ in range(2))
    tokens = {verp.encode_id(SECRET, n) for n in range(40, 60)}
    assert one == again
    assert len(tokens) == 20
    # Opaque: no shared prefix gives the sequence away.
    assert len({t[:4] for t in tokens}) == 20


def test_a_tampered_token_truncated_or_made_with_another_secret_is_refused() -> None:
    token = verp.encode_id(SECRET, 77)
    flipped = token[:5] + ("a" if token[5] != "a" else "b") + token[6:]
    assert verp.decode_id(SECRET, token) == 77
    assert verp.decode_id(SECRET, flipped) is None
    assert verp.decode_id(SECRET, token[:-1]) is None
    assert verp.decode_id(SECRET, token + "a") is None
    assert verp.decode_id(SECRET, "!" * verp.TOKEN_CHARS) is None
    assert verp.decode_id(b"another-secret-0123456789abcdef", token) is None


def test_an_mta_that_upper_cases_the_address_changes_nothing() -> None:
    sender = envelope_sender(SECRET, RETURN_PATH, 5)
    reader = verp.VerpReader(SECRET, RETURN_PATH)
    assert reader.delivery_id(sender.upper()) == 5
    assert reader.delivery_id(f"<{sender}>") == 5


def test_other_addresses_name_no_delivery() -> None:
    reader = verp.VerpReader(SECRET, RETURN_PATH)
    token = verp.encode_id(SECRET, 9)
    assert reader.delivery_id(RETURN_PATH) is None
    assert reader.delivery_id(f"bounces+{token}@elsewhere.example") is None
    assert reader.delivery_id(f"other+{token}@news.example.org") is None


def test_search_finds_the_first_genuine_address_in_text_and_bytes() -> None:
    reader = verp.VerpReader(SECRET, RETURN_PATH)
    fake = "bounces+" + "a" * verp.TOKEN_CHARS + "@news.example.org"
    real = envelope_sender(SECRET, RETURN_PATH, 314)
    text = f"Return-Path: <{fake}>\nOriginal-Mail-From: <{real}>\n"
    assert reader.search(text) == 314
    assert reader.search_bytes(text.encode()) == 314
    assert reader.search("nothing here") is None


@pytest.mark.parametrize(
    ("return_path", "problem"),
    [
        ("bounces", "not an address"),
        ("bounces+x@news.example.org", "must not contain '\\+'"),
        ("b" * 40 + "@news.example.org", "at most 37 characters"),
    ],
)
def test_a_return_path_that_cannot_carry_a_token_is_refused(return_path: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        envelope_sender(SECRET, return_path, 1)


def test_a_weak_secret_is_refused() -> None:
    with pytest.raises(SecretError):
        verp.encode_id(b"short", 1)


def test_delivery_ids_outside_the_range_are_refused() -> None:
    for bad in (-1, verp.MAX_DELIVERY_ID + 1):
        with pytest.raises(ValueError, match="out of the VERP range"):
            verp.encode_id(SECRET, bad)


def test_the_unsubscribe_token_names_its_list_and_address() -> None:
    token = make_token(SECRET, "unsubscribe", "weekly", "Reader@Example.org")
    found = read_unsubscribe(SECRET, f"Re: unsubscribe {token}", ["daily", "weekly"])
    assert found is not None and (found.address, found.list_name) == (
        "reader@example.org",
        "weekly",
    )
    assert read_unsubscribe(SECRET, f"unsubscribe {token}", ["daily"]) is None  # not a list of ours


def test_tokens_of_another_purpose_or_altered_do_not_unsubscribe() -> None:
    preferences = make_token(SECRET, "preferences", "*", "reader@example.org")
    token = make_token(SECRET, "unsubscribe", "daily", "reader@example.org")
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for subject in (f"unsubscribe {preferences}", f"unsubscribe {altered}", "unsubscribe"):
        assert read_unsubscribe(SECRET, subject, ["daily", "*"]) is None
