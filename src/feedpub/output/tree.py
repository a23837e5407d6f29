"""One sync of the output tree (``sync_tree``), phase by phase.

Whatever stops a sync (an error, SIGKILL, a power loss), it keeps two
promises: every path holds its old or its new complete bytes, never half of
one; and every file feedpub wrote is owned by the manifest, so the next
build takes it over, or removes it, without ``--adopt``. The phases of
``TreeSync`` run in this order, each keeping its part:

1. ``check``: every path checked, everything in the way found; a refusal
   raises here, before anything on disk changes.
2. ``sweep``: the temp files a killed build left in the folders this one uses.
3. ``claim``: the paths new to the manifest owned, on disk, before any of
   their files is written.
4. ``write``: temp files, their data flushed, the renames, the folders flushed.
5. ``remove``: the files the build no longer makes, once the new ones are in place.
6. ``record``: the manifest (or a line of its log) last, after every file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Set
from pathlib import Path

from feedpub.model import BuildReport
from feedpub.output import files as _files
from feedpub.output.files import (
    LOCK_NAME,
    TEMP_PREFIX,
    FolderResolver,
    ForeignFileError,
    OutputError,
    check_plain,
    prune_empty_folders,
    remove_temp_files,
    replace_all,
    same_bytes,
)
from feedpub.output.manifest import MANIFEST_NAME, Manifest, append_to_manifest, write_manifest
from feedpub.output.manifest_log import LOG_NAME as MANIFEST_LOG_NAME

# A file's new bytes, a producer of them (called once, while the tree is
# written, so a build never holds every file; None from it: not produced
# after all), or None: keep the existing file.
Output = bytes | Callable[[], bytes | None] | None


class TreeSync:
    """One ``sync_tree`` call: its inputs, what each phase found and did,
    and the report made of them (``run``)."""

    def __init__(
        self,
        output: Path,
        files: Mapping[str, Output],
        previous: Manifest,
        *,
        fingerprints: Mapping[str, str],
        stamp: str,
        adopt: bool,
        keeps_rest: bool,
        removed: frozenset[str],
    ) -> None:
        self.output = output
        self.files = files
        self.previous = previous
        self.fingerprints = fingerprints
        self.stamp = stamp
        self.adopt = adopt
        self.keeps_rest = keeps_rest
        self.removed = removed
        # A change to a big tree goes to the manifest's log, not a whole manifest.
        self.logged = keeps_rest and previous.takes_changes
        self.notes: list[str] = []
        self._resolver = FolderResolver(output)
        # Found by ``check``: the resolved path of each file to write; the
        # folders of the kept files (with ``keeps_rest``, every managed
        # folder); the paths new to the manifest, and of those the ones on
        # disk already with the very bytes to write, or with others; the
        # managed paths the build no longer makes, and those safe to remove.
        self.targets: dict[str, Path] = {}
        self.kept_folders: set[str] = set()
        self.claimed: list[str] = []
        self.identical: list[str] = []
        self.foreign: list[str] = []
        self.dropped: Set[str] = frozenset()
        self.stale: dict[str, Path] = {}
        # Done by ``write`` and ``remove``.
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self.kept_prints: dict[str, str] = {}
        self.deleted: list[str] = []

    def run(self) -> BuildReport:
        self.check()
        self.sweep()
        self.claim()
        self.write()
        self.remove()
        self.record()
        return BuildReport(
            written=tuple(self.written),
            unchanged=tuple(self.unchanged),
            removed=tuple(self.deleted),
            notes=tuple(self.notes),
        )

    def check(self) -> None:
        """Refuse, before anything on disk changes: a path that is not plain
        and relative, a name reserved for feedpub, a file to write whose
        folder resolves outside the output folder, and a file in the way of
        a path new to the manifest that feedpub cannot prove it wrote (unless
        ``adopt``). A path the previous manifest owns but the build no longer
        makes is checked too; a bad one (a hand-edited manifest) is noted
        and left alone, never removed."""
        self._check_paths()
        self._check_in_the_way()
        self._check_dropped()

    def _check_paths(self) -> None:
        kept: list[str] = []
        for relative, data in self.files.items():
            # A kept file is never opened for writing: the symlink-resolving
            # check (a stat per path component) is for files to write only,
            # and a kept one gets no Path (pathlib is slow by the thousand).
            if data is None:
                kept.append(relative)
            else:
                _check_name(relative)
                self.targets[relative] = self._resolver.join(relative)
        _check_kept(kept)
        self.kept_folders = {relative.rpartition("/")[0] for relative in kept}
        if self.keeps_rest:
            self.kept_folders |= self.previous.folders

    def _check_in_the_way(self) -> None:
        self.claimed = sorted(self.files.keys() - self.previous.files)
        # lexists on the unresolved path: a symlink or a folder there is in the way
        # too. A file already holding exactly the new bytes is not overwritten, so
        # it is taken over without --adopt (a lost manifest over an unchanged tree).
        # A producer is called here too for such a file (its bytes compared, then
        # dropped), since nothing may be written before the refusal; it is called
        # again when written. Only a lost manifest or --adopt gets here.
        present = [r for r in self.claimed if os.path.lexists(self.output / r)]
        for relative in present:
            data = self.files[relative]
            data = data() if callable(data) else data
            if data is None:
                continue  # not produced after all: never written, so not in the way
            same = same_bytes(self.output / relative, data, follow=False)
            (self.identical if same else self.foreign).append(relative)
        if self.foreign and not self.adopt:
            _refuse_foreign(self.output, self.foreign, self.previous)

    def _check_dropped(self) -> None:
        previous, files = self.previous, self.files
        if self.keeps_rest:
            self.dropped = (self.removed & previous.files) - files.keys()
        else:
            self.dropped = previous.files - files.keys()
        for relative in sorted(self.dropped):
            try:
                _check_name(relative)
                self.stale[relative] = self._resolver.join(relative)
            except OutputError as exc:  # a hand-edited manifest: leave that path alone
                self.notes.append(str(exc))

    def sweep(self) -> None:
        """Remove the temp files a killed build left in the folders this one
        writes, removes or keeps files in: feedpub's temp names only, and
        not in a settled folder (a temp file made there since the last build
        would have changed its mtime). Other folders are never looked in:
        another writer's temp file there may be in use."""
        moved = [*self.targets.values(), *self.stale.values()]
        folders = {self.output.resolve()} | {target.parent for target in moved}
        folders |= {self.output / folder for folder in self.kept_folders - self.previous.settled}
        swept = remove_temp_files(folders)
        if swept:
            self.notes.append(f"removed {swept} leftover temporary file(s) of an interrupted build")

    def claim(self) -> None:
        """Own the paths new to the manifest before any file is written: a
        whole manifest, or a line of its log, flushed to disk. A build killed
        after this leaves only files the next build owns (and removes, if it
        no longer makes them). The claim has no stamp and no fingerprint for
        a path about to be written, so after a crash the next build checks
        every such file instead of trusting it."""
        files, previous = self.files, self.previous
        if self.claimed:
            if self.logged:
                claims = dict.fromkeys(p for p, data in files.items() if data is not None)
                owned = claims | dict.fromkeys(self.claimed)
                append_to_manifest(self.output, previous, stamp="", owned=owned)
            else:
                prints = {p: v for p, v in previous.fingerprints.items() if files.get(p) is None}
                write_manifest(self.output, previous.files | files.keys(), prints, "")
        for what, paths in (
            ("identical file(s) not in the manifest", self.identical),
            ("file(s) feedpub did not write (--adopt)", self.foreign),
        ):
            if paths:
                shown = ", ".join(paths[:5]) + (" …" if len(paths) > 5 else "")
                self.notes.append(f"took over {len(paths)} {what}: {shown}")

    def write(self) -> None:
        """Write each file whose bytes changed to a temp file beside it, in
        path order (a producer is called just before its file is written:
        memory holds one file), then put them all in place with
        ``replace_all``: every temp file's data flushed before the first
        rename, the folders flushed after the last. Until then no path has
        changed; on an error every temp file is removed and every path keeps
        its old bytes. A file with the same bytes keeps them and its mtime."""
        fingerprints, notes = self.fingerprints, self.notes
        temps: list[tuple[str, Path]] = []
        try:
            base = os.fspath(self.output)
            on_disk = self.previous.fingerprints if self.previous.on_disk else {}
            for relative in sorted(self.files):
                data = self.files[relative]
                if data is not None:
                    self._write_temp(relative, data, temps)
                    continue
                # read_manifest found each fingerprinted file a moment ago; one
                # deleted since is in the manifest, whose next reading drops
                # its fingerprint, so the build after renders it again.
                found = on_disk.get(relative) == fingerprints.get(relative, "")
                if not found and not os.path.isfile(f"{base}/{relative}"):
                    # Someone deleted it; without a fingerprint the next build renders it.
                    notes.append(f"{relative}: expected to keep it, but it is missing")
                    continue
                self.unchanged.append(relative)
                if relative in fingerprints:
                    self.kept_prints[relative] = fingerprints[relative]
            replace_all(temps)
        except BaseException:
            for temp_name, _ in temps:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_name)
            raise

    def _write_temp(
        self, relative: str, data: bytes | Callable[[], bytes | None], temps: list[tuple[str, Path]]
    ) -> None:
        """``relative``'s new bytes to a temp file (added to ``temps``),
        unless the file holds them already."""
        target = self.targets[relative]
        produced = data() if callable(data) else data
        if produced is None:  # not produced after all: like a stale file
            if relative in self.previous.files:
                self.stale[relative] = target
            return
        if same_bytes(target, produced):
            self.unchanged.append(relative)
        else:
            try:
                temps.append((_files.write_temp(target, produced), target))
            except OSError as exc:
                raise OutputError(f"{target}: cannot write: {exc}") from exc
            self.written.append(relative)
        if relative in self.fingerprints:
            self.kept_prints[relative] = self.fingerprints[relative]

    def remove(self) -> None:
        """Remove the managed files the build no longer makes, with the
        folders they leave empty, once the new files are in place. The
        manifest on disk still owns each of them until ``record``, so one
        left by a build killed here is removed by the next. A file that
        cannot be removed is noted; the build goes on."""
        root = self.output.resolve()
        for relative, target in self.stale.items():
            try:
                target.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.notes.append(f"{relative}: cannot remove: {exc}")
            else:
                self.deleted.append(relative)
            prune_empty_folders(target.parent, root)

    def record(self) -> None:
        """Record what the build left, last, once every file is in place and
        flushed: the stamp and fingerprints only ever describe files that
        are there, so a build that died before this is redone by the next.
        Nothing is written when the manifest on disk says it all already."""
        previous = self.previous
        # Folders this build may have changed: those it wrote or removed in, and
        # their parents (a folder made or pruned changes its parent's mtime).
        # And the folders read_manifest checked file by file: as the manifest says now.
        touched = {f for r in (*self.written, *self.deleted) for f in _ancestors(r)}
        touched |= self.kept_folders - previous.settled
        unmoved = (
            previous.on_disk
            and not (self.claimed or self.written or self.deleted)
            and self.stamp == previous.stamp
        )
        if self.keeps_rest:
            self._record_change(touched, unmoved)
        else:
            self._record_tree(touched, unmoved)

    def _record_tree(self, touched: set[str], unmoved: bool) -> None:
        """A whole tree: the manifest of exactly what it left."""
        previous = self.previous
        final = sorted({*self.unchanged, *self.written})
        same = previous.files == set(final) and previous.fingerprints == self.kept_prints
        if not (unmoved and same):
            known = previous.unchanged_times(touched)
            write_manifest(self.output, final, self.kept_prints, self.stamp, known=known)

    def _record_change(self, touched: set[str], unmoved: bool) -> None:
        """A change (``keeps_rest``): the previous manifest with it applied,
        as a line of the log or a whole manifest; the kept files it did not
        name are reported unchanged too."""
        previous = self.previous
        gone, now_owned = self._change()
        prints_then = previous.fingerprints
        same = not gone and all(
            p in previous.files and prints_then.get(p) == v for p, v in now_owned.items()
        )
        if not (unmoved and same):
            if self.logged:
                append_to_manifest(
                    self.output, previous, stamp=self.stamp, owned=now_owned, dropped=gone,
                    touched=touched,
                )  # fmt: skip
            else:
                final, whole = previous.changed(gone, now_owned)
                known = previous.unchanged_times(touched)
                write_manifest(self.output, final, whole, self.stamp, known=known)
        left = set(self.written) | gone
        self.unchanged = [p for p in previous.ordered if p not in left]
        self.unchanged += [p for p in now_owned if p not in previous.files and p not in left]

    def _change(self) -> tuple[set[str], dict[str, str | None]]:
        """What this change did to the previous manifest: the paths gone
        from it (``dropped``, and those named but not left), and each path
        it left with its fingerprint (None: without)."""
        previous = self.previous
        now = {*self.unchanged, *self.written}
        gone = ((set(self.files.keys()) | self.dropped) - now) & previous.files
        # Without a fingerprint the previous build did not find the file (read_manifest).
        for relative in sorted(previous.files - previous.fingerprints.keys() - now - gone):
            if not os.path.isfile(f"{os.fspath(self.output)}/{relative}"):
                self.notes.append(f"{relative}: expected to keep it, but it is missing")
                gone.add(relative)
        return gone, {relative: self.kept_prints.get(relative) for relative in sorted(now)}


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
    all at once (a build may keep tens of thousands). The segments of the
    paths joined by "/" are exactly theirs, plus an empty one for an empty
    path or one starting with "/": when none is empty, "." or "..", and
    none is or starts with a reserved name, every path passes. Else the
    per-path checks run, to name the path they refuse."""
    joined = "/".join(paths)
    segments = set(joined.split("/")) if paths else set()
    if not (segments & _REFUSED_SEGMENTS) and f"/{TEMP_PREFIX}" not in f"/{joined}":
        return
    for relative in paths:
        _check_name(relative)
        check_plain(relative)


def _ancestors(relative: str) -> list[str]:
    """The folders holding ``relative``, innermost first ("a/b/c" -> "a/b", "a")."""
    parts = relative.split("/")[:-1]
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
