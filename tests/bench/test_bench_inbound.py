"""The inbound benchmark still works: a small Maildir processed by feedpub
and parsed by the bare loop. Correctness only (``main`` checks every message
was read and moved); no timing is asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "inbound.py"


def load_bench() -> ModuleType:
    # By path: "inbound" as a top-level name is tests/inbound here.
    spec = importlib.util.spec_from_file_location("bench_inbound", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_inbound_bench_runs_small(tmp_path: Path) -> None:
    results = load_bench().main(["--messages", "90", "--repeat", "1", "--work", str(tmp_path)])
    assert results["messages"] == 90
    assert results["feedpub"]["per_second"] > 0 and results["bare_parse"]["per_second"] > 0
    assert results["ratio_to_bare"] > 0
    assert list(tmp_path.iterdir()) == []  # the work folder is cleaned up
