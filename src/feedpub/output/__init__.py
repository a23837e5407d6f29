"""Writing files so that a reader never sees half of one, and never over a
file feedpub did not write.

Every file is written to a hidden temporary file (dot-prefixed, same folder,
so the rename stays on one file system), flushed to disk and renamed into
place: at any moment each path holds its old or its new complete version.
``sync_tree`` is the one protocol over those writes; its parts:

* ``files``: atomic writes, the flush of many files, path checks, the lock;
* ``manifest`` (and its log, ``manifest_log``): what the last build owns,
  fingerprinted and stamped; ``settled``: the folders trusted by their mtime;
* ``tree``: ``TreeSync``, one sync in phases (check, sweep, claim, write,
  remove, record), each keeping its part of the crash-safety promises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from feedpub.model import BuildReport
from feedpub.output.files import (
    FSYNC_EACH_MAX,
    LOCK_NAME,
    TEMP_PREFIX,
    ForeignFileError,
    LockedError,
    OutputError,
    exclusive_lock,
    fsync_folder,
    remove_stale_temp_files,
    safe_join,
    sync_file_system,
    write_atomic,
)
from feedpub.output.manifest import MANIFEST_NAME, Manifest, peek_stamp, read_manifest
from feedpub.output.manifest_log import LOG_NAME as MANIFEST_LOG_NAME
from feedpub.output.tree import Output, TreeSync

__all__ = [
    "FSYNC_EACH_MAX",
    "LOCK_NAME",
    "MANIFEST_LOG_NAME",
    "MANIFEST_NAME",
    "TEMP_PREFIX",
    "ForeignFileError",
    "LockedError",
    "Manifest",
    "Output",
    "OutputError",
    "TreeSync",
    "build_lock",
    "exclusive_lock",
    "fsync_folder",
    "peek_stamp",
    "read_manifest",
    "remove_stale_temp_files",
    "safe_join",
    "sync_file_system",
    "sync_tree",
    "write_atomic",
]


def build_lock(output: Path) -> contextlib.AbstractContextManager[None]:
    """One build per output folder: a second concurrent build raises
    OutputError at once instead of interleaving its writes with the first."""
    return exclusive_lock(output / LOCK_NAME)


def sync_tree(
    output: Path,
    files: Mapping[str, Output],
    managed: Manifest | None = None,
    *,
    fingerprints: Mapping[str, str] | None = None,
    stamp: str = "",
    adopt: bool = False,
    keeps_rest: bool = False,
    removed: frozenset[str] = frozenset(),
) -> BuildReport:
    """Make the managed part of ``output`` hold exactly ``files``; with
    ``keeps_rest``, ``files`` is a change to what the previous build left:
    every managed file it does not name is kept, with its fingerprint, but
    those in ``removed``, which are removed (the work then follows the size
    of the change, not of the tree).

    ``files`` maps relative paths to new bytes, to a producer of them
    (called once each, in path order, and written to its temp file at once:
    memory holds one file, not the tree; see below for a file in the way of
    a path new to the manifest), or to None for "inputs
    unchanged, keep the existing file". Only files whose bytes differ are
    written (the others keep bytes and mtime); files the previous build
    managed (``managed``, read from disk when None) that are no longer
    produced are removed with the folders they leave empty; leftover temp
    files of crashed builds in managed folders are removed. Nothing else in
    ``output`` is touched. Every path is checked before anything is written.
    The manifest is written last, after every file succeeded, so a crashed
    build is simply redone by the next one.

    Ownership: a path that is on disk but not in the previous manifest was
    not written by feedpub, and the whole build is refused (ForeignFileError,
    nothing written) unless ``adopt``, which takes such files over: they are
    overwritten and enter the manifest. Paths new to the manifest are added
    to it *before* their files are written, so a build killed midway leaves
    only files the next build owns (and removes, if it no longer makes them).
    The steps, in order, and the promise each keeps: ``tree.TreeSync``.
    """
    previous = read_manifest(output) if managed is None else managed
    return TreeSync(
        output,
        files,
        previous,
        fingerprints=fingerprints or {},
        stamp=stamp,
        adopt=adopt,
        keeps_rest=keeps_rest,
        removed=removed,
    ).run()
