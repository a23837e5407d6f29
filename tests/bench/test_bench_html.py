"""``bench/html_extract.py`` runs, small: every scenario reads every page
(correctness only; the timings of a run this small mean nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "html_extract.py"
CORPUS = ROOT / "tests" / "fixtures" / "html"


def rejects_among_first(count: int) -> int:
    """How many of the pages the bench copies first are not articles."""
    pages = sorted(CORPUS.glob("*/*.html"))[:count]
    return sum(
        "reject" in json.loads((p.parent / f"{p.stem}.expected.json").read_text("utf-8"))
        for p in pages
    )


def test_the_html_extraction_bench_runs_every_scenario_on_every_page(tmp_path: Path) -> None:
    samples = tmp_path / "samples.json"
    small = ["--pages", "12", "--repeat", "1", "--work", str(tmp_path), "--json", str(samples)]
    done = subprocess.run(
        [sys.executable, str(BENCH), *small],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| bare |" in done.stdout and "| ingest-2 |" in done.stdout
    assert "x bare (goal >= 0.8)" in done.stdout
    recorded = json.loads(samples.read_text())["samples"]
    assert [s["scenario"] for s in recorded] == ["bare", "read-1", "ingest-2"]
    assert all(s["articles"] + s["rejects"] == 12 for s in recorded)
    assert [s["rejects"] for s in recorded][1:] == [rejects_among_first(12)] * 2
