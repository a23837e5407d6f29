"""Breaking-news alerts through the whole run, on SQLite and PostgreSQL: an
article tagged «عاجل» ingested at 10:02 reaches each alert subscriber once
in that run (read back from the outbox); a rerun or an edit sends nothing;
the sixth alert of a day is not sent and goes into the next daily digest; a
run that dies mid-delivery is finished by the next, each message once."""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from feedpub.app import Publisher, make_publisher
from feedpub.config import Config, load_config
from feedpub.digests import AlertOutcome, DigestOutcome
from feedpub.store import SqlStore
from support.outbox import outbox_messages

DAMASCUS = ZoneInfo("Asia/Damascus")
AT_1002 = datetime(2026, 11, 30, 10, 2, tzinfo=DAMASCUS)
SECRET = "alerts-test-secret-0123456789abcdef"

# Who chose what (the seed CSV, as an operator imports it).
SUBSCRIBERS = """\
email,name,digests
sami@example.org,سامي,breaking|daily
laila@example.org,ليلى,breaking
rami@example.org,رامي,daily
huda@example.org,هدى,
omar@example.org,عمر,
"""
ALERTED = ["laila@example.org", "sami@example.org"]


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)


def make_cfg(
    folder: Path,
    *,
    max_per_day: int = 5,
    batch: int = 100,
    smtp_port: int | None = None,
    readers: int = 0,
) -> Config:
    """Outbox delivery, or SMTP to 127.0.0.1:``smtp_port`` over two
    connections; ``readers`` more alert subscribers in the seed."""
    more = "".join(f"reader{i}@example.org,قارئ,breaking\n" for i in range(readers))
    (folder / "subscribers.csv").write_text(SUBSCRIBERS + more, encoding="utf-8")
    (folder / "records.jsonl").touch()
    smtp = (
        f"  backend: smtp\n  smtp:\n    host: 127.0.0.1\n    port: {smtp_port}\n"
        "    security: none\n    timeout: 5\n    connections: 2\n"
        if smtp_port is not None
        else ""
    )
    path = folder / "config.yaml"
    path.write_text(
        f"""\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
  timezone: Asia/Damascus
sources:
  - path: {folder / "records.jsonl"}
feeds:
  output: {folder / "public"}
digests:
  - name: daily
    title: "النشرة اليومية"
    schedule: "0 7 * * *"
    subject: "{{{{ site_title }}}}: {{{{ date }}}}"
    from: "أخبار الشام <news@news.example.org>"
    first_lookback: 3d
  - name: breaking
    kind: alert
    title: "عاجل"
    tags: [عاجل]
    max_per_day: {max_per_day}
    from: "أخبار الشام <news@news.example.org>"
delivery:
  outbox: {folder / "outbox"}
  batch: {batch}
  stale_after: 1m
{smtp}subscribers:
  seed: {folder / "subscribers.csv"}
""",
        encoding="utf-8",
    )
    return load_config(path)


def record(
    ident: str, title: str, published: datetime, tags: tuple[str, ...] = ("عاجل",)
) -> dict[str, Any]:
    return {
        "id": ident,
        "title": title,
        "summary": f"تفاصيل {title}.",
        "text": f"تفاصيل {title}.\n\nنص الخبر كاملاً.",
        "published": published.isoformat(),
        "url": f"https://news.example.org/news/{ident}",
        "image": f"https://news.example.org/media/{ident}.jpg",
        "tags": list(tags),
    }


def publish(folder: Path, *records: dict[str, Any]) -> None:
    """The site's export as it stands: these records, replacing the file."""
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    (folder / "records.jsonl").write_text(lines, encoding="utf-8")


def run(cfg: Config, store: SqlStore, now: datetime) -> dict[str, Any]:
    """``feedpub run`` at ``now``: every job must work; the reports by job."""
    with make_publisher(cfg, now=now, store=store) as pub:
        outcomes = pub.run_jobs()
    assert not [o.run.error for o in outcomes if o.failed]
    return {o.run.job: o.report for o in outcomes}


def mails(folder: Path, digest: str) -> list[EmailMessage]:
    """The messages of ``digest`` in the outbox, read back as a mail reader would."""
    messages = outbox_messages(folder / "outbox")
    return [m for m in messages if f"<{digest}.news.example.org>" in str(m["List-Id"])]


def by_reader(messages: list[EmailMessage]) -> dict[str, list[str]]:
    """Each recipient's subjects."""
    found: dict[str, list[str]] = {}
    for message in messages:
        found.setdefault(message["To"].addresses[0].addr_spec, []).append(message["Subject"])
    return {k: sorted(v) for k, v in sorted(found.items())}


def body(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_a_breaking_article_reaches_each_alert_subscriber_once_in_the_run_that_ingests_it(
    tmp_path: Path, store: SqlStore
) -> None:
    cfg = make_cfg(tmp_path)
    title = "انفجار في مستودع للوقود قرب ميناء اللاذقية"
    breaking = record("latakia", title, AT_1002 - timedelta(minutes=2))
    other = record("budget", "الحكومة تناقش الموازنة", AT_1002 - timedelta(minutes=30), ("اقتصاد",))
    publish(tmp_path, breaking, other)

    reports = run(cfg, store, AT_1002)
    alert = reports["alert breaking"]
    assert isinstance(alert, AlertOutcome)
    assert alert.summary() == "alert breaking: 1 new, 2 delivered"
    sent = mails(tmp_path, "breaking")
    # Those who chose the alert, once each; not the daily-only reader, nor
    # the one who listed no digests (an alert is only for those who chose it).
    assert by_reader(sent) == {address: [f"عاجل: {title}"] for address in ALERTED}
    html = body(sent[0])
    assert 'dir="rtl"' in html and "تفاصيل انفجار في مستودع" in html
    assert 'href="https://news.example.org/news/latakia"' in html
    assert 'src="https://news.example.org/media/latakia.jpg"' in html
    unsubscribe = " ".join(str(sent[0]["List-Unsubscribe"]).split())
    assert unsubscribe.startswith("<https://news.example.org/unsubscribe/breaking/")

    # A rerun ten minutes later: nothing new, nothing sent.
    again = run(cfg, store, AT_1002 + timedelta(minutes=10))["alert breaking"]
    assert again.summary() == "alert breaking: 0 new, 0 delivered"
    assert len(mails(tmp_path, "breaking")) == 2

    # An edit of the alerted article, and an edit that tags another «عاجل»:
    # updates of articles already seen, so no alert.
    publish(
        tmp_path,
        {**breaking, "title": title + " (محدّث)", "text": "نص محدّث."},
        {**other, "tags": ["اقتصاد", "عاجل"]},
    )
    edited = run(cfg, store, AT_1002 + timedelta(minutes=20))
    assert edited["ingest"].updated == 2
    assert edited["alert breaking"].summary() == "alert breaking: 0 new, 0 delivered"
    assert len(mails(tmp_path, "breaking")) == 2
    assert len(store.editions("breaking")) == 1


def test_the_sixth_alert_of_a_day_waits_for_the_next_daily_digest(
    tmp_path: Path, store: SqlStore
) -> None:
    cfg = make_cfg(tmp_path)
    morning = [record(f"m{i}", f"خبر عاجل صباحي رقم {i}", AT_1002 - timedelta(minutes=9 - i))
               for i in range(3)]  # fmt: skip
    publish(tmp_path, *morning)
    run(cfg, store, AT_1002)
    later = AT_1002 + timedelta(hours=1)
    noon = [record(f"n{i}", f"خبر عاجل ظهراً رقم {i}", later - timedelta(minutes=9 - i))
            for i in range(3)]  # fmt: skip
    publish(tmp_path, *morning, *noon)
    alert = run(cfg, store, later)["alert breaking"]
    assert isinstance(alert, AlertOutcome)
    assert alert.over_cap == ("n2",)  # the sixth of the day
    assert alert.summary() == "alert breaking: 2 new, 4 delivered, 1 over the daily cap"
    sixth = "خبر عاجل ظهراً رقم 2"
    subjects = by_reader(mails(tmp_path, "breaking"))
    assert set(subjects) == set(ALERTED)
    for address in ALERTED:
        assert len(subjects[address]) == 5 and f"عاجل: {sixth}" not in subjects[address]

    # Next morning: the daily digest carries it (and the alerted ones too:
    # the digest is the day's whole record); the new day's cap sends no
    # alert for it, and a new breaking article of the day is alerted.
    tomorrow = datetime(2026, 12, 1, 7, 5, tzinfo=DAMASCUS)
    fresh = record("dawn", "خبر عاجل فجراً", tomorrow - timedelta(minutes=3))
    publish(tmp_path, *morning, *noon, fresh)
    reports = run(cfg, store, tomorrow)
    daily = reports["digest daily"]
    assert isinstance(daily, DigestOutcome) and daily.edition is not None
    assert "n2" in daily.edition.article_ids
    assert set(daily.edition.article_ids) >= {"m0", "m1", "m2", "n0", "n1", "n2"}
    (rami,) = [m for m in mails(tmp_path, "daily") if "rami@" in str(m["To"])]
    assert sixth in body(rami)
    assert reports["alert breaking"].summary() == "alert breaking: 1 new, 2 delivered"
    subjects = by_reader(mails(tmp_path, "breaking"))
    for address in ALERTED:
        assert f"عاجل: {sixth}" not in subjects[address]
        assert "عاجل: خبر عاجل فجراً" in subjects[address]


def test_a_run_that_dies_mid_delivery_is_finished_by_the_next_each_message_once(
    tmp_path: Path, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_cfg(tmp_path, batch=1)
    titles = [f"خبر عاجل رقم {i}" for i in range(3)]
    publish(
        tmp_path,
        *(record(f"b{i}", t, AT_1002 - timedelta(minutes=5 - i)) for i, t in enumerate(titles)),
    )
    from feedpub.delivery import Outbox

    real_send = Outbox.send
    handed: list[str] = []

    def dies_on_the_third(self: Outbox, message: Any, key: str) -> Any:
        if len(handed) == 2:
            raise KeyboardInterrupt  # the process is killed mid-delivery
        handed.append(key)
        return real_send(self, message, key)

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(Outbox, "send", dies_on_the_third)
        patch.setattr(SqlStore, "release", lambda *a, **k: False)  # died: no clean-up
        with make_publisher(cfg, now=AT_1002, store=store) as pub:
            pub.ingest()
            pub.digest("breaking")
    assert len(store.editions("breaking")) == 3  # all recorded before sending
    assert len(mails(tmp_path, "breaking")) == 2

    # The next run, after the dead run's claims went stale (stale_after 1m):
    # the rest, each once, and no second edition of any article.
    outcome = run(cfg, store, AT_1002 + timedelta(minutes=5))["alert breaking"]
    assert outcome.summary() == "alert breaking: 0 new, 4 delivered"
    sent = mails(tmp_path, "breaking")
    counts = Counter((m["To"].addresses[0].addr_spec, m["Subject"]) for m in sent)
    assert counts == Counter({(a, f"عاجل: {t}"): 1 for a in ALERTED for t in titles})
    assert len(store.editions("breaking")) == 3
    assert run(cfg, store, AT_1002 + timedelta(minutes=15))["alert breaking"].summary() == (
        "alert breaking: 0 new, 0 delivered"
    )


def test_the_service_alerts_after_each_ingest(tmp_path: Path, store: SqlStore) -> None:
    cfg = make_cfg(tmp_path)
    publish(tmp_path, record("quake", "هزة أرضية في ريف حماة", AT_1002 - timedelta(minutes=1)))
    with make_publisher(cfg, now=AT_1002, store=store) as pub:
        jobs = {job.name: job for job in pub.service_jobs(lambda: AT_1002)}
        # no job of its own: an alert has no schedule, the mail job (on the
        # delivery worker) alerts what each tick ingested
        assert list(jobs) == ["publish", "mail", "digest-daily"]
        assert jobs["mail"].worker == "delivery"
        jobs["mail"].run()
    assert by_reader(mails(tmp_path, "breaking")) == {
        address: ["عاجل: هزة أرضية في ريف حماة"] for address in ALERTED
    }
    runs = {r.job: r for r in store.last_runs()}
    assert runs["alert breaking"].status == "ok"


def test_status_and_the_deliveries_listing_know_the_alert(tmp_path: Path, store: SqlStore) -> None:
    cfg = make_cfg(tmp_path)
    publish(tmp_path, record("quake", "هزة أرضية في ريف حماة", AT_1002 - timedelta(minutes=1)))
    run(cfg, store, AT_1002)
    pub: Publisher
    with make_publisher(cfg, now=AT_1002, store=store) as pub:
        status = pub.status()
        assert "digest breaking" not in status.next_runs  # no schedule of its own
        (breaking,) = [d for d in status.digests if d.digest == "breaking"]
        assert breaking.deliveries["sent"] == 2
        (listed,) = [d for d in pub.deliveries() if d.digest == "breaking"]
        assert listed.counts["sent"] == 2


# --- the web pages: offered like the other digests ---------------------------------


def http(port: int, method: str, path: str, form: list[tuple[str, str]] | None = None) -> str:
    import http.client
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        conn.request(method, path, urlencode(form) if form is not None else None, headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8")
        assert response.status == 200, (response.status, text)
        return text
    finally:
        conn.close()


def link_in(message: EmailMessage, pattern: str) -> str:
    """The path of the one link matching ``pattern`` in the text part."""
    from urllib.parse import urlsplit

    part = message.get_body(("plain",))
    assert part is not None
    (found,) = set(re.findall(pattern, str(part.get_content())))
    return urlsplit(found).path


def test_a_reader_chooses_the_alert_on_their_page_and_leaves_it_in_one_click(
    tmp_path: Path, store: SqlStore
) -> None:
    from feedpub import web
    from support.web_app import form_token_in, serving

    cfg = make_cfg(tmp_path)
    seven = datetime(2026, 11, 30, 7, 5, tzinfo=DAMASCUS)
    budget = record("budget", "الحكومة تناقش الموازنة", seven - timedelta(hours=2), ("اقتصاد",))
    publish(tmp_path, budget)
    run(cfg, store, seven)
    # Huda and Omar listed no digests: they get the daily digest, not the alerts.
    (daily,) = [m for m in mails(tmp_path, "daily") if "huda@" in str(m["To"])]
    preferences = link_in(daily, r"https://news\.example\.org/preferences/\S+")
    (omars,) = [m for m in mails(tmp_path, "daily") if "omar@" in str(m["To"])]
    omar_leaves = link_in(omars, r"https://news\.example\.org/unsubscribe/daily/\S+")

    with make_publisher(cfg, now=seven, store=store) as pub:
        site = web.site_info(cfg)
        subscriptions = pub.subscriptions()
        app = web.make_wsgi_app(
            cfg.feeds.output, subscriptions, SECRET.encode(), site, lambda: seven
        )
        with serving(app) as port:
            signup = http(port, "GET", "/subscribe")
            # offered, not ticked for a newcomer: alerts are mail at any hour
            assert 'name="digest" value="breaking">' in signup
            assert 'name="digest" value="daily" checked' in signup
            page = http(port, "GET", preferences)
            assert 'value="daily" checked' in page and 'value="breaking">' in page
            # Leaving the one digest he got never leaves him on the alert.
            http(port, "POST", omar_leaves, [("List-Unsubscribe", "One-Click")])
            # the form as the page gives it: its token comes with it
            chosen = [("csrf", form_token_in(page)), ("digest", "daily"), ("digest", "breaking")]
            assert 'value="breaking" checked' in http(port, "POST", preferences, chosen)

            publish(tmp_path, budget, record("quake", "هزة أرضية في ريف حماة", AT_1002))
            run(cfg, store, AT_1002)
            (alert,) = [m for m in mails(tmp_path, "breaking") if "huda@" in str(m["To"])]
            assert alert["Subject"] == "عاجل: هزة أرضية في ريف حماة"
            leave = link_in(alert, r"https://news\.example\.org/unsubscribe/breaking/\S+")
            http(port, "POST", leave, [("List-Unsubscribe", "One-Click")])
            assert 'value="breaking">' in http(port, "GET", preferences)

    later = AT_1002 + timedelta(hours=1)
    publish(tmp_path, budget, record("fire", "حريق في سوق الحميدية", later))
    run(cfg, store, later)
    huda = [m["Subject"] for m in mails(tmp_path, "breaking") if "huda@" in str(m["To"])]
    assert huda == ["عاجل: هزة أرضية في ريف حماة"]  # the second alert did not come
    subscriber = store.get_subscriber("huda@example.org")
    assert subscriber is not None and subscriber.digests == ("daily",)
    omar = store.get_subscriber("omar@example.org")
    assert omar is not None and omar.status == "unsubscribed"
    assert not [m for m in mails(tmp_path, "breaking") if "omar@" in str(m["To"])]


def test_a_run_killed_mid_alerts_is_finished_by_the_next_repeating_at_most_one_per_connection(
    tmp_path: Path,
) -> None:
    import time

    from support.delivery_site import Slow, cli, finish
    from support.smtp_relay import smtp_server

    handler = Slow(0.01)
    titles = [f"خبر عاجل رقم {i}" for i in range(3)]
    publish(
        tmp_path,
        *(record(f"b{i}", t, AT_1002 - timedelta(minutes=5 - i)) for i, t in enumerate(titles)),
    )
    with smtp_server(handler) as port:
        cfg = make_cfg(tmp_path, batch=5, smtp_port=port, readers=60)
        first = cli(cfg.path, "run", now=AT_1002.isoformat())
        deadline = time.monotonic() + 60
        while len(handler.delivered) < 30 and time.monotonic() < deadline:
            assert first.poll() is None, finish(first)
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        finish(first)
        total = len(titles) * (len(ALERTED) + 60)
        assert 30 <= len(handler.delivered) < total
        # Two minutes on: the dead run's claims (stale_after 1m) are taken over.
        later = (AT_1002 + timedelta(minutes=2)).isoformat()
        code, out, err = finish(cli(cfg.path, "-v", "run", now=later))
    assert code == 0, err
    assert "alert breaking: 0 new" in err + out  # recorded before sending: none made again
    received = Counter()
    for _, recipients, content in handler.delivered:
        subject = message_from_bytes(content, policy=policy.default)["Subject"]
        received.update((address, subject) for address in recipients)
    readers = [*ALERTED, *(f"reader{i}@example.org" for i in range(60))]
    assert set(received) == {(a, f"عاجل: {t}") for a in readers for t in titles}
    # Each of the 2 connections may have had one message accepted, not recorded.
    assert sum(received.values()) - total <= 2, received.most_common(3)


def test_a_preview_renders_the_newest_breaking_article_and_sends_nothing(
    tmp_path: Path, store: SqlStore
) -> None:
    cfg = make_cfg(tmp_path)
    publish(tmp_path, record("quake", "هزة أرضية في ريف حماة", AT_1002 - timedelta(days=2)))
    with make_publisher(cfg, now=AT_1002 - timedelta(days=2), store=store) as pub:
        pub.ingest()
    with make_publisher(cfg, now=AT_1002, store=store) as pub:
        html, text = pub.preview("breaking")
    assert "هزة أرضية في ريف حماة" in html and "هزة أرضية في ريف حماة" in text
    assert store.editions("breaking") == [] and mails(tmp_path, "breaking") == []
