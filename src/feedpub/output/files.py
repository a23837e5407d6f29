"""The file primitives of the output folder: atomic writes, the flush of
many files at once, path checks, the build lock and temp-file sweeping.
``sync_tree`` (the package) orders them; nothing here knows the manifest."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import cast

TEMP_PREFIX = ".feedpub-tmp-"
LOCK_NAME = ".feedpub.lock"


class OutputError(Exception):
    """A path outside the output folder, or the output is locked by another build."""


class LockedError(OutputError):
    """Another process holds the lock (the CLI exits 3 on it)."""


class ForeignFileError(OutputError):
    """A build would overwrite a file that feedpub did not write (one that is
    not in the manifest): an operator's decision, so ``feedpub build`` exits 2
    and names ``--adopt``."""


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (creating parent folders):
    ``write_temp``, flushed, renamed over it."""
    temp_name = write_temp(path, data)
    try:
        fsync_path(temp_name, os.O_RDONLY)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


# Up to this many files are flushed one fsync each; more with one syncfs of
# the file system. An fsync costs about a journal commit, so a small build
# pays for what it writes; but syncfs flushes everything dirty on that file
# system, other programs' writes too, which only a build of thousands amortises.
FSYNC_EACH_MAX = 64


def replace_all(temps: Sequence[tuple[str, Path]]) -> None:
    """Put many written temp files in place with one disk flush instead of
    one fsync per file (a build of many tags would spend most of its time
    in fsync).

    Order: every temp file already written (``sync_tree`` writes them one by
    one as it renders), their data flushed (an fsync each for a few, else one
    ``sync_file_system``), every rename, then the touched folders flushed (an
    fsync each for a few, else again one ``sync_file_system``). A crash
    (process killed) at any point leaves each path with its old or new
    complete bytes; a power loss leaves each path old or new complete too,
    because no rename is issued before the data of every temp file is on
    disk, and the folder flush makes the renames durable before the manifest
    (written after this returns) can name them. The caller removes the temp
    files when this raises; leftovers of a killed build are swept by the next one."""
    if not temps:
        return
    folders = {path.parent for _, path in temps}
    if len(temps) <= FSYNC_EACH_MAX:
        for temp_name, _ in temps:
            fsync_path(temp_name, os.O_RDONLY)
    else:
        _sync_file_systems(folders)
    for temp_name, path in temps:
        try:
            os.replace(temp_name, path)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc}") from exc
    if len(folders) <= FSYNC_EACH_MAX:
        for folder in folders:
            fsync_folder(folder)
    else:
        _sync_file_systems(folders)


def _sync_file_systems(folders: Iterable[Path]) -> None:
    """``sync_file_system`` once for each file system holding one of
    ``folders`` (a folder of the output may be another mount)."""
    one_per_device: dict[int, Path] = {}
    for folder in folders:
        one_per_device.setdefault(os.stat(folder).st_dev, folder)
    for folder in one_per_device.values():
        sync_file_system(folder)


def sync_file_system(folder: Path) -> None:
    """syncfs(2) of the file system holding ``folder`` (Linux; Python has no
    binding), else a whole-machine sync: one flush for many files written
    there instead of an fsync each."""
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


def write_temp(path: Path, data: bytes) -> str:
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


def file_system_now(folder: Path) -> int:
    """The mtime (ns) the file system gives a change made in ``folder`` now,
    from its own clock (coarse: a jiffy on Linux, 2 s on FAT; a network
    file system's server's): that of a temp file made for it, then removed."""
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=folder)
    try:
        return os.fstat(fd).st_mtime_ns
    finally:
        os.close(fd)
        os.unlink(temp_name)


def fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (its entries are metadata of
    the folder, not of the files)."""
    fsync_path(folder, os.O_RDONLY | os.O_DIRECTORY)


def fsync_path(path: str | Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_plain(relative: str) -> None:
    parts = relative.split("/")
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise OutputError(f"refusing to write {relative!r}: not a plain relative path")


def safe_join(root: Path, relative: str) -> Path:
    """``root/relative``, refusing anything that would land outside ``root``
    (absolute paths, '..', empty segments): the last check before a write."""
    check_plain(relative)
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise OutputError(f"refusing to write {relative!r}: it resolves outside {root}")
    return target


class FolderResolver:
    """``safe_join`` for many paths: each folder resolved once (not a stat
    per component per file), the last component checked with one lstat and
    fully resolved only when it is a symlink."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.resolved_root = root.resolve()
        self.folders: dict[str, Path] = {"": self.resolved_root}

    def join(self, relative: str) -> Path:
        check_plain(relative)
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


def same_bytes(path: Path, data: bytes | None, *, follow: bool = True) -> bool:
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


def remove_temp_files(folders: set[Path]) -> int:
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


def prune_empty_folders(folder: Path, root: Path) -> None:
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): stop climbing
            return
        folder = folder.parent
