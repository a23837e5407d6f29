"""The manifest: what the last successful build left in the output folder
(the files feedpub owns, each file's fingerprint, the build's stamp and each
folder's mtime), read and written as one JSON file beside the tree."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path

from feedpub.output.files import file_system_now, fsync_folder, same_bytes, write_atomic

MANIFEST_NAME = ".feedpub-manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """What the last successful build left in the output folder: the files it
    manages (only these are ever removed) and, per file, the fingerprint of
    the inputs it was rendered from (so unchanged feeds are not re-rendered)."""

    files: frozenset[str] = frozenset()
    # ``files`` in the manifest's order (sorted, as written).
    ordered: Sequence[str] = field(default=(), compare=False)
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
    # The mtime recorded for each settled folder (``write_manifest`` takes
    # them again for the folders a build did not touch).
    settled_times: Mapping[str, int] = field(default_factory=dict, compare=False)
    # Every folder holding a managed file (relative; "" for the output folder).
    folders: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def complete(self) -> bool:
        """Every managed file is on disk with its fingerprint."""
        return bool(self.files) and self.files == self.fingerprints.keys()

    def unchanged_times(self, touched: Iterable[str]) -> dict[str, int]:
        """The recorded mtimes of the settled folders but ``touched``: as they
        were when read, for a build that did not write in them."""
        times = dict(self.settled_times)
        for folder in touched:
            times.pop(folder, None)
        return times


# A folder whose mtime is what the manifest recorded is trusted to hold
# exactly what the build left: creating, deleting or renaming an entry sets
# the folder's mtime, but only to a later value once the file system's clock
# (coarse: a jiffy, 2 s on FAT) has ticked since the recorded change. So a
# folder is recorded only when its mtime is older than "folder_clock", the
# file system's time read (``file_system_now``) before the folder's mtime:
# any later change then gets a later mtime. A folder changed in the clock's
# current tick is waited for, briefly (a jiffy is 4 ms at HZ=250), else left
# out: checked file by file by the next build.
CLOCK_WAIT_S = 0.03
_CLOCK_POLL_S = 0.002


def read_manifest(output: Path) -> Manifest:
    """The last build's manifest; empty when missing or unreadable (the next
    build then renders everything, removes nothing and overwrites nothing
    that is already on disk without ``adopt``). Fingerprints of files that are
    gone from disk are dropped, so those files get rendered again.

    Checking that costs a stat per file (25,801 at L, most of a no-op
    build's own work), so a folder is checked by its mtime instead when the
    manifest recorded it (``folders``) and it is unchanged (see
    ``CLOCK_WAIT_S``): a file deleted from it would have changed it.
    Only the files of the other folders are checked one by one.

    Ownership needs only ``files``: a version-1 manifest lacking (or with a
    damaged) ``fingerprints``, ``stamp`` or ``folders`` still owns its files,
    so those files are just checked or rendered again. An unknown version
    owns nothing."""
    path = output / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
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
    ordered = (
        files
        if all(isinstance(p, str) for p in files)
        else [p for p in files if isinstance(p, str)]
    )
    managed = frozenset(ordered)
    root = os.fspath(output)
    recorded, clock = raw.get("folders"), raw.get("folder_clock")
    settled = settled_folders(root, recorded, clock)
    folders = frozenset(name.rpartition("/")[0] for name in ordered)
    kept = _found_prints(root, prints, managed, ordered, folders - settled)
    stamp = raw.get("stamp")
    exact = len(managed) == len(files) and isinstance(prints, dict) and len(kept) == len(prints)
    # Else written once with them.
    exact = exact and isinstance(raw.get("folders"), dict) and isinstance(clock, int)
    return Manifest(
        files=managed,
        fingerprints=kept,
        stamp=stamp if isinstance(stamp, str) else "",
        on_disk=exact and isinstance(stamp, str | None),
        settled=settled,
        settled_times={f: recorded[f] for f in settled} if isinstance(recorded, dict) else {},
        folders=folders,
        # As written (sorted, each once), else put so.
        ordered=ordered
        if len(ordered) == len(managed) and ordered == sorted(ordered)
        else sorted(managed),
    )


def _found_prints(
    root: str, prints: object, managed: frozenset[str], ordered: list[str], unsettled: Set[str]
) -> dict[str, str]:
    """The fingerprints of managed files found on disk: a file in a settled
    folder is there; the others are looked for one by one. When only the
    output folder's own files (a few) are to be looked for, without a loop
    over every fingerprint in Python (25,801 at L: 15 ms of a 9-file build)."""
    if not isinstance(prints, dict):
        return {}
    if (
        unsettled <= {""}
        and prints.keys() <= managed
        and all(type(v) is str for v in prints.values())
    ):
        missing = [
            n for n in ordered if "/" not in n and n in prints and not os.path.isfile(f"{root}/{n}")
        ]
        found = dict(prints)
        for name in missing:
            del found[name]
        return found
    return {
        name: value
        for name, value in prints.items()
        if name in managed
        and isinstance(value, str)
        # os.path on strings: a pathlib stat is 3x slower
        and (name.rpartition("/")[0] not in unsettled or os.path.isfile(f"{root}/{name}"))
    }


def settled_folders(root: str, recorded: object, clock: object) -> frozenset[str]:
    """The folders (relative, never the output folder itself, which the
    manifest's own rename touches) unchanged since the manifest recorded
    their mtimes, each older than the ``clock`` it recorded with them. A
    manifest without a clock (an older feedpub's) trusts no folder."""
    if not isinstance(recorded, dict) or not isinstance(clock, int):
        return frozenset()
    settled: list[str] = []
    for folder, mtime_ns in recorded.items():
        if not (isinstance(folder, str) and folder and isinstance(mtime_ns, int)):
            continue
        if mtime_ns >= clock:
            continue  # changed in the clock's tick: a later change could keep the mtime
        try:
            if os.stat(f"{root}/{folder}", follow_symlinks=False).st_mtime_ns == mtime_ns:
                settled.append(folder)
        except OSError:
            continue
    return frozenset(settled)


def write_manifest(
    output: Path,
    files: Iterable[str],
    fingerprints: Mapping[str, str],
    stamp: str,
    *,
    known: Mapping[str, int] | None = None,
) -> None:
    """The manifest of ``files``; ``known``: folder mtimes known to be
    current (``Manifest.unchanged_times``), not looked up again."""
    files = sorted(files)
    # "version" and "stamp" first, so ``peek_stamp`` reads a few hundred
    # bytes of a 3.5 MB manifest (L); the rest sorted by hand. No indent=:
    # it selects json's pure-Python encoder (80 ms at L, the C one 13 ms).
    manifest: dict[str, object] = {"version": MANIFEST_VERSION}
    if stamp:
        manifest["stamp"] = stamp
    manifest["files"] = files
    manifest["fingerprints"] = dict(sorted(fingerprints.items()))
    manifest["folder_clock"], manifest["folders"] = _settled_times(output, files, known or {})
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


def _settled_times(
    output: Path, files: Sequence[str], known: Mapping[str, int]
) -> tuple[int, dict[str, int | None]]:
    """The file system's clock and the mtimes of the folders of ``files``
    older than it (see ``CLOCK_WAIT_S``), each read after the clock."""
    root = os.fspath(output)
    folders = sorted({name.rpartition("/")[0] for name in files} - {""})
    output.mkdir(parents=True, exist_ok=True)  # the manifest is written there next
    clock = file_system_now(output)
    times = dict(known)
    times.update(_mtimes(root, [f for f in folders if f not in known]))
    waited = 0.0
    late = [f for f in folders if times.get(f, -1) >= clock]
    while late and waited < CLOCK_WAIT_S:
        time.sleep(_CLOCK_POLL_S)
        waited += _CLOCK_POLL_S
        clock = file_system_now(output)
        times.update(_mtimes(root, late))  # read again, after the new clock
        late = [f for f in late if times.get(f, -1) >= clock]
    # Every folder, so a reader knows them all (``Manifest.folders``); null: not trusted.
    return clock, {f: times[f] if times.get(f, clock) < clock else None for f in folders}


def _mtimes(root: str, folders: Iterable[str]) -> dict[str, int]:
    times: dict[str, int] = {}
    for folder in folders:
        try:
            times[folder] = os.stat(f"{root}/{folder}", follow_symlinks=False).st_mtime_ns
        except OSError:
            continue  # gone: nothing to trust
    return times
