"""The manifest: what the last successful build left in the output folder
(the files feedpub owns, each file's fingerprint, the build's stamp and each
folder's mtime), one JSON file beside the tree, plus the changes of later
builds appended to its log (``manifest_log``) until the next whole one."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path

from feedpub.output.files import file_system_now, fsync_folder, write_atomic
from feedpub.output.manifest_log import (
    LOG_NAME,
    append_change,
    log_has_room,
    read_log,
    remove_log,
)

MANIFEST_NAME = ".feedpub-manifest.json"
# 2: the files are the fingerprints' keys and "unprinted" (1: a list of
# files beside the fingerprints, every path twice); version 1 is still read.
MANIFEST_VERSION = 2
_READ_VERSIONS = (1, MANIFEST_VERSION)


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
    # The serial of the whole manifest on disk, when its log may be appended
    # to ("" else: write a whole manifest); the sizes of both.
    serial: str = field(default="", compare=False)
    size: int = field(default=0, compare=False)
    log_size: int = field(default=0, compare=False)

    @property
    def takes_changes(self) -> bool:
        """A change may be appended to the log rather than the manifest rewritten."""
        return bool(self.serial) and log_has_room(self.size, self.log_size)

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

    Ownership needs only the files: a version-1 manifest's ``files``, a
    version-2 one's ``fingerprints`` keys and ``unprinted``. One lacking (or
    with a damaged) ``stamp`` or ``folders`` (or, version 1, ``fingerprints``)
    still owns its files, so those are just checked or rendered again. An
    unknown version owns nothing."""
    path = output / MANIFEST_NAME
    try:
        data = path.read_bytes()
        raw = json.loads(data)
    except FileNotFoundError:
        return Manifest(problem=f"{path} is missing")
    except (OSError, ValueError) as exc:
        return Manifest(problem=f"{path} is unreadable: {exc}")
    version = raw.get("version") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or version not in _READ_VERSIONS:
        return Manifest(problem=f"{path} is not a version 1 or 2 manifest")
    prints = raw.get("fingerprints")
    if version == 1:
        files = raw.get("files")
        if not isinstance(files, list):
            return Manifest(problem=f"{path} has no list of files")
    else:
        unprinted = raw.get("unprinted", [])
        if not isinstance(prints, dict) or not isinstance(unprinted, list):
            return Manifest(problem=f"{path} has no fingerprints or list of unprinted files")
        files = [*prints, *unprinted] if unprinted else list(prints)
    ordered = (
        files
        if all(isinstance(p, str) for p in files)
        else [p for p in files if isinstance(p, str)]
    )
    stamp, recorded, clock = raw.get("stamp"), raw.get("folders"), raw.get("folder_clock")
    managed = frozenset(ordered)
    exact = len(managed) == len(files) and isinstance(prints, dict) and version == MANIFEST_VERSION
    # Else written once with them.
    exact = exact and isinstance(recorded, dict) and isinstance(clock, int)
    log = read_log(output, raw.get("serial"))
    if log.changes:
        # Ownership from every line; fingerprints and folders only onto a
        # manifest that has them (else it is written whole next time).
        prints = dict(prints) if isinstance(prints, dict) else None
        recorded = dict(recorded) if isinstance(recorded, dict) else None
        present = set(managed)
        for change in log.changes:
            present.difference_update(change.dropped)
            present.update(change.owned)
            if prints is not None:
                for name in change.dropped:
                    prints.pop(name, None)
                for name, value in change.owned.items():
                    if value is None:
                        prints.pop(name, None)
                    else:
                        prints[name] = value
            stamp = change.stamp
            if change.clock is not None and recorded is not None:
                recorded.update(change.folders)
                clock = max(change.clock, clock) if isinstance(clock, int) else None
        if present != managed:  # in order again: a sorted list and a few, one pass
            ordered = sorted([*(n for n in ordered if n in present), *(present - managed)])
            managed = frozenset(present)
    root = os.fspath(output)
    settled = settled_folders(root, recorded, clock)
    folders = frozenset(name.rpartition("/")[0] for name in ordered)
    kept = _found_prints(root, prints, managed, ordered, folders - settled)
    exact = exact and isinstance(prints, dict) and len(kept) == len(prints)
    serial = raw.get("serial")
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
        serial=serial if isinstance(serial, str) and exact and log.intact else "",
        size=len(data),
        log_size=log.size,
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
    # A folder changed in the clock's tick is not trusted: a later change
    # could keep its mtime.
    trusted = {
        folder: mtime_ns
        for folder, mtime_ns in recorded.items()
        if isinstance(folder, str) and folder and isinstance(mtime_ns, int) and mtime_ns < clock
    }
    now = _mtimes(root, trusted)
    return frozenset(folder for folder, mtime_ns in trusted.items() if now.get(folder) == mtime_ns)


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
    # "version", "serial" and "stamp" first, so ``peek_stamp`` reads a few
    # hundred bytes of a 2 MB manifest (L); the rest sorted by hand. No
    # indent=: it selects json's pure-Python encoder (80 ms at L, C: 13 ms).
    manifest: dict[str, object] = {"version": MANIFEST_VERSION, "serial": os.urandom(8).hex()}
    if stamp:
        manifest["stamp"] = stamp
    owned = set(files)
    if not fingerprints.keys() <= owned:  # a fingerprint owns its path: only the files'
        fingerprints = {p: v for p, v in fingerprints.items() if p in owned}
    manifest["fingerprints"] = dict(sorted(fingerprints.items()))
    manifest["unprinted"] = sorted(owned - fingerprints.keys())
    folders = sorted({name.rpartition("/")[0] for name in files} - {""})
    manifest["folder_clock"], manifest["folders"] = _settled_times(output, folders, known or {})
    data = (json.dumps(manifest, ensure_ascii=False) + "\n").encode("utf-8")
    write_atomic(output / MANIFEST_NAME, data)
    fsync_folder(output)  # the manifest's rename is durable before anything relies on it
    remove_log(output)  # its lines, of the manifest replaced, are not applied to this one


def append_to_manifest(
    output: Path,
    previous: Manifest,
    *,
    stamp: str,
    owned: Mapping[str, str | None],
    dropped: Iterable[str] = (),
    touched: Iterable[str] | None = None,
) -> None:
    """Change the manifest ``previous`` (read from ``output``, and
    ``takes_changes``) by one line of its log: ``owned`` paths (with their
    fingerprints, or None), ``dropped`` ones no longer, the new ``stamp``;
    with ``touched``, the folders the build wrote or removed in, whose
    mtimes are recorded again (None: owning paths before writing them)."""
    clock, times = (
        (None, None) if touched is None else _settled_times(output, sorted(set(touched) - {""}), {})
    )
    append_change(
        output, previous.serial, stamp=stamp, owned=owned, dropped=dropped, clock=clock,
        folders=times,
    )  # fmt: skip


# The start of a manifest as ``write_manifest`` writes it, up to the stamp.
_STAMP_AT_START = re.compile(
    r'\{"version": (\d+), "serial": ("[0-9a-f]+"), "stamp": ("(?:[^"\\]|\\.)*")'
)
# The tail of the log read for its last line: a line is a few KB at most.
_LOG_TAIL = 256 * 1024


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
    if found is None or int(found.group(1)) not in _READ_VERSIONS:
        return None
    serial, stamp = json.loads(found.group(2)), json.loads(found.group(3))
    try:
        with open(output / LOG_NAME, "rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(max(0, size - _LOG_TAIL))
            tail = stream.read()
    except FileNotFoundError:
        tail = b""
    except OSError:
        return None
    if tail:
        if not tail.endswith(b"\n"):
            return None  # torn: read_manifest knows what holds
        try:
            line = json.loads(tail[:-1].rpartition(b"\n")[2])
        except ValueError:
            return None
        if not isinstance(line, dict) or line.get("serial") != serial:
            return None  # another manifest's log: read_manifest sorts it out
        stamp = line.get("stamp")
    return stamp if isinstance(stamp, str) else None


def _settled_times(
    output: Path, folders: Sequence[str], known: Mapping[str, int]
) -> tuple[int, dict[str, int | None]]:
    """The file system's clock and the mtimes of ``folders`` older than it
    (see ``CLOCK_WAIT_S``; null: not), each read after the clock."""
    root = os.fspath(output)
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
