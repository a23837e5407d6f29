"""Writing files so that a reader never sees half of one.

Every file is written to a hidden temporary file (dot-prefixed, same folder,
so the rename stays on one file system), flushed to disk and renamed into
place: at any moment each path holds its old or its new complete version.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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


def _replace_all(temps: Sequence[tuple[str, Path]]) -> None:
    """Put many written temp files in place with one disk flush instead of
    one fsync per file (500 tags: 1,500 fsyncs, most of a build's wall time).

    Order: every temp file already written (``sync_tree`` writes them one by
    one as it renders), one ``os.sync()``, every rename, then one fsync per
    touched folder. A crash (process killed) at any point leaves each path
    with its old or new complete bytes; a power loss leaves each path old or
    new complete too, because no rename is issued before the data of every
    temp file is on disk, and the folder fsyncs make the renames durable
    before the manifest (written after this returns) can name them. The
    caller removes the temp files when this raises; leftovers of a killed
    build are swept by the next one."""
    if not temps:
        return
    os.sync()  # one flush for every temp file's data (fsync each: ~ms per file)
    for temp_name, path in temps:
        try:
            os.replace(temp_name, path)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc}") from exc
    for folder in {path.parent for _, path in temps}:
        fsync_folder(folder)


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
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
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

    @property
    def complete(self) -> bool:
        """Every managed file is on disk with its fingerprint."""
        return bool(self.files) and self.files == self.fingerprints.keys()


def build_lock(output: Path) -> contextlib.AbstractContextManager[None]:
    """One build per output folder: a second concurrent build raises
    OutputError at once instead of interleaving its writes with the first."""
    return exclusive_lock(output / LOCK_NAME)


def read_manifest(output: Path) -> Manifest:
    """The last build's manifest; empty when missing or unreadable (the next
    build then renders everything and removes nothing). Fingerprints of files
    that are gone from disk are dropped, so those files get rendered again."""
    try:
        raw = json.loads((output / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Manifest()
    if not isinstance(raw, dict) or raw.get("version") != _MANIFEST_VERSION:
        return Manifest()
    files = raw.get("files")
    prints = raw.get("fingerprints")
    if not isinstance(files, list) or not isinstance(prints, dict):
        return Manifest()
    managed = frozenset(p for p in files if isinstance(p, str))
    kept = {
        path: value
        for path, value in prints.items()
        if path in managed and isinstance(value, str) and (output / path).is_file()
    }
    stamp = raw.get("stamp")
    return Manifest(files=managed, fingerprints=kept, stamp=stamp if isinstance(stamp, str) else "")


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
) -> BuildReport:
    """Make the managed part of ``output`` hold exactly ``files``.

    ``files`` maps relative paths to new bytes, to a producer of them
    (called once each, in path order, and written to its temp file at once:
    memory holds one file, not the tree), or to None for "inputs
    unchanged, keep the existing file". Only files whose bytes differ are
    written (the others keep bytes and mtime); files the previous build
    managed (``managed``, read from disk when None) that are no longer
    produced are removed with the folders they leave empty; leftover temp
    files of crashed builds in managed folders are removed. Nothing else in
    ``output`` is touched. Every path is checked before anything is written.
    The manifest is written last, after every file succeeded, so a crashed
    build is simply redone by the next one.
    """
    previous = read_manifest(output) if managed is None else managed
    fingerprints = fingerprints or {}
    targets = {}
    for relative, data in files.items():
        _check_name(relative)
        # A kept file is never opened for writing, so the symlink-resolving
        # check (a stat per path component, most of a small build's time
        # with thousands of kept files) is for files to write only.
        if data is None:
            _check_plain(relative)
            targets[relative] = output / relative
        else:
            targets[relative] = safe_join(output, relative)
    notes: list[str] = []
    stale: dict[str, Path] = {}
    for relative in sorted(previous.files - files.keys()):
        try:
            _check_name(relative)
            stale[relative] = safe_join(output, relative)
        except OutputError as exc:  # a hand-edited manifest: leave that path alone
            notes.append(str(exc))

    folders = {output.resolve()} | {t.parent for t in [*targets.values(), *stale.values()]}
    swept = _remove_temp_files(folders)
    if swept:
        notes.append(f"removed {swept} leftover temporary file(s) of an interrupted build")

    written: list[str] = []
    unchanged: list[str] = []
    kept_prints: dict[str, str] = {}
    temps: list[tuple[str, Path]] = []
    try:
        for relative in sorted(targets):
            target, data = targets[relative], files[relative]
            if callable(data):
                data = data()
                if data is None:  # not produced after all: like a stale file
                    if relative in previous.files:
                        stale[relative] = target
                    continue
            if data is None:
                if not target.is_file():
                    # Someone deleted it; without a fingerprint the next build renders it.
                    notes.append(f"{relative}: expected to keep it, but it is missing")
                    continue
                unchanged.append(relative)
            elif _same_bytes(target, data):
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

    manifest: dict[str, object] = {
        "version": _MANIFEST_VERSION,
        "files": sorted(unchanged + written),
        "fingerprints": kept_prints,
    }
    if stamp:
        manifest["stamp"] = stamp
    data = (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode("utf-8")
    manifest_path = output / MANIFEST_NAME
    if not _same_bytes(manifest_path, data):
        write_atomic(manifest_path, data)
    return BuildReport(
        written=tuple(written),
        unchanged=tuple(unchanged),
        removed=tuple(removed),
        notes=tuple(notes),
    )


def _same_bytes(path: Path, data: bytes) -> bool:
    # The size check first: most changed files differ in length, and then we
    # never read them.
    try:
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
