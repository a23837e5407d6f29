"""Delivery of finished messages through a ``Sender`` (``sender``): the
outbox (``outbox``), a Maildir that an MTA or a script drains, or SMTP
relays (``smtp`` one connection, ``pool`` many at once, ``limits`` the rate
limits they share), picked by name (``backends``); the exactly-once loop
over the store's deliveries (``run``), a sender that works through every
unfinished edition (``senders``), and an edition's progress (``progress``).

Delivery never renders and never decides what is due: it claims recorded
deliveries, asks the caller's composer for each message, hands it over and
records what became of it.
"""

from feedpub.delivery.outbox import Outbox, message_key, outbox_recipient
from feedpub.delivery.run import (
    Compose,
    DeliveryQueue,
    DeliveryReport,
    QueueEntry,
    deliver,
    plan_queue,
    variant_key,
)
from feedpub.delivery.sender import Outgoing, Sender, SendResult, SendStatus
from feedpub.delivery.smtp import SmtpSender, SmtpSettings

__all__ = [
    "Compose",
    "DeliveryQueue",
    "DeliveryReport",
    "Outbox",
    "Outgoing",
    "QueueEntry",
    "SendResult",
    "SendStatus",
    "Sender",
    "SmtpSender",
    "SmtpSettings",
    "deliver",
    "message_key",
    "outbox_recipient",
    "plan_queue",
    "variant_key",
]
