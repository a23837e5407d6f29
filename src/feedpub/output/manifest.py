"""The manifest: what the last successful build left in the output folder
(the files feedpub owns, each file's fingerprint, the build's stamp and each
folder's mtime), read and written as one JSON file beside the tree."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from feedpub.output.files import fsync_folder, same_bytes, write_atomic

MANIFEST_NAME = ".feedpub-manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """What the last successful build left in the output folder: the files it
    manages (only these are ever removed) and, per file, the fingerprint of
    the inputs it was rendered from (so unchanged feeds are not re-rendered)."""

    files: frozenset[str] = frozenset()
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    # What the whole build was made from (store generation + config), when
    # the builder gave one; "" otherwise.
    stamp: str = ""
    # Why no manifest could be used ("" when one was read): named in the
    # refusal when files feedpub cannot prove it wrote are in the way.
    problem: str = field(default="", compare=False)
    # True when this is exactly what the manifest file on disk says (read,
    # nothing dropped): a build ending with the same files, fingerprints and
    # stamp need not write it again (a no-op build at L: 0.25 s of JSON).
    on_disk: bool = field(default=False, compare=False)
    # Folders whose entries are as the last build left them (see
    # ``read_manifest``): their files were not checked one by one, and they
    # hold no temp file to sweep.
    settled: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def complete(self) -> bool:
        """Every managed file is on disk with its fingerprint."""
        return bool(self.files) and self.files == self.fingerprints.keys()


# A folder whose mtime is what the manifest recorded, and older than the
# manifest by a margin, is trusted to hold exactly what the build left:
# creating, deleting or renaming an entry sets the folder's mtime. The margin
# covers a change made in the same clock tick as the build's last write there.
# File-system timestamps come from a clock that ticks every jiffy (10 ms at
# most); a file system whose mtimes are whole milliseconds or coarser (FAT:
# 2 s; some network file systems: 1 s) gets the coarse margin.
SETTLED_AFTER_NS = 50_000_000
COARSE_SETTLED_AFTER_NS = 2_000_000_000


def read_manifest(output: Path) -> Manifest:
    """The last build's manifest; empty when missing or unreadable (the next
    build then renders everything, removes nothing and overwrites nothing
    that is already on disk without ``adopt``). Fingerprints of files that are
    gone from disk are dropped, so those files get rendered again.

    Checking that costs a stat per file (25,801 at L, most of a no-op
    build's own work), so a folder is checked by its mtime instead when the
    manifest recorded it (``folders``) and it is unchanged and settled (see
    ``SETTLED_AFTER_NS``): a file deleted from it would have changed it.
    Only the files of the other folders are checked one by one.

    Ownership needs only ``files``: a version-1 manifest lacking (or with a
    damaged) ``fingerprints``, ``stamp`` or ``folders`` still owns its files,
    so those files are just checked or rendered again. An unknown version
    owns nothing."""
    path = output / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
        written_ns = os.stat(path).st_mtime_ns
        raw = json.loads(text)
    except FileNotFoundError:
        return Manifest(problem=f"{path} is missing")
    except (OSError, ValueError) as exc:
        return Manifest(problem=f"{path} is unreadable: {exc}")
    if not isinstance(raw, dict) or raw.get("version") != MANIFEST_VERSION:
        return Manifest(problem=f"{path} is not a version {MANIFEST_VERSION} manifest")
    files = raw.get("files")
    if not isinstance(files, list):
        return Manifest(problem=f"{path} has no list of files")
    prints = raw.get("fingerprints")
    managed = frozenset(p for p in files if isinstance(p, str))
    root = os.fspath(output)
    settled = settled_folders(root, raw.get("folders"), written_ns)
    kept = {
        name: value
        for name, value in (prints.items() if isinstance(prints, dict) else ())
        if name in managed
        and isinstance(value, str)
        # os.path on strings: a pathlib stat is 3x slower
        and (name.rpartition("/")[0] in settled or os.path.isfile(f"{root}/{name}"))
    }
    stamp = raw.get("stamp")
    exact = len(managed) == len(files) and isinstance(prints, dict) and len(kept) == len(prints)
    exact = exact and isinstance(raw.get("folders"), dict)  # else written once with them
    return Manifest(
        files=managed,
        fingerprints=kept,
        stamp=stamp if isinstance(stamp, str) else "",
        on_disk=exact and isinstance(stamp, str | None),
        settled=settled,
    )


def settled_folders(root: str, recorded: object, written_ns: int) -> frozenset[str]:
    """The folders (relative, never the output folder itself, which the
    manifest's own rename touches) unchanged since the manifest recorded
    their mtimes, and settled before it was written."""
    if not isinstance(recorded, dict):
        return frozenset()
    settled: list[str] = []
    for folder, mtime_ns in recorded.items():
        if not (isinstance(folder, str) and folder and isinstance(mtime_ns, int)):
            continue
        coarse = mtime_ns % 1_000_000 == 0 or written_ns % 1_000_000 == 0
        if mtime_ns > written_ns - (COARSE_SETTLED_AFTER_NS if coarse else SETTLED_AFTER_NS):
            continue
        try:
            if os.stat(f"{root}/{folder}", follow_symlinks=False).st_mtime_ns == mtime_ns:
                settled.append(folder)
        except OSError:
            continue
    return frozenset(settled)


def write_manifest(
    output: Path, files: Iterable[str], fingerprints: Mapping[str, str], stamp: str
) -> None:
    files = sorted(files)
    # "version" and "stamp" first, so ``peek_stamp`` reads a few hundred
    # bytes of a 3.5 MB manifest (L); the rest sorted by hand. No indent=:
    # it selects json's pure-Python encoder (80 ms at L, the C one 13 ms).
    manifest: dict[str, object] = {"version": MANIFEST_VERSION}
    if stamp:
        manifest["stamp"] = stamp
    manifest["files"] = files
    manifest["fingerprints"] = dict(sorted(fingerprints.items()))
    manifest["folders"] = folder_times(output, files)
    data = (json.dumps(manifest, ensure_ascii=False) + "\n").encode("utf-8")
    manifest_path = output / MANIFEST_NAME
    if not same_bytes(manifest_path, data):
        write_atomic(manifest_path, data)
        fsync_folder(output)  # the manifest's rename is durable before anything relies on it


# The start of a manifest as ``write_manifest`` writes it, up to the stamp.
_STAMP_AT_START = re.compile(r'\{"version": (\d+), "stamp": ("(?:[^"\\]|\\.)*")')


def peek_stamp(output: Path) -> str | None:
    """The stamp of the last build, read from the manifest's first bytes
    without parsing the rest; None when that does not tell (no manifest, no
    stamp, another layout): then only ``read_manifest`` knows. A stamp is
    no proof that the files are there: this only rules a no-op build out."""
    try:
        with open(output / MANIFEST_NAME, "rb") as stream:
            start = stream.read(4096).decode("utf-8", "ignore")
    except OSError:
        return None
    found = _STAMP_AT_START.match(start)
    if found is None or int(found.group(1)) != MANIFEST_VERSION:
        return None
    stamp = json.loads(found.group(2))
    return stamp if isinstance(stamp, str) else None


def folder_times(output: Path, files: Iterable[str]) -> dict[str, int]:
    """The mtime of every folder holding a managed file (but the output
    folder itself), as this build leaves them (``read_manifest``)."""
    root = os.fspath(output)
    times: dict[str, int] = {}
    for folder in sorted({name.rpartition("/")[0] for name in files} - {""}):
        try:
            times[folder] = os.stat(f"{root}/{folder}", follow_symlinks=False).st_mtime_ns
        except OSError:
            continue  # gone: nothing to trust
    return times
