"""Delivery throughput: personalised messages per second into the outbox,
and over SMTP as a ratio to a bare smtplib loop sending the same messages.

    .venv/bin/python bench/delivery.py --subscribers 100000 --repeat 3
    .venv/bin/python bench/delivery.py --subscribers 100000 --smtp 10000

Each round, in a fresh folder: a SQLite store with the shipped sample
articles and N active subscribers (bulk-inserted, untimed), then the timed
part is ``Publisher.digest("daily")`` in this process: plan, render and
inline (once per variant), record, enqueue N deliveries, claim, compose,
write or send, mark. Wall s (perf_counter) and CPU s (process_time: user +
system of this process; the SMTP sink runs in its own process) are of that
call alone. The clock is pinned (an hour after the 07:00 slot of
2026-11-29, Damascus), so every round plans the same edition.

SMTP: an aiosmtpd sink (``aiosmtpd.handlers.Sink``) in a child process on
127.0.0.1; feedpub sends M messages to it, then a bare loop sends the very
messages feedpub wrote into an outbox (read back, CRLF line ends) over one
``smtplib.SMTP`` connection with ``sendmail``. The ratio is feedpub's
messages/s over the bare loop's; the two are timed in the same round,
alternating, so a busy machine slows both alike.

``tests/test_bench_delivery.py`` runs ``main`` at a tiny size (correctness
only: every message parses, every recipient once).
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

from feedpub.app import make_publisher
from feedpub.config import Config, load_config
from feedpub.store import SqlStore

REPO = Path(__file__).resolve().parents[1]
DAMASCUS = ZoneInfo("Asia/Damascus")
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=DAMASCUS)  # an hour after the 07:00 slot
HOST = "127.0.0.1"
SINK = "aiosmtpd.handlers.Sink"
CHECKED = 2_000  # outbox messages parsed back and checked in round 1
SECRET = "bench-delivery-secret-0123456789abcdef"


def config_text(store_url: str, backend: str, port: int, outbox: Path) -> str:
    return f"""\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
  timezone: Asia/Damascus
store:
  url: "{store_url}"
sources:
  - path: {REPO}/samples/pages
  - path: {REPO}/samples/records
feeds:
  output: public
digests:
  - name: daily
    title: "النشرة اليومية"
    schedule: "0 7 * * *"
    subject: "{{{{ site_title }}}}: {{{{ date }}}}"
    from: "أخبار الشام <news@news.example.org>"
    reply_to: "editor@news.example.org"
    first_lookback: 52w
delivery:
  backend: {backend}
  outbox: {outbox}
  batch: 500
  smtp:
    host: {HOST}
    port: {port}
    security: none
    timeout: 30
"""


@dataclass(frozen=True)
class Sample:
    messages: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.wall if self.wall else 0.0


def prepare(folder: Path, subscribers: int, backend: str, port: int = 25) -> Config:
    """A fresh store in ``folder`` with the sample articles and the readers."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    url = f"sqlite:///{folder / 'feedpub.db'}"
    path.write_text(config_text(url, backend, port, folder / "outbox"), encoding="utf-8")
    cfg = load_config(path)
    with SqlStore.open(url) as store:
        store.add_subscribers(
            [(f"reader{i}@example.org", f"قارئ {i}") for i in range(subscribers)],
            NOW - timedelta(days=1),
        )
        with make_publisher(cfg, now=NOW, store=store) as pub:
            pub.ingest()
    return cfg


@contextmanager
def signing_secret() -> Iterator[None]:
    """$FEEDPUB_SECRET set for the run, as it was afterwards (the smoke test
    runs in pytest's process)."""
    before = os.environ.get("FEEDPUB_SECRET")
    os.environ["FEEDPUB_SECRET"] = SECRET
    try:
        yield
    finally:
        if before is None:
            del os.environ["FEEDPUB_SECRET"]
        else:
            os.environ["FEEDPUB_SECRET"] = before


def timed_digest(cfg: Config) -> Sample:
    with (
        signing_secret(),
        SqlStore.open(cfg.store.url) as store,
        make_publisher(cfg, now=NOW, store=store) as pub,
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = pub.digest("daily")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if outcome.failed or outcome.deferred:
        raise AssertionError(f"{outcome.failed} failed, {outcome.deferred} deferred")
    return Sample(len(outcome.delivered), wall, cpu)


def outbox_messages(folder: Path, limit: int | None = None) -> list[tuple[str, list[str], bytes]]:
    """The outbox's messages as (from, [to], CRLF bytes), in name order (the
    first ``limit`` of them)."""
    found = []
    for path in sorted((folder / "outbox" / "new").iterdir())[:limit]:
        data = path.read_bytes()
        message = message_from_bytes(data, policy=policy.default)
        to = message["To"].addresses[0].addr_spec
        sender = message["From"].addresses[0].addr_spec
        found.append((sender, [to], data.replace(b"\n", b"\r\n")))
    return found


def check_messages(messages: list[tuple[str, list[str], bytes]], subscribers: int) -> None:
    """Every reader once, each message whole: both parts, own token."""
    seen = set()
    for _, (to,), data in messages:
        message = message_from_bytes(data, policy=policy.default)
        text, html = message.get_body(("plain",)), message.get_body(("html",))
        if text is None or html is None:
            raise AssertionError(f"{to}: a part is missing")
        unsubscribe = str(message["List-Unsubscribe"])
        if "/unsubscribe/daily/" not in unsubscribe or unsubscribe.split("/")[-1] in seen:
            raise AssertionError(f"{to}: List-Unsubscribe {unsubscribe!r}")
        seen.add(unsubscribe.split("/")[-1])
        if message["Message-ID"] is None or message["List-Unsubscribe-Post"] is None:
            raise AssertionError(f"{to}: Message-ID or List-Unsubscribe-Post missing")
    if len(seen) != subscribers:
        raise AssertionError(f"{len(seen)} distinct recipients, expected {subscribers}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_sink() -> Iterator[int]:
    """aiosmtpd's Sink in a child process: accepts and discards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{port}", "-c", SINK],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the aiosmtpd sink did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bare_loop(port: int, messages: list[tuple[str, list[str], bytes]]) -> Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    with smtplib.SMTP(HOST, port, timeout=30) as conn:
        for sender, to, data in messages:
            conn.sendmail(sender, to, data)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Sample(len(messages), wall, cpu)


def median(samples: list[Sample]) -> dict[str, float]:
    return {
        "messages": samples[0].messages,
        "wall_s": statistics.median(s.wall for s in samples),
        "cpu_s": statistics.median(s.cpu for s in samples),
        "msg_per_s": statistics.median(s.rate for s in samples),
        "msg_per_cpu_s": statistics.median(s.messages / s.cpu for s in samples if s.cpu),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smtp", type=int, default=0, help="also send this many over SMTP")
    parser.add_argument("--work", type=Path, default=None, help="folder (default: a temp one)")
    args = parser.parse_args(argv)
    results: dict[str, object] = {"subscribers": args.subscribers, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        root = Path(work)
        outbox: list[Sample] = []
        feedpub_smtp: list[Sample] = []
        bare: list[Sample] = []
        for round_ in range(args.repeat):
            folder = root / f"outbox-{round_}"
            cfg = prepare(folder, args.subscribers, "outbox")
            outbox.append(timed_digest(cfg))
            if round_ == 0:
                # Parsing every message back costs more than writing it: all
                # are counted, CHECKED of them parsed and checked whole.
                count = len(list((folder / "outbox" / "new").iterdir()))
                if count != args.subscribers:
                    raise AssertionError(f"{count} messages, expected {args.subscribers}")
                checked = min(CHECKED, args.subscribers)
                check_messages(outbox_messages(folder, checked), checked)
            print(f"outbox round {round_ + 1}: {outbox[-1]}", file=sys.stderr)
        results["outbox"] = median(outbox)
        if args.smtp:
            with smtp_sink() as port:
                for round_ in range(args.repeat):
                    folder = root / f"smtp-{round_}"
                    source = root / f"smtp-source-{round_}"
                    prepare(source, args.smtp, "outbox")
                    timed_digest(load_config(source / "config.yaml"))
                    messages = outbox_messages(source)
                    check_messages(messages, args.smtp)
                    bare.append(bare_loop(port, messages))
                    feedpub_smtp.append(timed_digest(prepare(folder, args.smtp, "smtp", port)))
                    print(
                        f"smtp round {round_ + 1}: {feedpub_smtp[-1]} bare {bare[-1]}",
                        file=sys.stderr,
                    )
            results["smtp"] = median(feedpub_smtp)
            results["bare_smtplib"] = median(bare)
            results["smtp_ratio_to_bare"] = statistics.median(
                f.rate / b.rate for f, b in zip(feedpub_smtp, bare, strict=True)
            )
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
