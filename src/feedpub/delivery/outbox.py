"""The outbox: a Maildir of finished messages, the embedded ``Sender``.

Layout under the outbox folder (the Maildir convention, so any Maildir tool
can take over): ``tmp/`` holds files being written, ``new/`` the messages
ready for whatever sends them, ``cur/`` the ones that tool has taken (moved
there, perhaps with a ``:2,<flags>`` suffix).

The file name is derived from a key that names the message's identity
(digest, slot, recipient), and a file is created only if no file of that name
is in ``new/`` or ``cur/``: a rerun of the same slot, or two runs racing,
never leave a second copy. (rss2email #83 and listmonk #1109 are the duplicate
sends this avoids.)

Files are not synced one by one. ``send`` writes the message into ``tmp/``;
``sync`` (delivery calls it once per batch, before it records the batch as
sent) makes them durable with one ``syncfs`` of the outbox's file system,
then links each into ``new/`` and syncs that folder. So a file appears in
``new/`` only once its bytes are on disk (a power cut never leaves an empty
message there that a rerun would take for sent), and a crash before ``sync``
leaves only temporary files, the batch unrecorded and sent again by the rerun.

Each file opens with ``Return-Path: <envelope sender>``, as an MTA's final
delivery writes it: the hand-off (``deploy/``) passes it to ``sendmail -f``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

from feedpub.config import DigestConfig
from feedpub.delivery.sender import Outgoing, SendResult
from feedpub.output import fsync_folder, remove_stale_temp_files, sync_file_system

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def outbox_recipient(digest: DigestConfig) -> str:
    """Where the outbox copy is addressed while there are no subscribers: the
    digest's reply-to (the editors' desk) or else its sender."""
    return digest.reply_to or digest.from_addr


def message_key(digest: str, slot: datetime, recipient: str) -> str:
    """A message's identity: the slot in UTC (a local time repeats at the
    autumn clock change) and the bare recipient address."""
    if "<" in recipient or " " in recipient:  # a display name: parse it off
        address = getaddresses([recipient])[0][1] or recipient
    else:
        address = recipient
    return f"{digest}-{_utc_stamp(slot)}-{address.lower()}"


@functools.lru_cache(maxsize=64)  # one slot for a whole edition's messages
def _utc_stamp(slot: datetime) -> str:
    utc = slot.astimezone(UTC)
    if utc.second or utc.microsecond:
        # A slot inside a minute (an alert's: several in one minute) names
        # itself whole; a cron slot keeps the minute-only name of old files.
        return f"{utc:%Y%m%dT%H%M%S.%fZ}"
    return f"{utc:%Y%m%dT%H%MZ}"


class Outbox:
    """A Maildir of .eml files, LF line ends as a local mail store keeps them
    (``sendmail -t`` and Maildir readers expect that; SMTP's CRLF is the
    sending tool's business)."""

    idempotent = True  # one file per key: a second send finds the first
    linesep = b"\n"
    send_deadline = 0.0  # a local write; the batch is recorded after ``sync``

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tmp, self.new, self.cur = folder / "tmp", folder / "new", folder / "cur"
        self._made = False
        # Names in cur/ with a flags suffix (``name:2,S``), listed once per
        # batch (at ``sync``) rather than globbed per message.
        self._taken: set[str] | None = None
        self._pending: dict[str, str] = {}  # target in new/ -> its file in tmp/

    def name_for(self, key: str) -> str:
        name = _UNSAFE.sub("_", key)
        if name != key or name.startswith("."):
            # Replacing characters could map two keys onto one name; the hash
            # of the original key keeps them apart.
            digest = hashlib.sha256(key.encode()).hexdigest()[:12]
            name = f"{name.lstrip('.')}-{digest}"
        return f"{name}.eml"

    def path_for(self, key: str) -> Path:
        """Where the message of ``key`` lands: in ``new/``."""
        return self.new / self.name_for(key)

    def holds(self, key: str) -> bool:
        """Whether the message of ``key`` is in ``new/`` or was taken into ``cur/``."""
        name = self.name_for(key)
        # os.path on strings: this runs once per message.
        if os.path.exists(os.path.join(self.new, name)) or os.path.exists(
            os.path.join(self.cur, name)
        ):
            return True
        if self._taken is None:
            self._taken = {
                entry.partition(":")[0]
                for entry in (os.listdir(self.cur) if self.cur.is_dir() else ())
                if ":" in entry
            }
        return name in self._taken

    def send(self, message: EmailMessage | Outgoing, key: str) -> SendResult:
        """Write ``message`` as the file of ``key``, into ``new/`` at the
        next ``sync``; "duplicate" when that message is already there, in
        ``cur/`` or waiting for the sync. Raises OSError when the folder is
        not writable."""
        target = os.path.join(self.new, self.name_for(key))
        if target in self._pending or self.holds(key):
            return SendResult("duplicate", target)
        if not self._made:
            for folder in (self.tmp, self.new, self.cur):
                folder.mkdir(parents=True, exist_ok=True)
            self._made = True
        outgoing = Outgoing.of(message)
        data = outgoing.with_linesep(b"\n")
        if outgoing.sender:
            # The envelope sender, as an MTA's final delivery writes it: what
            # the hand-off passes to sendmail -f (a VERP address, with
            # delivery.return_path, so a bounce names its delivery).
            data = b"Return-Path: <" + outgoing.sender.encode("utf-8") + b">\n" + data
        temp_name = os.path.join(self.tmp, f"outbox-{secrets.token_hex(8)}.tmp")
        fd = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o640)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            os.unlink(temp_name)
            raise
        os.close(fd)
        self._pending[target] = temp_name
        return SendResult("sent", target)

    def sync(self) -> None:
        """Every message sent so far on disk and in ``new/``. Hard links, not
        renames: link() fails if the name exists, so of two racing runs
        exactly one creates the file (the other's copy is dropped: it is the
        same message) and no reader ever sees half of one."""
        self._taken = None  # the next batch lists cur/ afresh
        if not self._pending:
            return
        sync_file_system(self.tmp)
        pending, self._pending = self._pending, {}
        for target, temp_name in pending.items():
            with contextlib.suppress(FileExistsError):
                os.link(temp_name, target)
            os.unlink(temp_name)
        fsync_folder(self.new)  # the new entries durable, not only their bytes

    def close(self) -> None:
        """Every send is complete when it returns; what is left is tidying
        tmp/ of files a killed run left, by the Maildir rule (older than 36
        hours, so a writer in another process is never disturbed)."""
        for temp_name in self._pending.values():  # never synced: never handed over
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
        self._pending = {}
        remove_stale_temp_files(
            self.tmp, reference=self.tmp, prefix="outbox-", older_than=_MAILDIR_TMP_AGE
        )


# Maildir's own rule for abandoned files in tmp/ (qmail's maildir(5)).
_MAILDIR_TMP_AGE = 36 * 3600.0
