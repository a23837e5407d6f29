"""The promises of ``TreeSync``'s phases that the other output tests leave
out: a refusal changes nothing on disk, a claim carries no stamp and no
fingerprint for what is being written, nothing is removed before the new
files are in place, a file that cannot be removed does not stop a build,
and a sync that changes nothing leaves the manifest alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from feedpub import output
from feedpub.output import (
    LOCK_NAME,
    MANIFEST_LOG_NAME,
    MANIFEST_NAME,
    TEMP_PREFIX,
    OutputError,
)

FIRST = {"a/1.xml": b"<a1/>", "a/2.xml": b"<a2/>", "b/1.xml": b"<b1/>", "top.xml": b"<t/>"}
PRINTS = {path: f"print-{path}" for path in FIRST}


def first_build(out: Path) -> None:
    output.sync_tree(out, FIRST, fingerprints=PRINTS, stamp="s1")


def everything(out: Path) -> dict[str, bytes | None]:
    """Every entry under ``out``, feedpub's own files too (None: a folder)."""
    return {
        p.relative_to(out).as_posix(): None if p.is_dir() else p.read_bytes()
        for p in sorted(out.rglob("*"))
    }


def log_lines(out: Path) -> int:
    log = out / MANIFEST_LOG_NAME
    return len(log.read_bytes().splitlines()) if log.exists() else 0


@pytest.mark.parametrize(
    ("why", "files"),
    [
        ("a file feedpub did not write", {"new/foreign.xml": b"<mine/>"}),
        ("a path out of the output folder", {"new/x.xml": b"<x/>", "../out.xml": b"<o/>"}),
        ("a name reserved for feedpub", {"new/x.xml": b"<x/>", f"a/{TEMP_PREFIX}x": b"<o/>"}),
    ],
)
def test_a_refused_sync_changes_nothing_on_disk(
    tmp_path: Path, why: str, files: dict[str, bytes]
) -> None:
    """Refused in ``check``: no claim, no leftover temp file swept, no write."""
    out = tmp_path / "public"
    first_build(out)
    (out / "new").mkdir()
    (out / "new" / "foreign.xml").write_bytes(b"theirs")
    for folder in (out, out / "a"):
        (folder / f"{TEMP_PREFIX}left-by-a-crash").write_bytes(b"half")
    before = everything(out)
    with pytest.raises(OutputError):
        output.sync_tree(out, {**FIRST, "top.xml": b"<t new/>", **files}, stamp="s2")
    assert everything(out) == before, why


@pytest.mark.parametrize("record", ["whole manifest", "manifest log"])
def test_a_build_killed_while_writing_leaves_a_claim_without_stamp_or_fingerprints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: str
) -> None:
    """The claim owns the new paths, and trusts nothing it is about to
    write: no stamp (the next build is no no-op) and no fingerprint for a
    path being written (it is rendered again); the kept files keep theirs.
    Nothing the build no longer makes is removed before its new files are
    in place."""
    out = tmp_path / "public"
    first_build(out)
    real = os.replace

    def killed(source: str | Path, target: str | Path) -> None:
        if Path(target).name != MANIFEST_NAME:
            raise OSError(5, "Input/output error")  # the first file's rename
        real(source, target)

    monkeypatch.setattr(os, "replace", killed)
    change = {"a/1.xml": b"<a1 new/>", "c/1.xml": b"<c1/>"}
    prints = {path: f"new-{path}" for path in change}
    with pytest.raises(OutputError, match="Input/output error"):
        if record == "manifest log":
            output.sync_tree(
                out, change, fingerprints=prints, stamp="s2", keeps_rest=True,
                removed=frozenset({"b/1.xml"}),
            )  # fmt: skip
        else:
            files = {**dict.fromkeys(FIRST), **change}
            del files["b/1.xml"]
            output.sync_tree(out, files, fingerprints={**PRINTS, **prints}, stamp="s2")
    monkeypatch.setattr(os, "replace", real)

    claim = output.read_manifest(out)
    assert claim.files == {*FIRST, "c/1.xml"}
    assert claim.stamp == "" and output.peek_stamp(out) in ("", None)
    assert dict(claim.fingerprints) == {p: PRINTS[p] for p in ("a/2.xml", "b/1.xml", "top.xml")}
    assert log_lines(out) == (1 if record == "manifest log" else 0)
    assert (out / "b/1.xml").read_bytes() == FIRST["b/1.xml"], "removed only after the writes"
    assert (out / "a/1.xml").read_bytes() == FIRST["a/1.xml"] and not (out / "c/1.xml").exists()


@pytest.mark.parametrize(
    ("in_the_way", "note"),
    [
        ("a folder where a managed file was", "b/1.xml: cannot remove"),
        ("a reserved name in a hand-edited manifest", "the name is reserved for feedpub"),
        ("a path out of the output folder in a hand-edited manifest", "not a plain relative"),
    ],
)
def test_what_a_sync_cannot_remove_is_noted_and_the_rest_goes_on(
    tmp_path: Path, in_the_way: str, note: str
) -> None:
    out = tmp_path / "public"
    first_build(out)
    outside = tmp_path / "outside.xml"
    outside.write_bytes(b"not feedpub's")
    (out / LOCK_NAME).write_bytes(b"")
    if in_the_way.startswith("a folder"):
        (out / "b/1.xml").unlink()
        (out / "b/1.xml").mkdir()
    else:
        name = LOCK_NAME if "reserved" in in_the_way else "../outside.xml"
        manifest = out / MANIFEST_NAME
        text = manifest.read_text(encoding="utf-8")
        manifest.write_text(text.replace('"unprinted": []', f'"unprinted": ["{name}"]'), "utf-8")
        assert name in output.read_manifest(out).files
    report = output.sync_tree(out, {"top.xml": b"<t new/>"}, stamp="s2")
    assert any(note in n for n in report.notes), report.notes
    assert report.written == ("top.xml",)
    assert {"a/1.xml", "a/2.xml"} <= set(report.removed) and not (out / "a").exists()
    assert outside.read_bytes() == b"not feedpub's" and (out / LOCK_NAME).exists()
    assert output.read_manifest(out).stamp == "s2"


@pytest.mark.parametrize(
    ("keeps_rest", "stamp", "prints", "rewritten"),
    [
        (False, "s1", PRINTS, False),
        (False, "s2", PRINTS, True),
        (False, "s1", {**PRINTS, "top.xml": "another"}, True),
        (True, "s1", PRINTS, False),
        (True, "s2", PRINTS, True),
        (True, "s1", {**PRINTS, "top.xml": "another"}, True),
    ],
)
def test_a_sync_that_changes_nothing_leaves_the_manifest_alone(
    tmp_path: Path, keeps_rest: bool, stamp: str, prints: dict[str, str], rewritten: bool
) -> None:
    """Same files, fingerprints and stamp: neither the manifest (whose
    serial is new each time it is written) nor its log is written again."""
    out = tmp_path / "public"
    first_build(out)
    before = (out / MANIFEST_NAME).read_bytes()
    kept = {"top.xml": None} if keeps_rest else dict.fromkeys(FIRST)
    report = output.sync_tree(out, kept, fingerprints=prints, stamp=stamp, keeps_rest=keeps_rest)
    assert report.written == () and set(report.unchanged) == set(FIRST)
    after = (out / MANIFEST_NAME).read_bytes()
    changed = after != before or log_lines(out) > 0
    assert changed == rewritten
    manifest = output.read_manifest(out)
    assert manifest.stamp == stamp and dict(manifest.fingerprints) == prints
