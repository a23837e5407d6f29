"""Issue 12: records with arbitrary Unicode in every field, in every record
format: ingest never crashes; what it stores is clean text."""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from feedpub.model import Article, Reject
from support.ingesting import NOW, make_config, read_path

NASTY = st.sampled_from(
    [
        "\ud800",
        "\udfff",
        "\x00",
        "\x1b[31m",
        "\u202e\u2066",
        "\ufffe",
        "\uffff",
        "😀👨‍👩‍👧",
        "]]>",
        "{{ 7*7 }}{% x %}",
        "&amp;&lt;&#0;&#xD800;&bogus;",
        "<script>x</script>",
        "\r\n\u2028\u2029",
        "x" * 100_000,
    ]
)
FIELD = st.one_of(st.text(max_size=40), NASTY, st.lists(NASTY, max_size=3).map("".join))
RECORD = st.fixed_dictionaries(
    {"id": FIELD, "title": FIELD},
    optional={
        "summary": FIELD,
        "content": FIELD,
        "text": FIELD,
        "author": FIELD,
        "url": FIELD,
        "image": FIELD,
        "published": FIELD,
        "tags": st.lists(FIELD, max_size=4),
    },
)
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def encodings(record: dict[str, object]) -> dict[str, str]:
    """The record written as each record format (YAML only where pyyaml can
    write it: it refuses lone surrogates, which JSON escapes)."""
    as_json = json.dumps(record)
    out = {"r.jsonl": as_json + "\n", "r.json": "[" + as_json + "]"}
    with contextlib.suppress(yaml.YAMLError):
        out["r.yaml"] = yaml.safe_dump([record], allow_unicode=False)
    return out


def assert_clean(item: Article | Reject) -> None:
    assert item.reason if isinstance(item, Reject) else item.id
    if isinstance(item, Article):
        for value in (item.id, item.title, item.summary, item.content, item.author or ""):
            value.encode("utf-8")
            assert not _XML_ILLEGAL.search(value)
        assert len(item.title) <= 300 and len(item.summary) <= 1000
        for tag in item.tags:
            tag.name.encode("utf-8")
            tag.key.encode("utf-8")


@settings(max_examples=60, deadline=None)
@given(RECORD)
def test_any_record_is_stored_clean_or_rejected_with_a_reason(record: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        cfg = make_config(Path(folder))
        for name, content in encodings(record).items():
            path = Path(folder) / name
            path.write_text(content, encoding="utf-8")
            items = read_path(path, cfg, NOW)
            assert items
            for item in items:
                assert_clean(item)
                if isinstance(item, Reject):
                    item.reason.encode("utf-8")
                    (item.location or "").encode("utf-8")
