"""Writing files so that a reader never sees half of one, and never over a
file feedpub did not write. (Over 600 lines: the tree sync is one protocol
over atomic writes, the flush, the lock and the manifest, and its ordering
rules, in the docstrings, read best next to each other.)

Every file is written to a hidden temporary file (dot-prefixed, same folder,
so the rename stays on one file system), flushed to disk and renamed into
place: at any moment each path holds its old or its new complete version.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from feedpub.model import BuildReport

TEMP_PREFIX = ".feedpub-tmp-"
# A file's new bytes, a producer of them (called once, while the tree is
# written, so a build never holds every file; None from it: not produced
# after all), or None: keep the existing file.
Output = bytes | Callable[[], bytes | None] | None


class OutputError(Exception):
    """A path outside the output folder, or the output is locked by another build."""


class LockedError(OutputError):
    """Another process holds the lock (the CLI exits 3 on it)."""


class ForeignFileError(OutputError):
    """A build would overwrite a file that feedpub did not write (one that is
    not in the manifest): an operator's decision, so ``feedpub build`` exits 2
    and names ``--adopt``."""


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (creating parent folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)  # mkstemp makes 0600; web servers need to read it
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


# Up to this many files are flushed one fsync each; more with one syncfs of
# the file system. An fsync costs about a journal commit (~1 ms here), so a
# small build pays for what it writes; but syncfs flushes everything dirty on
# that file system, other programs' writes too (1.5 s seen for a 9-file
# build right after an ingest), which only a build of thousands amortises.
FSYNC_EACH_MAX = 64


def _replace_all(temps: Sequence[tuple[str, Path]]) -> None:
    """Put many written temp files in place with one disk flush instead of
    one fsync per file (500 tags: 1,500 fsyncs, most of a build's wall time).

    Order: every temp file already written (``sync_tree`` writes them one by
    one as it renders), their data flushed (an fsync each for a few, else one
    ``sync_file_system``), every rename, then one fsync per touched folder.
    A crash (process killed) at any point leaves each path with its old or
    new complete bytes; a power loss leaves each path old or new complete
    too, because no rename is issued before the data of every temp file is
    on disk, and the folder fsyncs make the renames durable before the
    manifest (written after this returns) can name them. The caller removes
    the temp files when this raises; leftovers of a killed build are swept
    by the next one."""
    if not temps:
        return
    if len(temps) <= FSYNC_EACH_MAX:
        for temp_name, _ in temps:
            _fsync_path(temp_name, os.O_RDONLY)
    else:
        sync_file_system(temps[0][1].parent)
    for temp_name, path in temps:
        try:
            os.replace(temp_name, path)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc}") from exc
    for folder in {path.parent for _, path in temps}:
        fsync_folder(folder)


def sync_file_system(folder: Path) -> None:
    """syncfs(2) of the file system holding ``folder`` (Linux; Python has no
    binding), else a whole-machine sync: one flush for many files written
    there (an fsync each costs ~1 ms per file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        syncfs = _syncfs()
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    import ctypes  # here: only a flush of many files needs it

    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs  # libc, already loaded
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


def _write_temp(path: Path, data: bytes) -> str:
    """A hidden temp file beside ``path`` holding ``data``, not yet flushed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp_name, 0o644)  # mkstemp makes 0600; web servers need to read it
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    return temp_name


def fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (its entries are metadata of
    the folder, not of the files)."""
    _fsync_path(folder, os.O_RDONLY | os.O_DIRECTORY)


def _fsync_path(path: str | Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_plain(relative: str) -> None:
    parts = relative.split("/")
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise OutputError(f"refusing to write {relative!r}: not a plain relative path")


def safe_join(root: Path, relative: str) -> Path:
    """``root/relative``, refusing anything that would land outside ``root``
    (absolute paths, '..', empty segments): the last check before a write."""
    _check_plain(relative)
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise OutputError(f"refusing to write {relative!r}: it resolves outside {root}")
    return target


class _FolderResolver:
    """``safe_join`` for many paths: each folder resolved once (a stat per
    component per file was 1.1 s of a 3,550-file build), the last component
    checked with one lstat and fully resolved only when it is a symlink."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.resolved_root = root.resolve()
        self.folders: dict[str, Path] = {"": self.resolved_root}

    def join(self, relative: str) -> Path:
        _check_plain(relative)
        folder, _, name = relative.rpartition("/")
        parent = self.folders.get(folder)
        if parent is None:
            parent = (self.root / folder).resolve()
            if not parent.is_relative_to(self.resolved_root):
                raise OutputError(
                    f"refusing to write {relative!r}: it resolves outside {self.root}"
                )
            self.folders[folder] = parent
        target = parent / name
        return safe_join(self.root, relative) if os.path.islink(target) else target


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (one build at a time per
    output folder). With ``wait`` False a held lock raises OutputError."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise LockedError(
                    f"{lock_path}: another feedpub run holds this lock; try again when it ends"
                ) from None
            raise
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- tree sync: incremental, managed, manifest last ---------------------------

MANIFEST_NAME = ".feedpub-manifest.json"
LOCK_NAME = ".feedpub.lock"
_MANIFEST_VERSION = 1


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


def build_lock(output: Path) -> contextlib.AbstractContextManager[None]:
    """One build per output folder: a second concurrent build raises
    OutputError at once instead of interleaving its writes with the first."""
    return exclusive_lock(output / LOCK_NAME)


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
    if not isinstance(raw, dict) or raw.get("version") != _MANIFEST_VERSION:
        return Manifest(problem=f"{path} is not a version {_MANIFEST_VERSION} manifest")
    files = raw.get("files")
    if not isinstance(files, list):
        return Manifest(problem=f"{path} has no list of files")
    prints = raw.get("fingerprints")
    managed = frozenset(p for p in files if isinstance(p, str))
    root = os.fspath(output)
    settled = _settled_folders(root, raw.get("folders"), written_ns)
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


def _settled_folders(root: str, recorded: object, written_ns: int) -> frozenset[str]:
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


def _refuse_foreign(output: Path, foreign: list[str], previous: Manifest) -> None:
    """One line naming the first file in the way and what to do about it."""
    first = output / foreign[0]
    more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
    why = previous.problem or f"not in {output / MANIFEST_NAME}"
    raise ForeignFileError(
        f"{first}{more}: feedpub did not write this file ({why}); refusing to overwrite "
        "it: move it away, or run 'feedpub build --adopt' once to let feedpub own it"
    )


def _write_manifest(
    output: Path, files: Iterable[str], fingerprints: Mapping[str, str], stamp: str
) -> None:
    files = sorted(files)
    manifest: dict[str, object] = {
        "version": _MANIFEST_VERSION,
        "files": files,
        "fingerprints": dict(fingerprints),
        "folders": _folder_times(output, files),
    }
    if stamp:
        manifest["stamp"] = stamp
    data = (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode("utf-8")
    manifest_path = output / MANIFEST_NAME
    if not _same_bytes(manifest_path, data):
        write_atomic(manifest_path, data)
        fsync_folder(output)  # the manifest's rename is durable before anything relies on it


def _folder_times(output: Path, files: Iterable[str]) -> dict[str, int]:
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


def _check_name(relative: str) -> None:
    name = relative.rsplit("/", 1)[-1]
    if name in (MANIFEST_NAME, LOCK_NAME) or name.startswith(TEMP_PREFIX):
        raise OutputError(f"refusing to write {relative!r}: the name is reserved for feedpub")


def sync_tree(
    output: Path,
    files: Mapping[str, Output],
    managed: Manifest | None = None,
    *,
    fingerprints: Mapping[str, str] | None = None,
    stamp: str = "",
    adopt: bool = False,
) -> BuildReport:
    """Make the managed part of ``output`` hold exactly ``files``.

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
    resolver = _FolderResolver(output)
    targets: dict[str, Path] = {}
    kept_folders: set[str] = set()
    for relative, data in files.items():
        _check_name(relative)
        # A kept file is never opened for writing, so the symlink-resolving
        # check (a stat per path component, most of a small build's time
        # with thousands of kept files) is for files to write only; and no
        # Path for it (pathlib: 0.3 s per 25,000 files, a no-op build at L).
        if data is None:
            _check_plain(relative)
            kept_folders.add(relative.rpartition("/")[0])
        else:
            targets[relative] = resolver.join(relative)
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
        same = _same_bytes(output / relative, data, follow=False)
        (identical if same else foreign).append(relative)
    if foreign and not adopt:
        _refuse_foreign(output, foreign, previous)
    notes: list[str] = []
    stale: dict[str, Path] = {}
    for relative in sorted(previous.files - files.keys()):
        try:
            _check_name(relative)
            stale[relative] = resolver.join(relative)
        except OutputError as exc:  # a hand-edited manifest: leave that path alone
            notes.append(str(exc))

    folders = {output.resolve()} | {t.parent for t in [*targets.values(), *stale.values()]}
    # A settled folder got no temp file since the last build (its mtime would show it).
    folders |= {output / folder for folder in kept_folders - previous.settled}
    swept = _remove_temp_files(folders)
    if swept:
        notes.append(f"removed {swept} leftover temporary file(s) of an interrupted build")

    written: list[str] = []
    unchanged: list[str] = []
    kept_prints: dict[str, str] = {}
    if claimed:
        # Own the new paths first. No stamp and no fingerprint for what may
        # be about to change: the next build, after a crash, checks every file.
        owned = previous.files | files.keys()
        prints = {p: v for p, v in previous.fingerprints.items() if files.get(p) is None}
        _write_manifest(output, owned, prints, "")
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
            if _same_bytes(target, data):
                unchanged.append(relative)
            else:
                try:
                    temps.append((_write_temp(target, data), target))
                except OSError as exc:
                    raise OutputError(f"{target}: cannot write: {exc}") from exc
                written.append(relative)
            if relative in fingerprints:
                kept_prints[relative] = fingerprints[relative]
        _replace_all(temps)
    except BaseException:
        for temp_name, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
        raise

    removed: list[str] = []
    root = output.resolve()
    for relative, target in stale.items():
        try:
            target.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            notes.append(f"{relative}: cannot remove: {exc}")
        else:
            removed.append(relative)
        _prune_empty_folders(target.parent, root)

    same = previous.on_disk and not claimed and stamp == previous.stamp
    if not (same and previous.files == set(unchanged) and previous.fingerprints == kept_prints):
        _write_manifest(output, unchanged + written, kept_prints, stamp)
    return BuildReport(
        written=tuple(written),
        unchanged=tuple(unchanged),
        removed=tuple(removed),
        notes=tuple(notes),
    )


def _same_bytes(path: Path, data: bytes | None, *, follow: bool = True) -> bool:
    # The size check first: most changed files differ in length, and then we
    # never read them. ``follow`` False: a symlink is never "the same".
    if data is None:
        return False
    try:
        if not follow and path.is_symlink():
            return False
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return False


def remove_stale_temp_files(
    folder: Path, reference: Path, *, prefix: str = TEMP_PREFIX, older_than: float = 3600.0
) -> int:
    """Remove temporary files a killed writer left in ``folder``: those named
    ``prefix*`` whose mtime is more than ``older_than`` seconds before
    ``reference``'s (a file just written, so no clock is read here). The age
    keeps a writer that is still running in another process safe: its temp
    file is seconds old. Returns how many were removed."""
    try:
        cutoff = reference.stat().st_mtime - older_than
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    count = 0
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(FileNotFoundError):
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                count += 1
    return count


def _remove_temp_files(folders: set[Path]) -> int:
    count = 0
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    count += 1
    return count


def _prune_empty_folders(folder: Path, root: Path) -> None:
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): stop climbing
            return
        folder = folder.parent
