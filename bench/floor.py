"""The write floor of a build: the files a build left in SOURCE, as many
and as big (their bytes are not read: each is that many "x"), written into
DEST by a bare loop, then one syncfs, as ``feedpub.output`` flushes a big
build. No rendering, no store, no manifest, no renames: what any program
that leaves this tree durably on this disk pays at the least.

    .venv/bin/python bench/floor.py SOURCE DEST
"""

from __future__ import annotations

import argparse
import ctypes
import os
from pathlib import Path


def tree_sizes(source: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every file under ``source``, hidden ones
    (the manifest, the lock) left out."""
    found: list[tuple[str, int]] = []
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = os.path.relpath(folder, source)
        for name in sorted(files):
            if not name.startswith("."):
                path = os.path.join(folder, name)
                found.append((os.path.normpath(os.path.join(base, name)), os.path.getsize(path)))
    return found


def write_floor(sizes: list[tuple[str, int]], dest: Path) -> int:
    """Write the files, then flush the file system once; returns the bytes."""
    made: set[str] = set()
    total = 0
    for relative, size in sizes:
        folder = os.path.dirname(os.path.join(dest, relative))
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(os.path.join(dest, relative), "wb") as stream:
            stream.write(b"x" * size)
        total += size
    fd = os.open(dest, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    sizes = tree_sizes(args.source)
    total = write_floor(sizes, args.dest)
    print(f"floor: {len(sizes)} files, {total} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
