"""The delivery benchmark still works: a few subscribers into the outbox and
over SMTP to the aiosmtpd sink. Correctness only (``main`` checks every
message parses with both parts and its own link); no timing is asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from conftest import _postgres_problem

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench(name: str = "delivery") -> ModuleType:
    # By path: "delivery" as a top-level name is tests/delivery here.
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_delivery_bench_runs_small(tmp_path: Path) -> None:
    bench = load_bench()
    results = bench.main(
        ["--subscribers", "40", "--repeat", "1", "--smtp", "15", "--work", str(tmp_path)]
    )
    assert results["outbox"]["messages"] == 40
    assert results["smtp"]["messages"] == 15
    assert results["bare_smtplib"]["messages"] == 15
    assert results["smtp_ratio_to_bare"] > 0
    assert list(tmp_path.iterdir()) == []  # the work folder is cleaned up


def test_connections_curve_runs_small(tmp_path: Path) -> None:
    """The curve of issue 24 at a toy size: a sink process answering after
    5 ms and one answering at once, 3 connections; every reader got one
    message (``main`` checks the sink's count)."""
    bench = load_bench()
    results = bench.main(
        ["--latency", "5", "--connections", "3", "--messages", "12", "--repeat", "1",
         "--work", str(tmp_path)]
    )  # fmt: skip
    (row,) = results["curve"]
    assert (row["connections"], row["messages"]) == (3, 12)
    assert row["msg_per_s"] > 0 and row["zero_latency_msg_per_s"] > 0
    assert row["ideal_msg_per_s"] == 600.0
    assert isinstance(row["target_met"], bool)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_several_senders_bench_runs_small(tmp_path: Path) -> None:
    """bench/senders.py at a toy size: two sender processes on a fresh
    PostgreSQL schema, each to its own sink; every reader exactly once."""
    problem = _postgres_problem()
    if problem is not None:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 unreachable: {problem}")
    senders = load_bench("senders")
    results = senders.main(
        ["--subscribers", "40", "--senders", "2", "--connections", "2", "--latency", "5",
         "--work", str(tmp_path)]
    )  # fmt: skip
    assert (results["missed"], results["second_copies"]) == (0, 0)
    assert sum(results["shares"]) == 40
    assert list(tmp_path.iterdir()) == []
