"""Several sender processes on one edition (issue 24): N processes that only
claim and send (what ``feedpub deliver daily`` is), on one PostgreSQL store,
each over its own connections to its own sink (``smtp_sink.py``, answering
after ``--latency`` ms); optionally one of them SIGKILLed part-way.

    .venv/bin/python bench/senders.py --subscribers 1000000 --senders 4 --latency 50
    .venv/bin/python bench/senders.py --subscribers 200000 --senders 4 --kill-after 60

Untimed: a fresh schema on the store (``--store-url``, default the test
server's), the readers (bulk), the sample articles, and the edition recorded
with its deliveries (the leader's part). Timed: from starting the senders to
the last one exiting. Each stays until no claim of the edition is held
(``until_finished``), so the killed one's claims are taken over once stale
(``--stale-after``, 20 s here instead of the shipped 15 min; a message's
deadline ``delivery.smtp.timeout`` is 5 s). Reported: the
edition's total time and rate, each sender's share, every reader exactly
once across the sinks (and, with a kill, the copies: at most one per
connection of the killed sender).

``tests/bench/test_bench_delivery.py`` runs it at a toy size when PostgreSQL is there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

from feedpub import delivery
from feedpub.app import make_publisher
from feedpub.config import load_config
from feedpub.store import SqlStore

BENCH = Path(__file__).resolve().parent


def _bench_delivery() -> ModuleType:
    # By path, under a name of its own: "delivery" is tests/delivery in pytest.
    name = "bench_delivery"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH / "delivery.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


_bench = _bench_delivery()
NOW, SECRET = _bench.NOW, _bench.SECRET
config_text, latency_sink, signing_secret = (
    _bench.config_text,
    _bench.latency_sink,
    _bench.signing_secret,
)

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A schema of its own on the server, dropped afterwards."""
    import psycopg  # the bench's own setup, beside the store's driver use

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def write_config(folder: Path, port: int, connections: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    text = config_text("sqlite:///unused.db", "smtp", port, folder / "outbox", connections)
    # A message's deadline well inside the short leases of the kill scenario.
    path.write_text(text.replace("timeout: 30", "timeout: 5"), encoding="utf-8")
    return path


def lead(folder: Path, url: str, subscribers: int) -> None:
    config = write_config(folder / "leader", 25, 1)
    os.environ["FEEDPUB_STORE_URL"] = url
    try:
        cfg = load_config(config)
    finally:
        del os.environ["FEEDPUB_STORE_URL"]
    with signing_secret(), SqlStore.open(url) as store:
        store.add_subscribers(
            [(f"reader{i}@example.org", None) for i in range(subscribers)],
            NOW - timedelta(days=1),
        )
        with make_publisher(cfg, now=NOW, store=store) as pub:
            pub.ingest()
            edition, _ = pub.editions().make(cfg.digest("daily"), NOW)
    if edition is None:
        raise AssertionError("no edition due")


def sender(config: str, stale: float) -> None:
    """One sender process (``--sender``): prints its report as JSON."""
    cfg = load_config(config)
    cfg = replace(cfg, delivery=replace(cfg.delivery, stale_after=timedelta(seconds=stale)))
    epoch = float(os.environ["SENDERS_EPOCH"])

    def clock() -> datetime:  # one epoch for all: their clocks agree, as NTP's would
        return NOW + timedelta(seconds=time.time() - epoch)

    with (
        SqlStore.open(cfg.store.url) as store,
        make_publisher(cfg, now=clock(), store=store) as pub,
    ):
        backend = delivery.make_sender(cfg.delivery, os.environ, cfg.path)
        pub.use_sender(backend)

        def compose_for(edition_id: int, slot: datetime) -> delivery.Compose:
            edition = store.get_edition("daily", slot)
            assert edition is not None
            # The editions' own composer (private: `feedpub deliver` will hand it over).
            return pub.editions().composer(cfg.digest("daily"), edition_id, edition.slot)

        done = delivery.deliver_unfinished(
            store, "daily", compose_for, backend,
            worker=pub.worker, batch=cfg.delivery.batch, stale_after=cfg.delivery.stale_after,
            clock=clock, until_finished=True, poll=1.0,
        )  # fmt: skip
    sent = sum(e.report.sent for e in done)
    print(json.dumps({"worker": pub.worker, "sent": sent}), flush=True)


def start_sender(
    root: Path, n: int, port: int, args: argparse.Namespace, env: dict[str, str]
) -> subprocess.Popen[str]:
    config = write_config(root / f"sender-{n}", port, args.connections)
    command = [sys.executable, __file__, "--sender", str(config)]
    command += ["--stale-after", str(args.stale_after)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def run(args: argparse.Namespace, root: Path) -> dict[str, object]:
    with fresh_schema(args.store_url) as url:
        lead(root, url, args.subscribers)
        with ExitStack() as stack:
            counts = [root / f"sink-{n}.json" for n in range(args.senders)]
            ports = [stack.enter_context(latency_sink(args.latency, c)) for c in counts]
            env = {
                **os.environ,
                "FEEDPUB_STORE_URL": url,
                "FEEDPUB_SECRET": SECRET,
                "SENDERS_EPOCH": repr(time.time()),
            }
            started = time.perf_counter()
            procs = [start_sender(root, n, port, args, env) for n, port in enumerate(ports)]
            if args.kill_after is not None:
                time.sleep(args.kill_after)
                procs[0].send_signal(signal.SIGKILL)
            outputs = [p.communicate()[0] for p in procs]
            wall = time.perf_counter() - started
        received: Counter[str] = Counter()
        for count in counts:
            received.update(json.loads(count.read_text(encoding="utf-8"))["received"])
    shares = []
    for proc, out in zip(procs, outputs, strict=True):
        found = re.search(r"\{.*\}", out)
        shares.append(json.loads(found.group(0))["sent"] if found else None)
        if proc.returncode not in (0, -signal.SIGKILL):
            raise AssertionError(f"a sender exited {proc.returncode}")
    missed = args.subscribers - len(received)
    copies = sum(received.values()) - len(received)
    if missed or (args.kill_after is None and copies):
        raise AssertionError(f"{missed} readers missed, {copies} second copies")
    return {
        "subscribers": args.subscribers,
        "senders": args.senders,
        "connections_each": args.connections,
        "latency_ms": args.latency,
        "wall_s": wall,
        "msg_per_s": args.subscribers / wall,
        "shares": shares,  # messages each sender reported (None: the killed one)
        "killed_after_s": args.kill_after,
        "second_copies": copies,
        "missed": missed,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=200_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16, help="per sender")
    parser.add_argument("--latency", type=float, default=50.0, help="ms per message")
    parser.add_argument("--kill-after", type=float, default=None, help="SIGKILL sender 0 then")
    parser.add_argument("--stale-after", type=float, default=20.0, help="seconds")
    parser.add_argument("--store-url", default=PG_URL)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--sender", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sender is not None:
        sender(args.sender, args.stale_after)
        return {}
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        results = run(args, Path(work))
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
