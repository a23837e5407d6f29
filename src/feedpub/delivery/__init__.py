"""Delivery of finished messages through a ``Sender`` (``sender``): for now
the outbox (``outbox``), a Maildir that an MTA or a script drains.

Delivery never renders and never decides what is due: it takes one message
and its key at a time and says what became of it.
"""

from feedpub.delivery.outbox import Outbox, message_key, outbox_recipient
from feedpub.delivery.sender import Sender, SendResult, SendStatus

__all__ = ["Outbox", "SendResult", "SendStatus", "Sender", "message_key", "outbox_recipient"]
