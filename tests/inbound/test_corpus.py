"""The classifier over the whole corpus (tests/fixtures/inbound): delivery
reports, complaints, automatic replies, unsubscribes and plain mail in the
formats real senders receive, each with its expected classification in
``expected.csv``; and what flufl.bounce alone makes of the same bounces."""

from __future__ import annotations

import csv
from collections import Counter
from email import message_from_bytes

import pytest

from feedpub.inbound import classify, formats
from support.inbound_corpus import CORPUS, corpus_keys

EXPECTED = list(csv.DictReader((CORPUS / "expected.csv").read_text("utf-8").splitlines()))


def test_the_corpus_has_thirty_messages_or_more_and_each_has_a_row() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.eml"))
    assert len(files) >= 30
    assert files == sorted(row["file"] for row in EXPECTED)
    kinds = Counter(row["kind"] for row in EXPECTED)
    assert kinds["bounce"] >= 15 and kinds["complaint"] >= 4
    assert kinds["auto_reply"] >= 4 and kinds["unsubscribe"] >= 4 and kinds["other"] >= 2


@pytest.mark.parametrize("row", EXPECTED, ids=[row["file"] for row in EXPECTED])
def test_each_message_is_classified_as_expected(row: dict[str, str]) -> None:
    found = classify((CORPUS / row["file"]).read_bytes(), corpus_keys())
    first = found.recipients[0] if found.recipients else None
    assert found.kind == row["kind"]
    assert found.detector == row["detector"]
    assert (first.address if first else found.unsubscriber) == row["address"]
    assert (first.kind if first else "") == row["feedback"]
    assert (first.status if first else "") == row["status"]
    assert str(found.verp_delivery or "") == row["verp_delivery"]
    assert (found.original_ids[0] if found.original_ids else "") == row["original_id"]
    assert (found.list_name or "") == row["list"]


def test_every_report_has_one_recipient_a_sender_and_a_subject() -> None:
    for row in EXPECTED:
        found = classify((CORPUS / row["file"]).read_bytes(), corpus_keys())
        if found.kind in ("bounce", "complaint"):
            assert len(found.recipients) == 1, row["file"]
        assert found.subject and found.message_id.startswith("<"), row["file"]


def test_a_verp_address_from_another_secret_names_no_delivery() -> None:
    keys = corpus_keys()
    other = type(keys)(
        b"another-secret-of-16-bytes-or-more",
        keys.lists,
        keys.unsubscribe_address,
        keys.return_path,
    )
    for row in EXPECTED:
        found = classify((CORPUS / row["file"]).read_bytes(), other)
        assert found.verp_delivery is None
        if row["detector"] == "mailto-token":  # no token of this secret: a bare unsubscribe
            assert (found.kind, found.detector) == ("unsubscribe", "mailto-sender")


# What flufl.bounce (all_failures) finds alone: (temporary, permanent). The
# misses and mistakes that inbound.formats works around are the point.
FLUFL_ALONE = {
    # A warning (the message is still being retried) reported as permanent:
    "exim-delay-warning-24h.eml": (set(), {"layla@example.com"}),
    # Exchange 2003's plain NDR: not recognised at all.
    "exchange-2003-plain-ndr.eml": (set(), set()),
}


@pytest.mark.parametrize(
    "row", [r for r in EXPECTED if r["kind"] == "bounce"], ids=lambda r: r["file"]
)
def test_flufl_bounce_alone(row: dict[str, str]) -> None:
    message = message_from_bytes((CORPUS / row["file"]).read_bytes())
    temporary, permanent = formats.flufl_failures(message)
    expected = FLUFL_ALONE.get(row["file"])
    if expected is None:  # it finds the address, permanent or temporary as the report says
        wanted = {row["address"]}
        if row["feedback"] == "delayed":
            assert (temporary, permanent) == (wanted, set())
        else:
            assert (temporary, permanent) == (set(), wanted)
    else:
        assert (temporary, permanent) == expected
