"""The inbound tests' fixtures: the real servers (Debian's postfix and
dovecot-imapd). What the tests share besides (the corpus, its keys and the
world it answers, the recording subscriber writer) is in
``support/inbound_corpus.py``."""

from __future__ import annotations

from support.dovecot import dovecot_for
from support.postfix import postfix

__all__ = ["dovecot_for", "postfix"]  # the real servers' fixtures, for the tests here
