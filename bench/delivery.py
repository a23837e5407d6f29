"""Delivery throughput: personalised messages per second into the outbox,
over SMTP as a ratio to a bare smtplib loop sending the same messages, and
over N connections at once to a relay that takes its time (issue 24).

    .venv/bin/python bench/delivery.py --subscribers 100000 --repeat 3
    .venv/bin/python bench/delivery.py --subscribers 100000 --smtp 10000
    .venv/bin/python bench/delivery.py --latency 50 --repeat 3
    .venv/bin/python bench/delivery.py --latency 50 --connections 16 --messages 100000 --repeat 1

Connections (``--latency MS``, with ``--connections N[,N...]``, default the
curve 1,2,4,8,16,32,64): ``bench/smtp_sink.py`` in its own process answers
each message after MS milliseconds. For each N, rounds of: a copy of a
prepared store (the sample articles, the readers, untimed), the edition
recorded (untimed), then the timed part, ``Editions.deliver`` over the SMTP
backend of ``delivery.backends`` with ``delivery.smtp.connections: N``
(claim, compose, send over N connections, mark). The same rounds against a
sink that answers at once (``--baseline``, on by default) give the rate the
same code reaches when the CPU, not the relay, is the limit. Per N: msg/s
(median), the ideal ``N / latency``, and issue 24's target: at least 0.8 of
the ideal, or at the CPU limit at least 0.8 of the baseline. Every round
checks that the sink got each reader exactly once. Messages per round:
``--messages``, else ``max(200, 40 * N)`` (about two seconds at the ideal).

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

``tests/bench/test_bench_delivery.py`` runs ``main`` at a tiny size (correctness
only: every message parses, every recipient once).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from feedpub.delivery import make_sender
from feedpub.store import SqlStore

REPO = Path(__file__).resolve().parents[1]
DAMASCUS = ZoneInfo("Asia/Damascus")
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=DAMASCUS)  # an hour after the 07:00 slot
HOST = "127.0.0.1"
SINK = "aiosmtpd.handlers.Sink"
CHECKED = 2_000  # outbox messages parsed back and checked in round 1
SECRET = "bench-delivery-secret-0123456789abcdef"
CURVE = (1, 2, 4, 8, 16, 32, 64)
SINK_SCRIPT = Path(__file__).resolve().with_name("smtp_sink.py")


def config_text(store_url: str, backend: str, port: int, outbox: Path, connections: int = 1) -> str:
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
    connections: {connections}
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
    parser.add_argument(
        "--latency", type=float, default=None, help="ms a relay takes per message: the curve"
    )
    parser.add_argument(
        "--connections",
        type=lambda v: [int(n) for n in v.split(",")],
        default=list(CURVE),
        help="connection counts, comma-separated (default 1,2,4,8,16,32,64)",
    )
    parser.add_argument("--messages", type=int, default=None, help="per round of the curve")
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also against a sink that answers at once (the CPU limit)",
    )
    args = parser.parse_args(argv)
    results: dict[str, object] = {"subscribers": args.subscribers, "repeat": args.repeat}
    if args.latency is not None:
        with tempfile.TemporaryDirectory(dir=args.work) as work:
            rows = connections_curve(
                Path(work), args.latency, args.connections, args.repeat, args.messages,
                args.baseline,
            )  # fmt: skip
        print_curve(args.latency, rows)
        curve_results = {"latency_ms": args.latency, "repeat": args.repeat, "curve": rows}
        print(json.dumps(curve_results, indent=2))
        return curve_results
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


# --- many connections to a relay that takes its time ----------------------------


@contextmanager
def latency_sink(latency_ms: float, count: Path) -> Iterator[int]:
    """``smtp_sink.py`` in a child process; what it received is in ``count``
    once the block ends."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SINK_SCRIPT), "--port", str(port), "--latency", str(latency_ms),
         "--count", str(count)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the latency sink did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def copy_store(template: Path, folder: Path) -> None:
    folder.mkdir(parents=True)
    for path in template.glob("feedpub.db*"):  # the WAL too, if any is left
        shutil.copy2(path, folder / path.name)


def connections_round(
    template: Path, folder: Path, port: int, connections: int, messages: int
) -> Sample:
    """One timed delivery of an edition of ``messages`` over ``connections``."""
    copy_store(template, folder)
    path = folder / "config.yaml"
    url = f"sqlite:///{folder / 'feedpub.db'}"
    path.write_text(
        config_text(url, "smtp", port, folder / "outbox", connections), encoding="utf-8"
    )
    cfg = load_config(path)
    with (
        signing_secret(),
        SqlStore.open(url) as store,
        make_publisher(cfg, now=NOW, store=store) as pub,
    ):
        edition, _ = pub.editions().make(cfg.digest("daily"), NOW)
        if edition is None:
            raise AssertionError("no edition due")
        pub.use_sender(make_sender(cfg.delivery, {}, cfg.path))
        wall, cpu = time.perf_counter(), time.process_time()
        report = pub.editions().deliver(cfg.digest("daily"), edition)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if report.sent != messages or report.failed or report.deferred or report.timed_out:
        raise AssertionError(f"{connections} connections: {report}")
    return Sample(report.sent, wall, cpu)


def check_sink(count: Path, expected: int) -> None:
    received = json.loads(count.read_text(encoding="utf-8"))
    if received["recipients"] != expected or received["most_copies"] != 1:
        raise AssertionError(
            f"the sink got {received['messages']} messages for {received['recipients']} "
            f"readers (most copies {received['most_copies']}), expected {expected} once each"
        )


def connections_curve(
    root: Path,
    latency: float,
    curve: list[int],
    repeat: int,
    messages: int | None,
    baseline: bool,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    templates: dict[int, Path] = {}
    for connections in curve:
        count = messages or max(200, 40 * connections)
        if count not in templates:
            templates[count] = root / f"template-{count}"
            prepare(templates[count], count, "outbox")
        slow: list[Sample] = []
        fast: list[Sample] = []
        for round_ in range(repeat):  # interleaved: a busy moment slows both alike
            for latency_ms, samples in ((latency, slow), (0.0, fast)):
                if samples is fast and not baseline:
                    continue
                tag = f"{connections}-{latency_ms:g}-{round_}"
                counted = root / f"sink-{tag}.json"
                with latency_sink(latency_ms, counted) as port:
                    samples.append(
                        connections_round(templates[count], root / tag, port, connections, count)
                    )
                check_sink(counted, count)
                shutil.rmtree(root / tag)
                print(
                    f"{connections} connections, {latency_ms:g} ms: {samples[-1]}", file=sys.stderr
                )
        rate = statistics.median(s.rate for s in slow)
        ideal = connections * 1000 / latency if latency else None
        row: dict[str, object] = {
            "connections": connections,
            "messages": count,
            "msg_per_s": rate,
            "cpu_s_per_1000": 1000 * statistics.median(s.cpu / s.messages for s in slow),
            "ideal_msg_per_s": ideal,
            "of_ideal": rate / ideal if ideal else None,
        }
        met = bool(ideal) and rate >= 0.8 * (ideal or 0)
        if fast:
            zero = statistics.median(s.rate for s in fast)
            row["zero_latency_msg_per_s"] = zero
            row["of_zero_latency"] = rate / zero
            met = met or rate >= 0.8 * zero
        row["target_met"] = met
        rows.append(row)
    return rows


def print_curve(latency: float, rows: list[dict[str, object]]) -> None:
    print(f"latency {latency:g} ms", file=sys.stderr)
    print("connections  msg/s  ideal  of ideal  zero-latency  of zero  target", file=sys.stderr)
    for row in rows:
        ideal = row["ideal_msg_per_s"]
        zero = row.get("zero_latency_msg_per_s")
        print(
            f"{row['connections']:>11}  {row['msg_per_s']:5.0f}  "
            f"{ideal if ideal is None else format(ideal, '5.0f'):>5}  "
            f"{row['of_ideal'] if row['of_ideal'] is None else format(row['of_ideal'], '.2f'):>8}  "
            f"{'-' if zero is None else format(zero, '12.0f'):>12}  "
            f"{'-' if zero is None else format(row['of_zero_latency'], '.2f'):>7}  "
            f"{'met' if row['target_met'] else 'MISSED'}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
