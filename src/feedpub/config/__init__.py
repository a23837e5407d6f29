"""``config.yaml``, read into frozen values (one class per section).

* ``schema``: the dataclasses; every default is written there, once.
* ``yaml``: YAML read with line numbers and bounds (aliases, nesting),
  duplicate keys refused. ingest uses it for ``*.yaml`` records too.
* ``checks``: one function per kind of value (URL, address, template ...).
* ``load``: validation, one builder per section; every problem is one line
  ``file:line: key: reason`` as ``ConfigError`` (the CLI exits 2 on it).

Secrets never live in the file: they come from the environment
(``FEEDPUB_STORE_URL`` overrides ``store.url``; the SMTP password is
``FEEDPUB_SMTP_PASSWORD`` or a systemd credential).
"""

from feedpub.config.checks import parse_duration
from feedpub.config.load import load_config
from feedpub.config.schema import (
    CONFIG_ENV,
    FEED_FORMATS,
    STORE_URL_ENV,
    Config,
    ConfigError,
    DeliveryConfig,
    DigestConfig,
    DkimConfig,
    EmailConfig,
    FeedsConfig,
    ImapConfig,
    InboundConfig,
    IngestConfig,
    RelayConfig,
    ServiceConfig,
    SiteConfig,
    SmtpConfig,
    SourceConfig,
    StoreConfig,
    SubscribersConfig,
    TagsConfig,
    WebConfig,
)

__all__ = [
    "CONFIG_ENV",
    "FEED_FORMATS",
    "STORE_URL_ENV",
    "Config",
    "ConfigError",
    "DeliveryConfig",
    "DigestConfig",
    "DkimConfig",
    "EmailConfig",
    "FeedsConfig",
    "ImapConfig",
    "InboundConfig",
    "IngestConfig",
    "RelayConfig",
    "ServiceConfig",
    "SiteConfig",
    "SmtpConfig",
    "SourceConfig",
    "StoreConfig",
    "SubscribersConfig",
    "TagsConfig",
    "WebConfig",
    "load_config",
    "parse_duration",
]
