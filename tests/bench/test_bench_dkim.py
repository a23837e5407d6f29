"""The DKIM benchmark still works: a few messages into the outbox and over
SMTP to the aiosmtpd sink, with and without signing. Correctness only (the
signed outbox messages verify with dkimpy); no timing is asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "signing.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_signing", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_dkim_bench_runs_small(tmp_path: Path) -> None:
    small = ["--messages", "30", "--smtp", "10", "--repeat", "2", "--bits", "1024"]
    results = load_bench().main([*small, "--work", str(tmp_path)])
    assert results["outbox"]["messages"] == 30
    assert results["smtp"]["messages"] == 10
    assert results["outbox"]["ratio"] > 0 and results["smtp"]["ratio"] > 0
    assert list(tmp_path.iterdir()) == []  # the work folder is cleaned up
