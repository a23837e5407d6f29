"""Delivery of finished messages through a ``Sender`` (``sender``): the
outbox (``outbox``), a Maildir that an MTA or a script drains, or SMTP
relays (``smtp`` one connection, ``pool`` many at once, ``limits`` the rate
limits they share), picked by name (``backends``); the exactly-once loop
over the store's deliveries (``run``), a sender that works through every
unfinished edition (``senders``), and an edition's progress (``progress``).
``queue`` is what sending asks of the store, ``lanes`` the loop of each
connection.

Delivery never renders and never decides what is due: it claims recorded
deliveries, asks the caller's composer for each message, hands it over and
records what became of it.
"""

from feedpub.delivery.backends import BACKENDS, make_sender
from feedpub.delivery.outbox import Outbox, message_key, outbox_recipient
from feedpub.delivery.pool import Relay, SmtpPool
from feedpub.delivery.progress import RATE_WINDOW, Progress, SenderRate, edition_progress
from feedpub.delivery.run import (
    Compose,
    DeliveryQueue,
    DeliveryReport,
    QueueEntry,
    RunLockLost,
    deliver,
    plan_queue,
    variant_key,
)
from feedpub.delivery.sender import Lane, Outgoing, Pool, Sender, SendResult, SendStatus
from feedpub.delivery.senders import EditionSent, deliver_unfinished
from feedpub.delivery.smtp import SmtpSender, SmtpSettings

__all__ = [
    "BACKENDS",
    "RATE_WINDOW",
    "Compose",
    "DeliveryQueue",
    "DeliveryReport",
    "EditionSent",
    "Lane",
    "Outbox",
    "Outgoing",
    "Pool",
    "Progress",
    "QueueEntry",
    "Relay",
    "RunLockLost",
    "SendResult",
    "SendStatus",
    "Sender",
    "SenderRate",
    "SmtpPool",
    "SmtpSender",
    "SmtpSettings",
    "deliver",
    "deliver_unfinished",
    "edition_progress",
    "make_sender",
    "message_key",
    "outbox_recipient",
    "plan_queue",
    "variant_key",
]
