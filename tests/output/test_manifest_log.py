"""The manifest's change log: a change to the tree is one appended line, read
back as if the whole manifest had been written; a torn, foreign or full log
never misleads a reader and is folded into a whole manifest next time."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from feedpub import output as publish
from feedpub.output import MANIFEST_LOG_NAME, MANIFEST_NAME, manifest_log

FIRST = {"a/1.xml": b"<a1/>", "a/2.xml": b"<a2/>", "b/1.xml": b"<b1/>", "top.xml": b"<t/>"}
PRINTS = {path: f"print-{path}" for path in FIRST}


def first_build(out: Path) -> bytes:
    publish.sync_tree(out, FIRST, fingerprints=PRINTS, stamp="s1")
    return (out / MANIFEST_NAME).read_bytes()


def change(out: Path, files: dict[str, bytes | None], removed: frozenset[str] = frozenset(),
           stamp: str = "s2") -> None:  # fmt: skip
    prints = {path: f"new-{path}" for path in files}
    publish.sync_tree(
        out, files, None, fingerprints=prints, stamp=stamp, keeps_rest=True, removed=removed
    )


def whole(out: Path) -> tuple[frozenset[str], dict[str, str], str]:
    manifest = publish.read_manifest(out)
    return manifest.files, dict(manifest.fingerprints), manifest.stamp


@pytest.mark.parametrize(
    ("files", "removed"),
    [
        ({"a/1.xml": b"<a1 new/>"}, frozenset()),
        ({}, frozenset({"b/1.xml"})),
        ({"c/d/1.xml": b"<c/>"}, frozenset({"a/2.xml"})),  # a new path: owned before written
    ],
)
def test_a_change_is_one_appended_line_read_back_as_the_whole_manifest(
    tmp_path: Path, files: dict[str, bytes | None], removed: frozenset[str]
) -> None:
    logged, written = tmp_path / "logged", tmp_path / "whole"
    before = first_build(logged)
    change(logged, files, removed)
    assert (logged / MANIFEST_NAME).read_bytes() == before, "the manifest itself is not rewritten"
    lines = (logged / MANIFEST_LOG_NAME).read_bytes().splitlines()
    assert len(lines) == (2 if "c/d/1.xml" in files else 1)
    # The same change with no room in the log: the whole manifest, no log.
    first_build(written)
    no_room = dataclasses.replace(publish.read_manifest(written), serial="")
    publish.sync_tree(
        written, files, no_room, fingerprints={p: f"new-{p}" for p in files}, stamp="s2",
        keeps_rest=True, removed=removed,
    )  # fmt: skip
    assert not (written / MANIFEST_LOG_NAME).exists()
    assert whole(logged) == whole(written)
    assert publish.peek_stamp(logged) == "s2"
    manifest = publish.read_manifest(logged)
    assert manifest.on_disk and manifest.takes_changes
    assert {"a", "b"} - {p.rpartition("/")[0] for p in removed} <= manifest.settled


def test_a_torn_last_line_is_not_read_and_the_next_write_is_whole(tmp_path: Path) -> None:
    out = tmp_path / "public"
    first_build(out)
    change(out, {"a/1.xml": b"<a1 new/>"})
    logged = whole(out)
    with open(out / MANIFEST_LOG_NAME, "ab") as log:
        log.write(b'{"serial": "')  # a crash in the middle of an append
    manifest = publish.read_manifest(out)
    assert whole(out) == logged and not manifest.takes_changes
    assert publish.peek_stamp(out) is None  # no guess: read_manifest knows
    change(out, {"b/1.xml": b"<b1 new/>"}, stamp="s3")
    assert not (out / MANIFEST_LOG_NAME).exists()
    assert publish.read_manifest(out).fingerprints["b/1.xml"] == "new-b/1.xml"
    assert publish.read_manifest(out).fingerprints["a/1.xml"] == "new-a/1.xml"


@pytest.mark.parametrize(
    ("line", "applied"),
    [
        ({"stamp": "x", "set": {"top.xml": "p"}, "drop": []}, True),
        ({"serial": "another", "stamp": "x", "set": {"top.xml": "p"}, "drop": []}, False),
        ({"stamp": 3, "set": {}, "drop": []}, False),
        ({"stamp": "x", "set": {"top.xml": 3}, "drop": []}, False),
        ({"stamp": "x", "set": {}, "drop": "top.xml"}, False),
    ],
)
def test_only_well_formed_lines_of_this_manifest_apply(
    tmp_path: Path, line: dict[str, object], applied: bool
) -> None:
    out = tmp_path / "public"
    first_build(out)
    serial = publish.read_manifest(out).serial
    (out / MANIFEST_LOG_NAME).write_text(json.dumps({"serial": serial, **line}) + "\n")
    manifest = publish.read_manifest(out)
    assert (manifest.fingerprints["top.xml"] == "p") == applied
    assert manifest.stamp == ("x" if applied else "s1")
    foreign = line.get("serial") == "another"
    assert manifest.takes_changes == (applied or foreign)  # a bad line: not appended to


def test_a_log_past_its_share_of_the_manifest_is_folded_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "public"
    first_build(out)
    monkeypatch.setattr(manifest_log, "LOG_MIN_BYTES", 0)
    log = out / MANIFEST_LOG_NAME
    sizes = []
    for n in range(50):
        change(out, {"top.xml": f"<t{n}/>".encode()}, stamp=f"s{n}")
        sizes.append(log.stat().st_size if log.exists() else 0)
    # A line is bigger than an eighth of this small manifest: each one that
    # finds a line there folds the log into a whole manifest instead.
    assert sizes.count(0) == 25 and max(sizes) < 2 * min(s for s in sizes if s)
    assert whole(out)[1]["top.xml"] == "new-top.xml" and whole(out)[2] == "s49"
