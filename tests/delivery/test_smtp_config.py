"""The delivery section of config.yaml as the backends read it: one relay or
several, each with its connections and rate, one ``delivery.rate`` over
all, the deadlines; every mistake one line naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feedpub.config import ConfigError, load_config
from feedpub.delivery import BACKENDS, Outbox, SmtpPool, make_sender

SITE = """\
site:
  title: "أخبار"
  url: "https://news.example.org/"
"""


def load(tmp_path: Path, delivery: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(SITE + "delivery:\n" + delivery, encoding="utf-8")
    return path


def test_the_defaults(tmp_path: Path) -> None:
    cfg = load_config(load(tmp_path, "  backend: outbox\n"))
    d = cfg.delivery
    assert (d.smtp.connections, d.smtp.timeout, d.smtp.relays) == (16, 30, ())
    assert (d.max_run_seconds, d.stale_after, d.rate) == (3600, timedelta(minutes=15), None)
    assert isinstance(make_sender(d, {}, cfg.path), Outbox)
    assert sorted(BACKENDS) == ["outbox", "smtp"]


def test_one_relay_with_its_connections(tmp_path: Path) -> None:
    path = load(
        tmp_path,
        "  backend: smtp\n  rate: 50\n"
        "  smtp:\n    host: relay.example.org\n    connections: 24\n    timeout: 10\n",
    )
    cfg = load_config(path)
    sender = make_sender(cfg.delivery, {}, cfg.path)
    assert isinstance(sender, SmtpPool)
    assert len(sender.lanes()) == 24 and sender.send_deadline == 10.0
    (relay,) = sender.relays
    assert (relay.settings.host, relay.settings.port, relay.connections) == (
        "relay.example.org",
        587,
        24,
    )
    assert sender.limiter is not None and sender.limiter.rate == 50.0
    sender.close()


def test_several_relays_each_with_their_own_connections_and_rate(tmp_path: Path) -> None:
    path = load(
        tmp_path,
        "  backend: smtp\n"
        "  smtp:\n    security: none\n    port: 2525\n    connections: 4\n    relays:\n"
        "      - {host: a.example.org, connections: 2, rate: 5}\n"
        "      - {host: b.example.org, port: 25}\n",
    )
    cfg = load_config(path)
    sender = make_sender(cfg.delivery, {}, cfg.path)
    assert isinstance(sender, SmtpPool)
    described = [
        (r.settings.host, r.settings.port, r.connections, r.settings.rate, r.settings.security)
        for r in sender.relays
    ]
    assert described == [
        ("a.example.org", 2525, 2, 5.0, "none"),
        ("b.example.org", 25, 4, None, "none"),
    ]
    assert len(sender.lanes()) == 6 and sender.limiter is None
    sender.close()


def test_the_relay_password_is_required_with_a_username(tmp_path: Path) -> None:
    path = load(
        tmp_path, "  backend: smtp\n  smtp:\n    host: relay.example.org\n    username: u\n"
    )
    cfg = load_config(path)
    with pytest.raises(ConfigError, match=r"no password: set \$FEEDPUB_SMTP_PASSWORD"):
        make_sender(cfg.delivery, {}, cfg.path)
    sender = make_sender(cfg.delivery, {"FEEDPUB_SMTP_PASSWORD": "s3cr3t"}, cfg.path)
    assert isinstance(sender, SmtpPool)
    assert {r.settings.password for r in sender.relays} == {"s3cr3t"}
    sender.close()


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        (
            "  backend: smtp\n  smtp:\n    host: a\n    connections: 101\n",
            ":8: delivery.smtp.connections: must be between 1 and 100",
        ),
        (
            "  backend: smtp\n  smtp:\n    host: a\n    relays:\n      - {host: b}\n",
            ":8: delivery.smtp.relays: give either host (one relay) or relays, not both",
        ),
        (
            "  backend: smtp\n  smtp:\n    relays:\n      - {port: 25}\n",
            ":8: delivery.smtp.relays[0].host: is required",
        ),
        (
            "  backend: smtp\n  smtp:\n    relays:\n      - {host: b, connections: 0}\n",
            ":8: delivery.smtp.relays[0].connections: must be between 1 and 100",
        ),
        (
            "  backend: smtp\n  smtp:\n    relays:\n      - {host: b, rate: -1}\n",
            ":8: delivery.smtp.relays[0].rate: must be more than 0",
        ),
        (
            "  backend: smtp\n  smtp:\n    relays:\n      - {host: b, weight: 2}\n",
            ":8: delivery.smtp.relays[0].weight: unknown key",
        ),
        ("  backend: smtp\n  smtp:\n    port: 25\n", "delivery.smtp.host: is required"),
        ("  max_run_seconds: 5\n", ":5: delivery.max_run_seconds: must be between 60 and 86400"),
        (
            "  backend: smtp\n  stale_after: 1m\n  smtp:\n    host: a\n    timeout: 30\n",
            ":6: delivery.stale_after: must be more than twice delivery.smtp.timeout (30s)",
        ),
    ],
)
def test_a_mistake_is_one_line_naming_the_key(tmp_path: Path, delivery: str, expected: str) -> None:
    path = load(tmp_path, delivery)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert expected in message, message
