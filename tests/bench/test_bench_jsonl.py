"""bench/jsonl_stream.py still works: a small export through both modes.
Correctness only; no timing or memory is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "jsonl_stream.py"


def test_the_jsonl_bench_stores_every_record_in_both_modes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--records", "300", "--repeat", "1", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["records"] == 300
    assert {mode: m["stored"] for mode, m in result["median"].items()} == {
        "stream": 300,
        "whole": 300,
    }
    assert "| stream (now) |" in done.stdout
    assert list(tmp_path.iterdir()) == []  # the export and stores are cleaned up
