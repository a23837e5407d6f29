"""The secrets feedpub reads, by name, through ``feedpub.credentials``: each
from ``$FEEDPUB_<NAME>`` or the systemd credential
``$CREDENTIALS_DIRECTORY/feedpub_<name>``, never from ``config.yaml``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from feedpub.config.schema import ConfigError
from feedpub.credentials import CredentialError, read_secret, where_to_put

__all__ = [
    "DKIM_KEY",
    "IMAP_PASSWORD",
    "SMTP_PASSWORD",
    "STORE_URL",
    "WORDPRESS_PASSWORD",
    "CredentialError",
    "read_secret",
    "secret",
]

STORE_URL = "feedpub_store_url"  # $FEEDPUB_STORE_URL: the store URL, password and all
SMTP_PASSWORD = "feedpub_smtp_password"  # $FEEDPUB_SMTP_PASSWORD
IMAP_PASSWORD = "feedpub_imap_password"  # $FEEDPUB_IMAP_PASSWORD: the inbound mailbox's
DKIM_KEY = "feedpub_dkim_key"  # $FEEDPUB_DKIM_KEY: the PEM private key of delivery.dkim
# $FEEDPUB_WORDPRESS_PASSWORD: the application password of a WordPress
# source's ``username`` (ingest.wordpress)
WORDPRESS_PASSWORD = "feedpub_wordpress_password"
TOKEN_SECRET = "feedpub_secret"  # $FEEDPUB_SECRET: read by feedpub.tokens.load_secret


def secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret ``name`` (one of the constants above), None when not
    provided; a credential file that cannot be read is a ``ConfigError``."""
    try:
        return read_secret(name, os.environ if environ is None else environ)
    except CredentialError as exc:
        raise ConfigError(f"{exc} (provide {where_to_put(name)})") from None
