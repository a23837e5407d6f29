"""The web app's HTTP host under load: wrk (Debian's) at 50 connections for
20 s on loopback against a static file, through feedpub's host (waitress,
``web.server`` with the ``web:`` defaults) and through the host it replaced
(wsgiref's threading server, listen backlog 5) as the baseline, measured in
the same run, rounds interleaved (A B A B ...), medians reported.

    .venv/bin/python bench/web.py [--duration 20] [--connections 50] [--repeat 3]

Each host runs in a child process of its own (this script with
``--serve``), so the client's work never shares a core's GIL with it. Prints
one markdown table (p50, p99, req/s, socket errors) and writes the samples
to ``bench/measured/web.json``. The target is a p99 under 100 ms at 50
connections. Exits 2 when wrk is missing (Debian's package ``wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOSTS = ("wsgiref", "waitress")  # the baseline first in each round
FILE_BYTES = 20_000  # about a main atom.xml of 20 entries' summaries
RESULTS = Path(__file__).resolve().parent / "measured" / "web.json"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


# --- the hosts (run in a child: ``--serve HOST``) -------------------------------------


def _app(public: Path) -> Any:
    from feedpub.web.pages import SiteInfo, WebApp

    site = SiteInfo("bench", "https://news.example.org")
    return WebApp(public, None, None, site, lambda: datetime.now(UTC))


def _serve_wsgiref(public: Path, port: int) -> None:
    """The host before waitress (web/server.py until issue 22), as it was."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *values: Any) -> None:
            pass

    server = make_server("127.0.0.1", port, _app(public), Server, Quiet)
    server.serve_forever()


def _serve_waitress(public: Path, port: int) -> None:
    from feedpub.web import server

    server.serve_in_background(_app(public), "127.0.0.1", port)
    signal.pause()


def serve(host: str, public: Path, port: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    {"wsgiref": _serve_wsgiref, "waitress": _serve_waitress}[host](public, port)


# --- the client ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(host: str, public: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", host, "--public", str(public), "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return child, port
        except OSError:
            if child.poll() is not None or time.monotonic() > deadline:
                child.kill()
                raise SystemExit(f"bench/web.py: the {host} host did not start") from None
            time.sleep(0.05)


def stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def milliseconds(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(found.group(1)) * UNITS[found.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """p50, p99 (ms), requests/s and errors from ``wrk --latency``'s report."""
    percent = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M))
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    done = re.search(r"^\s+(\d+) requests in", output, re.M)
    if "50" not in percent or "99" not in percent or rate is None or done is None:
        raise ValueError(f"wrk's report not understood:\n{output}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "p50_ms": milliseconds(percent["50"]),
        "p99_ms": milliseconds(percent["99"]),
        "requests_per_s": float(rate.group(1)),
        "requests": float(done.group(1)),
        "socket_errors": float(errors),
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
    }


def measure(wrk: str, port: int, connections: int, duration: int) -> dict[str, float]:
    threads = min(2, connections)  # two cores: the client gets at most both
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    command += [f"--timeout={max(duration, 2)}s", f"http://127.0.0.1:{port}/atom.xml"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench/web.py: wrk failed: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def table(results: dict[str, Any]) -> Iterable[str]:
    yield "| host | p50 ms | p99 ms | req/s | socket errors | non-2xx |"
    yield "| --- | ---: | ---: | ---: | ---: | ---: |"
    for host in HOSTS:
        m = results["medians"][host]
        yield (
            f"| {host} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['requests_per_s']:,.0f} "
            f"| {m['socket_errors']:.0f} | {m['non_2xx']:.0f} |"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per sample")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--serve", choices=HOSTS, help=argparse.SUPPRESS)
    parser.add_argument("--public", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.public, args.port)
        return {}
    wrk = shutil.which("wrk")
    if wrk is None:
        print("bench/web.py: wrk is missing (Debian's package wrk)", file=sys.stderr)
        raise SystemExit(2)
    samples: dict[str, list[dict[str, float]]] = {host: [] for host in HOSTS}
    with tempfile.TemporaryDirectory(prefix="feedpub-bench-web-") as work:
        public = Path(work)
        entry = "<entry><title>خبر</title><summary>" + "ن" * 200 + "</summary></entry>\n"
        body = "<feed xmlns='http://www.w3.org/2005/Atom'>\n" + entry * 200
        (public / "atom.xml").write_bytes(body.encode("utf-8")[:FILE_BYTES])
        for _ in range(args.repeat):
            for host in HOSTS:
                child, port = start(host, public)
                try:
                    samples[host].append(measure(wrk, port, args.connections, args.duration))
                finally:
                    stop(child)
    medians = {
        host: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
        for host, runs in samples.items()
    }
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "connections": args.connections,
        "duration_s": args.duration,
        "repeat": args.repeat,
        "file_bytes": FILE_BYTES,
        "samples": samples,
        "medians": medians,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("\n".join(table(results)))
    return results


if __name__ == "__main__":
    main()
