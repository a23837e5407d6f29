"""The web benchmark still works: both hosts under wrk for a second each
(skipped without Debian's wrk), and wrk's report read right. Correctness
only; no timing is asserted."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "web.py"

# The report of wrk 4.1 (Debian bookworm) with --latency, as it prints it.
WRK_REPORT = """\
Running 1s test @ http://127.0.0.1:40000/atom.xml
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.21ms    1.03ms  20.11ms   90.00%
    Req/Sec     5.90k   400.00     6.50k    70.00%
  Latency Distribution
     50%    3.98ms
     75%  812.00us
     90%    5.10ms
     99%    1.20s
  11800 requests in 1.00s, 230.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  11790.12
Transfer/sec:    229.80MB
"""


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_web", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_wrk_report_is_read_with_its_units() -> None:
    parsed = load_bench().parse_wrk(WRK_REPORT)
    assert parsed == {
        "p50_ms": 3.98,
        "p99_ms": 1200.0,
        "requests_per_s": 11790.12,
        "requests": 11800.0,
        "socket_errors": 5.0,
        "non_2xx": 7.0,
    }


@pytest.mark.skipif(shutil.which("wrk") is None, reason="Debian's wrk is missing")
def test_web_bench_runs_small(tmp_path: Path) -> None:
    out = tmp_path / "web.json"
    results = load_bench().main(["--duration", "1", "--repeat", "1", "--out", str(out)])
    for host in ("wsgiref", "waitress"):
        assert results["medians"][host]["requests"] > 0
        assert results["medians"][host]["non_2xx"] == 0
    assert out.is_file()
