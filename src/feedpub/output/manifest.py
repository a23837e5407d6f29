"""The manifest: what the last successful build left in the output folder
(the files feedpub owns, each file's fingerprint, the build's stamp and each
folder's mtime), one JSON file beside the tree, plus the changes of later
builds appended to its log (``manifest_log``) until the next whole one."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path

from feedpub.output.files import fsync_folder, write_atomic
from feedpub.output.manifest_log import (
    LOG_NAME,
    Change,
    append_change,
    log_has_room,
    read_log,
    remove_log,
)
from feedpub.output.settled import folder_times, settled_folders

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
    # stamp need not write it again (a big tree's JSON is costly).
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

    def changed(
        self, gone: Set[str], owned: Mapping[str, str | None]
    ) -> tuple[Sequence[str], dict[str, str]]:
        """Its files and fingerprints with a change applied (``gone`` no
        longer owned, ``owned`` with its fingerprint or None), in its order,
        so sorting them again (and the JSON written from them) costs little."""
        new = [relative for relative in owned if relative not in self.files]
        final: Sequence[str] = self.ordered
        if gone or new:
            final = sorted([*(p for p in self.ordered if p not in gone), *new])
        prints = dict(self.fingerprints)  # a C-speed copy, in the manifest's order
        for relative in gone:
            prints.pop(relative, None)
        for relative, value in owned.items():
            if value is None:
                prints.pop(relative, None)
            else:
                prints[relative] = value  # in place for a known path: the order stays
        return final, prints

    def unchanged_times(self, touched: Iterable[str]) -> dict[str, int]:
        """The recorded mtimes of the settled folders but ``touched``: as they
        were when read, for a build that did not write in them."""
        times = dict(self.settled_times)
        for folder in touched:
            times.pop(folder, None)
        return times


def read_manifest(output: Path) -> Manifest:
    """The last build's manifest; empty when missing or unreadable (the next
    build then renders everything, removes nothing and overwrites nothing
    that is already on disk without ``adopt``). Fingerprints of files that are
    gone from disk are dropped, so those files get rendered again.

    Checking that costs a stat per file, most of a no-op build's own work,
    so a folder is checked by its mtime instead when the manifest recorded
    it (``folders``) and it is unchanged (see ``settled``): a file deleted
    from it would have changed it. Only the files of the other folders are
    checked one by one.

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
    said = _said(raw)
    if isinstance(said, str):
        return Manifest(problem=f"{path} {said}")
    serial = raw.get("serial")
    log = read_log(output, serial)
    if log.changes:
        _apply_log(said, log.changes)
    return _found(output, said, serial=serial, intact=log.intact, sizes=(len(data), log.size))


@dataclass
class _Said:
    """What a manifest file (then its log) says, values not yet trusted:
    its files in its order and as a set, its fingerprints, stamp, folder
    mtimes and their clock as found, and whether it is exactly as
    ``write_manifest`` writes it."""

    ordered: list[str]
    managed: frozenset[str]
    prints: object
    stamp: object
    recorded: object
    clock: object
    exact: bool


def _said(raw: object) -> _Said | str:
    """What the JSON of a manifest says, or why it owns nothing."""
    version = raw.get("version") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or version not in _READ_VERSIONS:
        return "is not a version 1 or 2 manifest"
    prints = raw.get("fingerprints")
    if version == 1:
        files = raw.get("files")
        if not isinstance(files, list):
            return "has no list of files"
    else:
        unprinted = raw.get("unprinted", [])
        if not isinstance(prints, dict) or not isinstance(unprinted, list):
            return "has no fingerprints or list of unprinted files"
        files = [*prints, *unprinted] if unprinted else list(prints)
    ordered = (
        files
        if all(isinstance(p, str) for p in files)
        else [p for p in files if isinstance(p, str)]
    )
    recorded, clock = raw.get("folders"), raw.get("folder_clock")
    managed = frozenset(ordered)
    exact = len(managed) == len(files) and isinstance(prints, dict) and version == MANIFEST_VERSION
    # Else written once with them.
    exact = exact and isinstance(recorded, dict) and isinstance(clock, int)
    return _Said(ordered, managed, prints, raw.get("stamp"), recorded, clock, exact)


def _apply_log(said: _Said, changes: Sequence[Change]) -> None:
    """The log's changes applied in order: ownership from every line;
    fingerprints and folders only onto a manifest that has them (else it
    is written whole next time)."""
    prints = dict(said.prints) if isinstance(said.prints, dict) else None
    recorded = dict(said.recorded) if isinstance(said.recorded, dict) else None
    clock = said.clock
    present = set(said.managed)
    for change in changes:
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
        said.stamp = change.stamp
        if change.clock is not None and recorded is not None:
            recorded.update(change.folders)
            clock = max(change.clock, clock) if isinstance(clock, int) else None
    if present != said.managed:  # in order again: a sorted list and a few, one pass
        said.ordered = sorted(
            [*(n for n in said.ordered if n in present), *(present - said.managed)]
        )
        said.managed = frozenset(present)
    said.prints, said.recorded, said.clock = prints, recorded, clock


def _found(
    output: Path, said: _Said, *, serial: object, intact: bool, sizes: tuple[int, int]
) -> Manifest:
    """The manifest ``said`` describes, checked against the disk: the
    folders still as recorded, the fingerprints of the files found."""
    root = os.fspath(output)
    ordered, managed, prints, stamp, recorded = (
        said.ordered, said.managed, said.prints, said.stamp, said.recorded
    )  # fmt: skip
    settled = settled_folders(root, recorded, said.clock)
    folders = frozenset(name.rpartition("/")[0] for name in ordered)
    kept = _found_prints(root, prints, managed, ordered, folders - settled)
    exact = said.exact and isinstance(prints, dict) and len(kept) == len(prints)
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
        serial=serial if isinstance(serial, str) and exact and intact else "",
        size=sizes[0],
        log_size=sizes[1],
    )


def _found_prints(
    root: str, prints: object, managed: frozenset[str], ordered: list[str], unsettled: Set[str]
) -> dict[str, str]:
    """The fingerprints of managed files found on disk: a file in a settled
    folder is there; the others are looked for one by one. When only the
    output folder's own files (a few) are to be looked for, without a loop
    over every fingerprint in Python (a big tree has tens of thousands)."""
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
        # os.path on strings: a pathlib stat is slower
        and (name.rpartition("/")[0] not in unsettled or os.path.isfile(f"{root}/{name}"))
    }


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
    # hundred bytes of a big manifest; the rest sorted by hand. No indent=:
    # it selects json's pure-Python encoder, several times slower than C's.
    manifest: dict[str, object] = {"version": MANIFEST_VERSION, "serial": os.urandom(8).hex()}
    if stamp:
        manifest["stamp"] = stamp
    owned = set(files)
    if not fingerprints.keys() <= owned:  # a fingerprint owns its path: only the files'
        fingerprints = {p: v for p, v in fingerprints.items() if p in owned}
    manifest["fingerprints"] = dict(sorted(fingerprints.items()))
    manifest["unprinted"] = sorted(owned - fingerprints.keys())
    folders = sorted({name.rpartition("/")[0] for name in files} - {""})
    manifest["folder_clock"], manifest["folders"] = folder_times(output, folders, known or {})
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
        (None, None) if touched is None else folder_times(output, sorted(set(touched) - {""}), {})
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
