"""Delivery of built messages. For now the outbox: one .eml file per message.

The file name is derived from a key that names the message's identity
(digest, slot, recipient), and a file is created only if none exists under
that name: a rerun of the same slot, or two runs racing, never leave a second
copy. (rss2email #83 and listmonk #1109 are the duplicate sends this avoids.)
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
    """A folder of .eml files (CRLF line endings, as sent over SMTP)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, key: str) -> Path:
        name = _UNSAFE.sub("_", key)
        if name != key or name.startswith("."):
            # Replacing characters could map two keys onto one name; the hash
            # of the original key keeps them apart.
            digest = hashlib.sha256(key.encode()).hexdigest()[:12]
            name = f"{name.lstrip('.')}-{digest}"
        return self.folder / f"{name}.eml"

    def deliver(self, message: EmailMessage, key: str) -> Path | None:
        """Write ``message`` as ``<key>.eml``; None when that file exists."""
        target = self.path_for(key)
        if target.exists():
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        # The message's own policy (message.MAIL_POLICY keeps List-Unsubscribe
        # as it was folded), with CRLF line ends as sent over SMTP.
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        # Write a hidden temporary file completely, then hard-link it into
        # place: link() fails if the name exists, unlike rename(), so of two
        # racing runs exactly one creates the file and nobody sees half of it.
        fd, temp_name = tempfile.mkstemp(prefix=".outbox-", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, 0o640)
            try:
                os.link(temp_name, target)
            except FileExistsError:
                return None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
        self._sync_folder()
        return target

    def _sync_folder(self) -> None:
        # Make the new directory entry durable, not only the file's bytes.
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
