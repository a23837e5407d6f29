"""Where inbound mail is read: the ``Mailbox`` protocol (declared by its
consumer, ``job``) and the Maildir the site's MTA delivers into.

A Maildir (``inbound: {maildir: var/inbound}``): ``new/`` and ``cur/`` are
read; a message whose effect is recorded is moved to ``processed/cur/``
(``processed/`` is a Maildir of its own beside ``new/`` and ``cur/``, which
Dovecot's ``LAYOUT=fs`` shows as the folder "processed"), marked seen; a
message kept for a person moves from ``new/`` to ``cur/`` unseen, as any
mail reader would, and stays. Nothing is ever deleted. Moves are renames
within one file system: a crash leaves a message in one place or the other,
and the store's record of it makes a second reading a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

PROCESSED = "processed"
_INFO = ":2,"  # Maildir's separator before the flags


class InboundError(OSError):
    """The mailbox cannot be read (missing, refused, unreachable); phrased
    for the operator, naming the config key or the server. An ``OSError``:
    the front ends report it as one line, as any failed I/O."""


@dataclass(frozen=True)
class Incoming:
    """One message as read: where it is in its mailbox, and its bytes."""

    location: str  # stable while it stays: a Maildir unique name, "uidvalidity/uid"
    data: bytes


class Mailbox(Protocol):
    # For the store and the logs: "maildir:/srv/feedpub/var/inbound", "imap://..."
    name: str

    def messages(self, skip: Collection[str]) -> Iterator[Incoming]:
        """Every message, but those at a location in ``skip`` that were
        already left for a person (kept by an earlier run)."""
        ...

    def processed(self, location: str) -> None:
        """Move a message whose effect is recorded out of the way (never delete it)."""
        ...

    def keep(self, location: str) -> None:
        """Leave a message for a person, unread."""
        ...

    def present(self, locations: Collection[str]) -> set[str]:
        """Which of ``locations`` are still in the mailbox."""
        ...

    def close(self) -> None: ...


class MaildirBox:
    """A Maildir on this machine (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"maildir:{path}"
        if not (path / "new").is_dir() or not (path / "cur").is_dir():
            raise InboundError(
                f"inbound.maildir: {path} is not a Maildir (no new/ and cur/ folders): "
                "point it at the folder the MTA delivers the bounce address to"
            )
        self._where: dict[str, tuple[str, str]] = {}  # location -> (sub folder, file name)

    def messages(self, skip: Collection[str]) -> Iterator[Incoming]:
        # Listed up front: what this run moves to cur/ is not read again.
        listed = [(sub, name) for sub in ("new", "cur") for name in sorted(self._names(sub))]
        for sub, name in listed:
            location = name.split(":", 1)[0]
            # A kept message still in new/ was not yet left (a crash came
            # first): read it again, its record makes that cheap.
            if name.startswith(".") or (sub == "cur" and location in skip):
                continue
            try:
                data = (self.path / sub / name).read_bytes()
            except FileNotFoundError:
                continue  # moved meanwhile by a mail reader or another run
            except OSError as exc:
                raise InboundError(f"{self.path / sub / name}: cannot read: {exc}") from None
            self._where[location] = (sub, name)
            yield Incoming(location, data)

    def _names(self, sub: str) -> list[str]:
        try:
            return os.listdir(self.path / sub)
        except OSError as exc:
            raise InboundError(f"{self.path / sub}: cannot list: {exc.strerror}") from None

    def processed(self, location: str) -> None:
        sub, name = self._where.pop(location)
        flags = set(name.partition(_INFO)[2]) | {"S"}
        target = self.path / PROCESSED
        for folder in ("tmp", "new", "cur"):
            (target / folder).mkdir(parents=True, exist_ok=True)
        destination = target / "cur" / f"{location}{_INFO}{''.join(sorted(flags))}"
        self._rename(self.path / sub / name, destination)

    def keep(self, location: str) -> None:
        sub, name = self._where.pop(location)
        if sub == "new":  # seen by a program, still unread for a person
            self._rename(self.path / "new" / name, self.path / "cur" / f"{name}{_INFO}")

    def present(self, locations: Collection[str]) -> set[str]:
        here = {n.split(":", 1)[0] for sub in ("new", "cur") for n in self._names(sub)}
        return here & set(locations)

    def close(self) -> None:
        self._where.clear()

    @staticmethod
    def _rename(source: Path, destination: Path) -> None:
        try:
            os.rename(source, destination)
        except FileNotFoundError:
            pass  # moved meanwhile: by a mail reader, or another run that recorded it too
        except OSError as exc:
            raise InboundError(f"cannot move {source} to {destination}: {exc}") from None
