"""What delivery needs of a backend: the ``Sender`` protocol, declared here by
its consumer (listmonk's ``Messenger`` is the model): a backend is anything
that takes one finished message at a time and says what became of it.

Backends: the outbox (a Maildir of .eml files, the embedded default) and SMTP
(``backends`` names them). A new one (an HTTP mail API, say) implements
``Sender`` and nothing else; claiming, recording and retry bookkeeping stay
with delivery. A backend that sends over several connections at once is a
``Pool`` of ``Lane`` s: delivery runs one thread per lane, each claiming and
sending its own rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal, Protocol, runtime_checkable

SendStatus = Literal["sent", "duplicate", "failed", "deferred"]
# Why a lane can take no more messages: its relay did not answer within a
# message's deadline, or refuses this connection while it holds others.
StopReason = Literal["timeout", "limit"]


@dataclass(frozen=True)
class SendResult:
    """What became of one message.

    - ``sent``: the next hop accepted it.
    - ``duplicate``: the next hop already holds the message of this key (the
      outbox file exists); nothing was sent again.
    - ``failed``: refused for good (an SMTP 5xx): do not try this recipient
      again for this edition. ``detail`` has the server's words.
    - ``deferred``: a passing failure (4xx, dropped connection, timeout) that
      outlasted the backend's own bounded retries: try again in a later run.

    ``stop`` (with ``deferred``): this connection can take no more, so the
    lane gives its remaining rows back rather than spend a deadline on each.
    """

    status: SendStatus
    detail: str = ""
    stop: StopReason | None = None


@dataclass(frozen=True)
class Outgoing:
    """A finished message as bytes with its envelope: how messages built at
    volume reach a backend, with no ``EmailMessage`` to serialise per
    recipient. ``linesep`` is the line end ``data`` was written with: the
    composer uses the sender's own (``Sender.linesep``), so nothing is
    converted per message."""

    data: bytes
    sender: str  # the bare envelope sender
    recipients: tuple[str, ...]  # the bare envelope recipients
    message_id: str
    linesep: bytes = b"\r\n"

    def with_linesep(self, linesep: bytes) -> bytes:
        """``data`` with ``linesep`` line ends (CRLF, LF)."""
        if linesep == self.linesep:
            return self.data
        return self.data.replace(self.linesep, linesep)

    @classmethod
    def of(cls, message: EmailMessage | Outgoing) -> Outgoing:
        """``message`` as bytes, in the message's own policy (which keeps
        pre-folded headers as they are)."""
        if isinstance(message, Outgoing):
            return message
        senders = [a for _, a in getaddresses(message.get_all("From", [])) if a]
        recipients = [a for _, a in getaddresses(message.get_all("To", [])) if a]
        return cls(
            message.as_bytes(policy=message.policy.clone(linesep="\r\n")),
            senders[0] if senders else "",
            tuple(recipients),
            str(message["Message-ID"] or ""),
        )


class Sender(Protocol):
    # True when handing over the message of one key twice leaves one copy
    # (the outbox: the file name is the key). Delivery then records a whole
    # batch at once after ``sync``: a crash before that makes the rerun find
    # the messages already there, not send them again. False (SMTP): each
    # message is recorded as soon as it is accepted.
    idempotent: bool
    # The line end the backend writes (LF in a Maildir, CRLF on the wire).
    linesep: bytes

    def send(self, message: EmailMessage | Outgoing, key: str) -> SendResult:
        """Hand over ``message``; ``key`` is its identity (digest, slot,
        recipient), stable across reruns. Raises nothing for a per-message
        problem (that is a result); raises ``OSError`` only when the backend
        as a whole is unusable (outbox folder not writable)."""
        ...

    def sync(self) -> None:
        """Make every message handed over so far durable (the outbox: one
        file system sync for a batch of files); raises ``OSError``."""
        ...

    def close(self) -> None:
        """Release connections; the sender is not used afterwards."""
        ...


def send_deadline(sender: Sender) -> float:
    """Seconds one ``send`` of ``sender`` may take at most, every attempt
    included: its ``send_deadline`` attribute, which a backend may have (0
    when it has none: a local write). A claim's lease must outlast it:
    delivery renews the lease before a send that could otherwise outlive it."""
    return float(getattr(sender, "send_deadline", 0.0))


@runtime_checkable
class Lane(Sender, Protocol):
    """One connection of a ``Pool``: used by one thread at a time."""

    @property
    def send_deadline(self) -> float:
        """Seconds one ``send`` may take at most, every attempt included."""
        ...

    def open(self) -> bool:
        """Open the connection before any row is claimed for it. False when
        the relay refuses it while it holds others of ours (its connection
        limit: the lane is not needed). Raises ``TimeoutError`` when the
        relay does not answer within the deadline, ``OSError`` when it cannot
        be reached at all."""
        ...

    def wait_turn(self) -> None:
        """Block until the rate limits let this lane hand over its next
        message; the next ``send`` uses that turn. Delivery waits first and
        checks the claim after, so a wait never eats into a lease."""
        ...


@runtime_checkable
class Pool(Protocol):
    """A backend that sends over several connections at once."""

    def lanes(self) -> Sequence[Lane]:
        """Its connections, the same objects on every call."""
        ...
