"""Who receives the digests: the subscriber list as the operators keep it
(``roster``: add, remove, bounce, import, export and the seed file, over CSV
files read by ``csvfile``) and as the web app's readers change it
(``subscriptions``: sign-up, confirm, unsubscribe, preferences; ``signups``:
the mailer of what the sign-up form queued), and as the mail that comes back
changes it (``returned``: bounces, complaints, unsubscribes by mail).

Below the stages: the inbound mail (bounces, complaints, unsubscribes by
mail) and the web app change subscribers through here; the store holds them.
"""

from feedpub.subscribers.csvfile import check_address, read_roster, write_roster
from feedpub.subscribers.returned import ReturnedMail
from feedpub.subscribers.roster import (
    AddOutcome,
    ConsentRefused,
    ImportReport,
    Roster,
    SubscriberList,
)
from feedpub.subscribers.subscriptions import StoreSubscriptions

__all__ = [
    "AddOutcome",
    "ConsentRefused",
    "ImportReport",
    "ReturnedMail",
    "Roster",
    "StoreSubscriptions",
    "SubscriberList",
    "check_address",
    "read_roster",
    "write_roster",
]
