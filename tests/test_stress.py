"""A few trials of the crash-safety stress command (bench/stress.py), on SQLite.

The command kills ingest, build, run and digest processes with SIGKILL at
random moments and checks public/, the store and the outbox afterwards; this
test fails when any trial does. bench/STRESS.md shows how to run 200 or more.
FEEDPUB_STRESS_TRIALS sets the number of trials here (default 4; .ci/run runs 3).
A plain `pytest` leaves this test out (marker `stress`); `.ci/run` runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.stress

BENCH = Path(__file__).resolve().parent.parent / "bench" / "stress.py"


def test_killed_commands_leave_consistent_output(tmp_path: Path) -> None:
    trials = int(os.environ.get("FEEDPUB_STRESS_TRIALS", "4"))
    results = tmp_path / "results.json"
    argv = [sys.executable, str(BENCH), "--trials", str(trials), "--seed", "7"]
    argv += ["--workers", "2", "--articles", "200", "--tags", "40", "--budget", "600"]
    done = subprocess.run(
        [*argv, "--results", str(results)], capture_output=True, text=True, timeout=900
    )
    report = done.stdout + done.stderr
    summary = json.loads(results.read_text(encoding="utf-8"))
    assert summary["trials"] == trials, report
    assert summary["failed"] == 0, report
    assert not summary["errors"], report
    assert done.returncode == 0, report
