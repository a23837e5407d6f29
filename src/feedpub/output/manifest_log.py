"""The manifest's change log: a build that changes a few files of a big tree
appends what it changed to ``.feedpub-manifest.log``, one JSON line flushed
to disk, instead of writing the whole manifest again (whose size follows
the tree's, not the change's). Written by hand: this is a few lines of
JSON Lines, and no maintained library keeps a JSON document plus its
append-only changes.

Each line names the manifest it changes by that manifest's ``serial`` (a
random token a whole manifest gets each time it is written), so lines left
behind by an older manifest are never applied to a newer one. A reader
applies the lines of its serial in order and stops at the first it cannot
read (an append torn by a crash: that build's changes are lost, which only
makes the next build render those files again); a log that did not read
cleanly is not appended to again: the next write is a whole manifest,
which starts a new serial and removes the log. So is a log grown past an
eighth of its manifest (``LOG_MAX_SHARE``), so reading it stays a small
part of reading the manifest.

A line: ``{"serial": s, "stamp": t, "set": {path: fingerprint or null},
"drop": [path, ...], "clock": c, "folders": {folder: mtime or null}}``.
``set`` paths are owned from then on (null: without a fingerprint),
``drop`` paths no longer; ``stamp`` replaces the manifest's (a line that
owns paths before their files are written has ""); ``clock`` and
``folders`` are as in the manifest (``settled.CLOCK_WAIT_S``), for the
folders the build wrote or removed in."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from feedpub.output.files import fsync_folder

LOG_NAME = ".feedpub-manifest.log"
# The log is folded into a whole manifest once it is bigger than this share
# of the manifest (and than LOG_MIN_BYTES, so a small tree keeps one too).
LOG_MAX_SHARE = 0.125
LOG_MIN_BYTES = 64 * 1024


@dataclass(frozen=True)
class Change:
    """One line of the log, checked."""

    stamp: str
    owned: Mapping[str, str | None]
    dropped: tuple[str, ...]
    clock: int | None = None
    folders: Mapping[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class LogRead:
    """What the log holds for one manifest: its changes in order, the log's
    size, and whether every line read cleanly (else it is not appended to)."""

    changes: tuple[Change, ...] = ()
    size: int = 0
    intact: bool = True


def read_log(output: Path, serial: object) -> LogRead:
    """The changes logged for the manifest of ``serial`` (none for a
    manifest without one: an older feedpub's, whose log cannot be ours)."""
    try:
        data = (output / LOG_NAME).read_bytes()
    except FileNotFoundError:
        return LogRead()
    except OSError:
        return LogRead(intact=False)
    changes: list[Change] = []
    for line in data.split(b"\n")[:-1]:  # a last part without its newline is torn
        change = _parse(line, serial)
        if change is None:
            return LogRead(tuple(changes), len(data), intact=False)
        if change is not _OTHER:
            changes.append(change)
    return LogRead(tuple(changes), len(data), intact=data.endswith(b"\n") or not data)


# A well-formed line of another manifest (left by a crash before the log
# was removed): skipped.
_OTHER = Change(stamp="", owned={}, dropped=())


def _parse(line: bytes, serial: object) -> Change | None:
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("serial"), str):
        return None
    if not isinstance(serial, str) or raw["serial"] != serial:
        return _OTHER
    stamp, owned, dropped = raw.get("stamp"), raw.get("set"), raw.get("drop")
    clock, folders = raw.get("clock"), raw.get("folders", {})
    if not (
        isinstance(stamp, str)
        and isinstance(owned, dict)
        and all(isinstance(v, str | None) for v in owned.values())
        and isinstance(dropped, list)
        and all(isinstance(p, str) for p in dropped)
        and isinstance(clock, int | None)
        and isinstance(folders, dict)
        and all(isinstance(v, int | None) for v in folders.values())
    ):
        return None
    return Change(stamp, owned, tuple(dropped), clock, folders)


def log_has_room(manifest_size: int, log_size: int) -> bool:
    """Whether a change may still be appended (see ``LOG_MAX_SHARE``)."""
    return log_size < max(LOG_MIN_BYTES, manifest_size * LOG_MAX_SHARE)


def append_change(
    output: Path,
    serial: str,
    *,
    stamp: str,
    owned: Mapping[str, str | None],
    dropped: Iterable[str] = (),
    clock: int | None = None,
    folders: Mapping[str, int | None] | None = None,
) -> None:
    """Append one change to the log of the manifest of ``serial``, flushed
    to disk before this returns (the folder too when the log is new)."""
    line: dict[str, object] = {"serial": serial, "stamp": stamp, "set": dict(owned)}
    line["drop"] = sorted(dropped)
    if clock is not None:
        line["clock"] = clock
        line["folders"] = dict(folders or {})
    data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
    path = output / LOG_NAME
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        fsync_folder(output)


def remove_log(output: Path) -> None:
    """After a whole manifest is in place: its lines are of an older serial."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(output / LOG_NAME)
