"""The inbound section and the delivery fields it adds: defaults, paths,
the IMAP settings, and one clear line for each mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feedpub.config import ConfigError, load_config
from feedpub.inbound import open_mailbox, rules_for

BASE = """\
site:
  title: "أخبار"
  url: "https://news.example.org"
"""


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(BASE + text, encoding="utf-8")
    return load_config(path)


def test_the_defaults_read_nothing_and_keep_the_envelope_sender(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    assert not cfg.inbound.enabled and cfg.delivery.return_path is None
    assert (cfg.delivery.pause_hard_bounce_rate, cfg.delivery.pause_complaint_rate) == (0.05, 0.003)
    assert rules_for(cfg.inbound).soft_bounce_limit == 3
    assert rules_for(cfg.inbound).soft_bounce_window == timedelta(days=15)


def test_three_lines_set_up_the_mail_loop(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "delivery:\n  return_path: bounces@news.example.org\n"
        "  pause_hard_bounce_rate: 2%\n  pause_complaint_rate: 0.001\n"
        "inbound:\n  maildir: var/inbound\n  soft_bounce_limit: 5\n  soft_bounce_days: 30\n",
    )
    assert cfg.delivery.return_path == "bounces@news.example.org"
    assert cfg.delivery.pause_hard_bounce_rate == pytest.approx(0.02)
    assert cfg.delivery.pause_complaint_rate == pytest.approx(0.001)
    assert cfg.inbound.maildir == tmp_path / "var" / "inbound"
    assert rules_for(cfg.inbound).soft_bounce_window == timedelta(days=30)


def test_imap_settings_and_their_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path, "inbound:\n  imap:\n    host: mail.example.org\n    username: bounces\n")
    imap = cfg.inbound.imap
    assert imap is not None and cfg.inbound.enabled
    assert (imap.port, imap.security, imap.folder, imap.processed_folder) == (
        993,
        "tls",
        "INBOX",
        "processed",
    )


def test_an_imap_mailbox_without_its_password_says_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedpub.inbound import InboundError

    monkeypatch.delenv("FEEDPUB_IMAP_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = load(tmp_path, "inbound:\n  imap:\n    host: 127.0.0.1\n    username: bounces\n")
    with pytest.raises(InboundError, match=r"FEEDPUB_IMAP_PASSWORD or the systemd credential"):
        open_mailbox(cfg.inbound)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "inbound:\n  maildir: a\n  imap:\n    host: h\n    username: u\n",
            "inbound.imap: give either",
        ),
        ("inbound:\n  imap:\n    username: u\n", "inbound.imap.host: is required"),
        ("inbound:\n  imap:\n    host: h\n", "inbound.imap.username: is required"),
        ("inbound:\n  imap:\n    host: h\n    username: u\n    password: x\n", "secrets never go"),
        (
            "inbound:\n  imap:\n    host: h\n    username: u\n    security: ssl\n",
            "tls, starttls or none",
        ),
        ("inbound:\n  imap:\n    host: h\n    username: u\n    folder: بريد\n", "printable ASCII"),
        (
            "inbound:\n  imap:\n    host: h\n    username: u\n    processed_folder: INBOX\n",
            "must differ",
        ),
        ("inbound:\n  soft_bounce_limit: 0\n", "inbound.soft_bounce_limit: must be between 1"),
        ("inbound:\n  mailbox: x\n", "inbound.mailbox: unknown key"),
        ("delivery:\n  return_path: bounces+x@news.example.org\n", "has no '+'"),
        ("delivery:\n  return_path: Bounces <b@news.example.org>\n", "bare address"),
        ("delivery:\n  return_path: " + "b" * 40 + "@news.example.org\n", "at most 37"),
        ("delivery:\n  pause_hard_bounce_rate: 5\n", "a share such as 5% or 0.05"),
        ("delivery:\n  pause_complaint_rate: lots\n", "a share such as 5% or 0.05"),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert problem in message and "\n" not in message
    assert f"{tmp_path / 'config.yaml'}:" in message
