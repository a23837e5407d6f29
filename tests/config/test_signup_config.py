"""The sign-up keys: subscribers.confirm_expiry, confirm_per_hour,
pending_expiry, from, confirm_url; web.signups_per_client_per_hour and
web.trusted_proxies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feedpub.config import ConfigError, load_config

SITE = """\
site:
  title: "أخبار"
  url: "https://news.example.org"
"""
DIGEST = """\
digests:
  - name: daily
    schedule: "0 7 * * *"
    subject: "النشرة"
    from: "أخبار <news@news.example.org>"
"""


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, SITE + DIGEST))
    s = cfg.subscribers
    assert (s.confirm_expiry, s.confirm_per_hour, s.pending_expiry) == (
        timedelta(hours=48),
        1,
        timedelta(days=7),
    )
    assert s.from_addr == "أخبار <news@news.example.org>"  # the first digest's
    assert s.confirm_url == "https://news.example.org/confirm/{token}"
    assert (cfg.web.signups_per_client_per_hour, cfg.web.trusted_proxies) == (10, ())
    assert load_config(_write(tmp_path, SITE)).subscribers.from_addr == "noreply@news.example.org"


def test_given(tmp_path: Path) -> None:
    cfg = load_config(
        _write(
            tmp_path,
            SITE
            + DIGEST
            + "subscribers:\n  confirm_expiry: 12h\n  confirm_per_hour: 2\n"
            + "  pending_expiry: 3d\n  from: desk@news.example.org\n"
            + "  confirm_url: https://www.example.org/c/{token}\n"
            + "web:\n  signups_per_client_per_hour: 5\n"
            + "  trusted_proxies: [127.0.0.1, 10.0.0.0/8]\n",
        )
    )
    s = cfg.subscribers
    assert (s.confirm_expiry, s.confirm_per_hour, s.pending_expiry) == (
        timedelta(hours=12),
        2,
        timedelta(days=3),
    )
    assert (s.from_addr, s.confirm_url) == (
        "desk@news.example.org",
        "https://www.example.org/c/{token}",
    )
    assert cfg.web.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("subscribers:\n  confirm_expiry: soon\n", "subscribers.confirm_expiry: 'soon' is not"),
        ("subscribers:\n  confirm_expiry: 1m\n", "subscribers.confirm_expiry: must be between"),
        ("subscribers:\n  pending_expiry: 2y\n", "subscribers.pending_expiry: "),
        ("subscribers:\n  confirm_per_hour: 0\n", "subscribers.confirm_per_hour: must be between"),
        ("subscribers:\n  from: nobody\n", "subscribers.from: "),
        ("subscribers:\n  confirm_url: /confirm\n", "subscribers.confirm_url: must be an http(s)"),
        ("web:\n  trusted_proxies: [nginx]\n", "web.trusted_proxies[0]: must be an IP address"),
        ("web:\n  signups_per_client_per_hour: 0\n", "web.signups_per_client_per_hour: must be"),
        ("web:\n  limit: 3\n", "web.limit: unknown key"),
    ],
)
def test_mistakes_name_their_key(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, SITE + extra))
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path
