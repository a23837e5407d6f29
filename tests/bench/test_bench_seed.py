"""The seed benchmark still works: a small seed file applied, applied again
unchanged, imported again and read bare. Correctness only (``main`` checks
each step's outcome); no timing is asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "seed.py"


def test_seed_bench_runs_small(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_seed", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)

    results = module.main(["--rows", "200", "--repeat", "1", "--work", str(tmp_path)])

    assert (results["rows"], results["bad_rows"]) == (200, 10)
    assert set(results["seconds"]) == {"first", "unchanged", "import_again", "bare_read"}
    assert list(tmp_path.iterdir()) == []  # the scratch folder is cleaned up
