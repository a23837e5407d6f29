"""The one registry of delivery backends: ``delivery.backend`` in the
config names one, and ``make_sender`` opens it. A new backend (an HTTP mail
API) is one module with a class satisfying ``Sender`` and one line in
``BACKENDS``; claiming, recording and exactly-once stay in ``run``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from feedpub.config import ConfigError, DeliveryConfig, secrets
from feedpub.credentials import where_to_put
from feedpub.delivery.outbox import Outbox
from feedpub.delivery.sender import Sender
from feedpub.delivery.smtp import SmtpSender, SmtpSettings

# (the delivery section, the environment for secrets, the config file named
# in errors) -> an open sender.
Factory = Callable[[DeliveryConfig, Mapping[str, str], Path], Sender]


def _outbox(cfg: DeliveryConfig, environ: Mapping[str, str], config_path: Path) -> Sender:
    return Outbox(cfg.outbox)


def _smtp(cfg: DeliveryConfig, environ: Mapping[str, str], config_path: Path) -> Sender:
    """The SMTP password comes from the environment or a systemd
    credential, never from the config."""
    password = None
    if cfg.smtp.username is not None:
        password = secrets.secret(secrets.SMTP_PASSWORD, environ)
        if password is None:
            raise ConfigError(
                f"{config_path}: delivery.smtp.username is set but there is no password: set "
                f"{where_to_put(secrets.SMTP_PASSWORD)}"
            )
    settings = SmtpSettings(
        host=cfg.smtp.host,
        port=cfg.smtp.port,
        security=cfg.smtp.security,  # type: ignore[arg-type]  # checked at load
        username=cfg.smtp.username,
        password=password,
        timeout=float(cfg.smtp.timeout),
        rate=cfg.rate,
    )
    return SmtpSender(settings)


BACKENDS: dict[str, Factory] = {
    "outbox": _outbox,
    "smtp": _smtp,
}


def check_backend(cfg: DeliveryConfig, config_path: Path) -> Factory:
    """The factory of ``cfg.backend``; ``ConfigError`` naming the key when
    no backend of that name is registered."""
    factory = BACKENDS.get(cfg.backend)
    if factory is None:
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(
            f"{config_path}: delivery.backend: unknown backend {cfg.backend!r} (known: {known})"
        )
    return factory


def make_sender(cfg: DeliveryConfig, environ: Mapping[str, str], config_path: Path) -> Sender:
    """The backend ``cfg.backend`` names, open; with ``delivery.dkim``,
    wrapped so every message it hands over is DKIM-signed (a missing or
    unusable key is a ``ConfigError`` before anything is opened)."""
    factory = check_backend(cfg, config_path)
    if cfg.dkim is None:
        return factory(cfg, environ, config_path)
    from feedpub.delivery import dkim  # dkimpy and cryptography: only to sign

    signer = dkim.load_signer(cfg.dkim, environ, config_path)
    assert signer is not None
    return dkim.SigningSender(factory(cfg, environ, config_path), signer)
