"""Secrets from the environment or from systemd credentials, never from
``config.yaml`` and never logged: the one helper every secret goes through
(the token secret, the store URL with its password, the SMTP password).

A secret called ``feedpub_x`` is ``$FEEDPUB_X`` when that is set and not
empty, else the file ``$CREDENTIALS_DIRECTORY/feedpub_x`` (systemd's
``LoadCredential=``/``SetCredential=``), its trailing newline dropped.
Error messages name where a secret was looked for, never its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"


class CredentialError(Exception):
    """A credential file exists but cannot be read (or is not UTF-8 text)."""


def env_name(name: str) -> str:
    """The environment variable of a secret: ``feedpub_store_url`` -> FEEDPUB_STORE_URL."""
    return name.upper()


def credential_path(name: str, environ: Mapping[str, str]) -> Path | None:
    """Where systemd puts the credential ``name``; None without $CREDENTIALS_DIRECTORY."""
    folder = environ.get(CREDENTIALS_ENV)
    return Path(folder) / name if folder else None


def read_secret_bytes(name: str, environ: Mapping[str, str]) -> bytes | None:
    """The secret ``name`` as bytes, or None when neither place has it."""
    value = environ.get(env_name(name))
    if value:
        return value.encode("utf-8")
    path = credential_path(name, environ)
    if path is None:
        return None
    try:
        # A credential file usually ends with a newline nobody meant as part of it.
        return path.read_bytes().rstrip(b"\r\n")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialError(f"cannot read the credential {path}: {exc.strerror}") from None


def read_secret(name: str, environ: Mapping[str, str]) -> str | None:
    """The secret ``name`` as text, or None when neither place has it."""
    found = read_secret_bytes(name, environ)
    if found is None:
        return None
    try:
        return found.decode("utf-8")
    except UnicodeDecodeError:
        where = credential_path(name, environ)
        raise CredentialError(f"the credential {where} is not UTF-8 text") from None


def where_to_put(name: str) -> str:
    """How to provide the secret, for an error message."""
    return f"${env_name(name)} or the systemd credential ${CREDENTIALS_ENV}/{name}"
