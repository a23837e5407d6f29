"""The mail that went out, read back from the outbox as a mail reader would."""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path


def outbox_messages(outbox: Path) -> list[EmailMessage]:
    """Every message in the outbox's ``new/``, in file-name order."""
    folder = outbox / "new"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def mail_to(messages: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in messages if address in str(m["To"])]


def wait_for_mail(
    outbox: Path, address: str, count: int = 1, timeout: float = 20.0
) -> list[EmailMessage]:
    """The messages to ``address`` once there are ``count`` of them (a
    mailer thread writes them after the page answered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mail_to(outbox_messages(outbox), address)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no mail to {address} in {outbox} after {timeout:g} s")
