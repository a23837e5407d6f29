"""Writing files so that a reader never sees half of one, and never over a
file feedpub did not write.

Every file is written to a hidden temporary file (dot-prefixed, same folder,
so the rename stays on one file system), flushed to disk and renamed into
place: at any moment each path holds its old or its new complete version.
``sync_tree`` is the one protocol over those writes; its parts:

* ``files``: atomic writes, the flush of many files, path checks, the lock;
* ``manifest``: what the last build owns, fingerprinted and stamped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from pathlib import Path

from feedpub.model import BuildReport
from feedpub.output import files as _files
from feedpub.output.files import (
    FSYNC_EACH_MAX,
    TEMP_PREFIX,
    FolderResolver,
    ForeignFileError,
    LockedError,
    OutputError,
    check_plain,
    exclusive_lock,
    fsync_folder,
    prune_empty_folders,
    remove_stale_temp_files,
    remove_temp_files,
    replace_all,
    safe_join,
    same_bytes,
    sync_file_system,
    write_atomic,
)
from feedpub.output.manifest import (
    MANIFEST_NAME,
    Manifest,
    append_to_manifest,
    peek_stamp,
    read_manifest,
    write_manifest,
)
from feedpub.output.manifest_log import LOG_NAME as MANIFEST_LOG_NAME

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

# A file's new bytes, a producer of them (called once, while the tree is
# written, so a build never holds every file; None from it: not produced
# after all), or None: keep the existing file.
Output = bytes | Callable[[], bytes | None] | None
LOCK_NAME = ".feedpub.lock"


def build_lock(output: Path) -> contextlib.AbstractContextManager[None]:
    """One build per output folder: a second concurrent build raises
    OutputError at once instead of interleaving its writes with the first."""
    return exclusive_lock(output / LOCK_NAME)


def _refuse_foreign(output: Path, foreign: list[str], previous: Manifest) -> None:
    """One line naming the first file in the way and what to do about it."""
    first = output / foreign[0]
    more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
    why = previous.problem or f"not in {output / MANIFEST_NAME}"
    raise ForeignFileError(
        f"{first}{more}: feedpub did not write this file ({why}); refusing to overwrite "
        "it: move it away, or run 'feedpub build --adopt' once to let feedpub own it"
    )


def _check_name(relative: str) -> None:
    name = relative.rsplit("/", 1)[-1]
    if name in (MANIFEST_NAME, MANIFEST_LOG_NAME, LOCK_NAME) or name.startswith(TEMP_PREFIX):
        raise OutputError(f"refusing to write {relative!r}: the name is reserved for feedpub")


# Segments that make ``check_plain`` or ``_check_name`` refuse a path.
_REFUSED_SEGMENTS = frozenset(("", ".", "..", MANIFEST_NAME, MANIFEST_LOG_NAME, LOCK_NAME))


def _check_kept(paths: list[str]) -> None:
    """``check_plain`` and ``_check_name`` of every kept path, answered for
    all at once (25,801 calls of each: 18 ms of a 9-file build at L). The
    segments of the paths joined by "/" are exactly theirs, plus an empty
    one for an empty path or one starting with "/": when none is empty, "."
    or "..", and none is or starts with a reserved name, every path passes.
    Else the per-path checks run, to name the path they refuse."""
    joined = "/".join(paths)
    segments = set(joined.split("/")) if paths else set()
    if not (segments & _REFUSED_SEGMENTS) and f"/{TEMP_PREFIX}" not in f"/{joined}":
        return
    for relative in paths:
        _check_name(relative)
        check_plain(relative)


def _change_of(
    output: Path,
    previous: Manifest,
    named: Iterable[str],
    dropped: Set[str],
    unchanged: list[str],
    written: list[str],
    kept_prints: Mapping[str, str],
    notes: list[str],
) -> tuple[set[str], dict[str, str | None]]:
    """What a sync that ``keeps_rest`` changed in the previous manifest: the
    paths gone from it (``dropped``, and those it ``named`` but did not
    leave), and each path it left with its fingerprint (None: without)."""
    now = {*unchanged, *written}
    gone = ((set(named) | dropped) - now) & previous.files
    # Without a fingerprint the previous build did not find the file (read_manifest).
    for relative in sorted(previous.files - previous.fingerprints.keys() - now - gone):
        if not os.path.isfile(f"{os.fspath(output)}/{relative}"):
            notes.append(f"{relative}: expected to keep it, but it is missing")
            gone.add(relative)
    return gone, {relative: kept_prints.get(relative) for relative in sorted(now)}


def _applied(
    previous: Manifest, gone: Set[str], owned: Mapping[str, str | None]
) -> tuple[Sequence[str], dict[str, str]]:
    """The previous manifest's files and fingerprints with a change applied,
    in its order, so sorting them again (and the JSON written from them)
    costs little."""
    new = [relative for relative in owned if relative not in previous.files]
    final: Sequence[str] = previous.ordered
    if gone or new:
        final = sorted([*(p for p in previous.ordered if p not in gone), *new])
    prints = dict(previous.fingerprints)  # a C-speed copy, in the manifest's order
    for relative in gone:
        prints.pop(relative, None)
    for relative, value in owned.items():
        if value is None:
            prints.pop(relative, None)
        else:
            prints[relative] = value  # in place for a known path: the order stays
    return final, prints


def _ancestors(relative: str) -> list[str]:
    """The folders holding ``relative``, innermost first ("a/b/c" -> "a/b", "a")."""
    parts = relative.split("/")[:-1]
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


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
    """
    previous = read_manifest(output) if managed is None else managed
    fingerprints = fingerprints or {}
    resolver = FolderResolver(output)
    targets: dict[str, Path] = {}
    kept: list[str] = []
    for relative, data in files.items():
        # A kept file is never opened for writing, so the symlink-resolving
        # check (a stat per path component, most of a small build's time
        # with thousands of kept files) is for files to write only; and no
        # Path for it (pathlib: 0.3 s per 25,000 files, a no-op build at L).
        if data is None:
            kept.append(relative)
        else:
            _check_name(relative)
            targets[relative] = resolver.join(relative)
    _check_kept(kept)
    kept_folders = {relative.rpartition("/")[0] for relative in kept}
    claimed = sorted(files.keys() - previous.files)
    # lexists on the unresolved path: a symlink or a folder there is in the way
    # too. A file already holding exactly the new bytes is not overwritten, so
    # it is taken over without --adopt (a lost manifest over an unchanged tree).
    # A producer is called here too for such a file (its bytes compared, then
    # dropped), since nothing may be written before the refusal; it is called
    # again when written. Only a lost manifest or --adopt gets here.
    present = [r for r in claimed if os.path.lexists(output / r)]
    identical: list[str] = []
    foreign: list[str] = []
    for relative in present:
        data = files[relative]
        data = data() if callable(data) else data
        if data is None:
            continue  # not produced after all: never written, so not in the way
        same = same_bytes(output / relative, data, follow=False)
        (identical if same else foreign).append(relative)
    if foreign and not adopt:
        _refuse_foreign(output, foreign, previous)
    notes: list[str] = []
    stale: dict[str, Path] = {}
    dropped = (
        (removed & previous.files) - files.keys() if keeps_rest else previous.files - files.keys()
    )
    for relative in sorted(dropped):
        try:
            _check_name(relative)
            stale[relative] = resolver.join(relative)
        except OutputError as exc:  # a hand-edited manifest: leave that path alone
            notes.append(str(exc))

    folders = {output.resolve()} | {t.parent for t in [*targets.values(), *stale.values()]}
    # A settled folder got no temp file since the last build (its mtime would show it).
    if keeps_rest:
        kept_folders |= previous.folders
    folders |= {output / folder for folder in kept_folders - previous.settled}
    swept = remove_temp_files(folders)
    if swept:
        notes.append(f"removed {swept} leftover temporary file(s) of an interrupted build")

    written: list[str] = []
    unchanged: list[str] = []
    kept_prints: dict[str, str] = {}
    # A change to a big tree goes to the manifest's log, not a whole manifest.
    logged = keeps_rest and previous.takes_changes
    if claimed:
        # Own the new paths first. No stamp and no fingerprint for what may
        # be about to change: the next build, after a crash, checks every file.
        if logged:
            claims = dict.fromkeys(p for p, data in files.items() if data is not None)
            append_to_manifest(output, previous, stamp="", owned=claims | dict.fromkeys(claimed))
        else:
            owned = previous.files | files.keys()
            prints = {p: v for p, v in previous.fingerprints.items() if files.get(p) is None}
            write_manifest(output, owned, prints, "")
    for count, what, paths in (
        (len(identical), "identical file(s) not in the manifest", identical),
        (len(foreign), "file(s) feedpub did not write (--adopt)", foreign),
    ):
        if count:
            shown = ", ".join(paths[:5]) + (" …" if count > 5 else "")
            notes.append(f"took over {count} {what}: {shown}")
    temps: list[tuple[str, Path]] = []
    try:
        base = os.fspath(output)
        on_disk = previous.fingerprints if previous.on_disk else {}
        for relative in sorted(files):
            data = files[relative]
            if data is None:
                # read_manifest found each fingerprinted file a moment ago; one
                # deleted since is in the manifest, whose next reading drops
                # its fingerprint, so the build after renders it again.
                found = on_disk.get(relative) == fingerprints.get(relative, "")
                if not found and not os.path.isfile(f"{base}/{relative}"):
                    # Someone deleted it; without a fingerprint the next build renders it.
                    notes.append(f"{relative}: expected to keep it, but it is missing")
                    continue
                unchanged.append(relative)
                if relative in fingerprints:
                    kept_prints[relative] = fingerprints[relative]
                continue
            target = targets[relative]
            if callable(data):
                data = data()
                if data is None:  # not produced after all: like a stale file
                    if relative in previous.files:
                        stale[relative] = target
                    continue
            if same_bytes(target, data):
                unchanged.append(relative)
            else:
                try:
                    temps.append((_files.write_temp(target, data), target))
                except OSError as exc:
                    raise OutputError(f"{target}: cannot write: {exc}") from exc
                written.append(relative)
            if relative in fingerprints:
                kept_prints[relative] = fingerprints[relative]
        replace_all(temps)
    except BaseException:
        for temp_name, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
        raise

    deleted: list[str] = []
    root = output.resolve()
    for relative, target in stale.items():
        try:
            target.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            notes.append(f"{relative}: cannot remove: {exc}")
        else:
            deleted.append(relative)
        prune_empty_folders(target.parent, root)

    # Folders this build may have changed: those it wrote or removed in, and
    # their parents (a folder made or pruned changes its parent's mtime).
    # And the folders read_manifest checked file by file: as the manifest says now.
    touched = {f for r in (*written, *deleted) for f in _ancestors(r)}
    touched |= kept_folders - previous.settled
    unmoved = previous.on_disk and not (claimed or written or deleted) and stamp == previous.stamp
    if keeps_rest:
        gone, now_owned = _change_of(
            output, previous, files.keys(), dropped, unchanged, written, kept_prints, notes
        )
        prints_then = previous.fingerprints
        same = not gone and all(
            p in previous.files and prints_then.get(p) == v for p, v in now_owned.items()
        )
        if not (unmoved and same):
            if logged:
                append_to_manifest(
                    output, previous, stamp=stamp, owned=now_owned, dropped=gone, touched=touched
                )
            else:
                final, whole = _applied(previous, gone, now_owned)
                write_manifest(output, final, whole, stamp, known=previous.unchanged_times(touched))
        # The files kept without being named count as unchanged too.
        left = set(written) | gone
        unchanged = [p for p in previous.ordered if p not in left]
        unchanged += [p for p, _ in now_owned.items() if p not in previous.files and p not in left]
    else:
        final = sorted({*unchanged, *written})
        same = previous.files == set(final) and previous.fingerprints == kept_prints
        if not (unmoved and same):
            write_manifest(
                output, final, kept_prints, stamp, known=previous.unchanged_times(touched)
            )
    return BuildReport(
        written=tuple(written),
        unchanged=tuple(unchanged),
        removed=tuple(deleted),
        notes=tuple(notes),
    )
