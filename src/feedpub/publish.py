"""Writing files so that a reader never sees half of one.

Every file is written to a hidden temporary file (dot-prefixed, same folder,
so the rename stays on one file system), flushed to disk and renamed into
place: at any moment each path holds its old or its new complete version.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".feedpub-tmp-"


class OutputError(Exception):
    """A path outside the output folder, or the output is locked by another build."""


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


def safe_join(root: Path, relative: str) -> Path:
    """``root/relative``, refusing anything that would land outside ``root``
    (absolute paths, '..', empty segments): the last check before a write."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise OutputError(f"refusing to write {relative!r}: not a plain relative path")
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
                raise OutputError(
                    f"{lock_path}: another feedpub run holds this lock; try again when it ends"
                ) from None
            raise
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
