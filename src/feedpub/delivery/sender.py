"""What delivery needs of a backend: the ``Sender`` protocol, declared here by
its consumer (listmonk's ``Messenger`` is the model): a backend is anything
that takes one finished message at a time and says what became of it.

Backends: the outbox (a Maildir of .eml files, the embedded default) and SMTP.
A new one (an HTTP mail API, say) implements these two methods and nothing
else; claiming, recording and retry bookkeeping stay with delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal, Protocol

SendStatus = Literal["sent", "duplicate", "failed", "deferred"]


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
    """

    status: SendStatus
    detail: str = ""


class Sender(Protocol):
    def send(self, message: EmailMessage, key: str) -> SendResult:
        """Hand over ``message``; ``key`` is its identity (digest, slot,
        recipient), stable across reruns. Raises nothing for a per-message
        problem (that is a result); raises ``OSError`` only when the backend
        as a whole is unusable (outbox folder not writable)."""
        ...

    def close(self) -> None:
        """Release connections; the sender is not used afterwards."""
        ...
