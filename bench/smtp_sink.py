"""An SMTP sink for the delivery benchmarks, run in its own process: accepts
every message after waiting ``--latency`` milliseconds (a relay's answer
time: the reply to each message's data; the other commands answer at once),
and on SIGTERM writes what it received to ``--count`` as JSON: messages,
distinct recipients, the most copies of one, the recipients.

    python bench/smtp_sink.py --port 2525 --latency 50 --count sink.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class LatencySink:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.latency:
            await asyncio.sleep(self.latency)
        with self.lock:
            self.received.update(envelope.rcpt_tos)
        return "250 2.0.0 OK"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="milliseconds")
    parser.add_argument("--count", type=Path, required=True)
    args = parser.parse_args(argv)
    sink = LatencySink(args.latency / 1000)
    controller = Controller(sink, hostname=args.host, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    controller.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        controller.stop()
        with sink.lock:
            received = dict(sink.received)
        report = {
            "messages": sum(received.values()),
            "recipients": len(received),
            "most_copies": max(received.values(), default=0),
            "received": received,
        }
        args.count.write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    main()
