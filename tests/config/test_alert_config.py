"""``kind: alert`` digests in config.yaml: their defaults, and one clear line
naming the key for each mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feedpub.config import ConfigError, load_config
from support.config_files import MINIMAL, write

ALERT = """\
digests:
  - name: breaking
    kind: alert
    title: "عاجل"
    tags: [عاجل]
    from: "news@news.example.org"
"""


def test_an_alert_needs_no_schedule_and_gets_its_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + ALERT))
    alert = cfg.digest("breaking")
    assert alert.is_alert and alert.schedule == ""
    assert alert.tags == ("عاجل",)
    assert alert.max_per_day == 5
    assert alert.subject == "عاجل: {{ title }}"
    assert alert.first_lookback == timedelta(hours=2)


def test_an_alert_takes_its_cap_subject_and_reach(tmp_path: Path) -> None:
    text = ALERT + '    max_per_day: 3\n    subject: "{{ digest_title }}: {{ title }}"\n'
    text += "    first_lookback: 30m\n"
    alert = load_config(write(tmp_path, MINIMAL + text)).digest("breaking")
    assert (alert.max_per_day, alert.first_lookback) == (3, timedelta(minutes=30))
    assert alert.subject == "{{ digest_title }}: {{ title }}"


def test_a_digest_is_still_a_digest_by_default(tmp_path: Path) -> None:
    text = 'digests:\n  - name: daily\n    schedule: "0 7 * * *"\n    subject: "s"\n'
    text += '    from: "news@news.example.org"\n'
    daily = load_config(write(tmp_path, MINIMAL + text)).digest("daily")
    assert daily.kind == "digest" and not daily.is_alert


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('    schedule: "0 7 * * *"\n', "digests[0].schedule: not allowed with kind: alert"),
        ("    max_items: 3\n", "digests[0].max_items: not allowed with kind: alert"),
        ("    only_if_new: false\n", "digests[0].only_if_new: an alert is only ever sent"),
        ("    max_per_day: 0\n", "digests[0].max_per_day: must be between 1 and 1000"),
        ('    subject: "{{ count }} أخبار"\n', "digests[0].subject: unknown name 'count'"),
    ],
)
def test_alert_mistakes_name_their_key(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, MINIMAL + ALERT + extra))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ALERT.replace("    tags: [عاجل]\n", ""), "digests[0].tags: is required with kind: alert"),
        (ALERT.replace("tags: [عاجل]", "tags: []"), "digests[0].tags: is required with kind"),
        (ALERT.replace("kind: alert", "kind: urgent"), "digests[0].kind: must be one of"),
        (
            'digests:\n  - name: daily\n    schedule: "0 7 * * *"\n    subject: "s"\n'
            '    from: "news@news.example.org"\n    max_per_day: 5\n',
            "digests[0].max_per_day: is only for kind: alert",
        ),
        (
            'digests:\n  - name: daily\n    schedule: "0 7 * * *"\n    subject: "{{ title }}"\n'
            '    from: "news@news.example.org"\n',
            "digests[0].subject: unknown name 'title'",
        ),
    ],
)
def test_alert_and_digest_keys_do_not_mix(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, MINIMAL + text))
    assert expected in str(caught.value)
