"""The folders a build may trust by their mtime alone, without a stat per
file: those unchanged since the manifest recorded them, by the file
system's own clock. Recorded by ``manifest.write_manifest`` (and the log's
lines), trusted by ``manifest.read_manifest``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from feedpub.output.files import file_system_now

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


def folder_times(
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
