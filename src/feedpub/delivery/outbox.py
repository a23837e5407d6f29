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
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

from feedpub.config import DigestConfig
from feedpub.delivery.sender import SendResult
from feedpub.output import fsync_folder, remove_stale_temp_files

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def outbox_recipient(digest: DigestConfig) -> str:
    """Where the outbox copy is addressed while there are no subscribers: the
    digest's reply-to (the editors' desk) or else its sender."""
    return digest.reply_to or digest.from_addr


def message_key(digest: str, slot: datetime, recipient: str) -> str:
    """A message's identity: the slot in UTC (a local time repeats at the
    autumn clock change) and the bare recipient address."""
    address = getaddresses([recipient])[0][1] or recipient
    return f"{digest}-{slot.astimezone(UTC):%Y%m%dT%H%MZ}-{address.lower()}"


class Outbox:
    """A Maildir of .eml files, LF line ends as a local mail store keeps them
    (``sendmail -t`` and Maildir readers expect that; SMTP's CRLF is the
    sending tool's business)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tmp, self.new, self.cur = folder / "tmp", folder / "new", folder / "cur"

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
        if (self.new / name).exists() or (self.cur / name).exists():
            return True
        return self.cur.is_dir() and any(self.cur.glob(f"{name}:*"))

    def send(self, message: EmailMessage, key: str) -> SendResult:
        """Put ``message`` into ``new/`` as the file of ``key``; "duplicate"
        when that message is already there or in ``cur/``. Raises OSError
        when the folder is not writable."""
        target = self.path_for(key)
        if self.holds(key):
            return SendResult("duplicate", str(target))
        for folder in (self.tmp, self.new, self.cur):
            folder.mkdir(parents=True, exist_ok=True)
        # The message's own policy (message.MAIL_POLICY keeps List-Unsubscribe
        # as it was folded).
        data = message.as_bytes(policy=message.policy.clone(linesep="\n"))
        # Write the file completely in tmp/, then hard-link it into new/:
        # link() fails if the name exists, unlike rename(), so of two racing
        # runs exactly one creates the file and no reader sees half of it.
        fd, temp_name = tempfile.mkstemp(prefix="outbox-", suffix=".tmp", dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, 0o640)
            try:
                os.link(temp_name, target)
            except FileExistsError:
                return SendResult("duplicate", str(target))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
        fsync_folder(self.new)  # the new entry durable, not only its bytes
        return SendResult("sent", str(target))

    def close(self) -> None:
        """Every send is complete when it returns; what is left is tidying
        tmp/ of files a killed run left, by the Maildir rule (older than 36
        hours, so a writer in another process is never disturbed)."""
        remove_stale_temp_files(
            self.tmp, reference=self.tmp, prefix="outbox-", older_than=_MAILDIR_TMP_AGE
        )


# Maildir's own rule for abandoned files in tmp/ (qmail's maildir(5)).
_MAILDIR_TMP_AGE = 36 * 3600.0
