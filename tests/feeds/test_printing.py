"""Entries printed by worker processes keep the build's crash promises: a
build killed while its workers are alive leaves no process holding its
lock, and the workers end without it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from feedpub import output

TESTS = Path(__file__).resolve().parents[1]

# A build's shape without a store: the build lock taken, workers forked in
# its pool scope to print entries, then the process killed with them alive.
KILLED_BUILD = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from support.feedfactory import POLITICS, SITE, article, feeds_config
from feedpub import output
from feedpub.feeds import printing
from feedpub.feeds.entry import ItemCache
from feedpub.feeds.site import SiteValues
from feedpub.feeds.build import _Renderer
from feedpub.feeds import select

out = Path(sys.argv[1])
site = SiteValues.of(SITE, feeds_config(out))
articles = [article(n, POLITICS) for n in range(30)]
head = _Renderer(site).head(select.tag_spec(POLITICS, articles, SITE.title), 0)
wanted = [(fmt, a, head) for a in articles for fmt in ("atom", "rss", "json")]
printing.MIN_ENTRIES = 1
printing.os.cpu_count = lambda: 2  # workers on any machine
with output.build_lock(out), printing.pool_scope():
    printed = printing.print_entries(site, ItemCache(site), wanted)
    assert len(printed) == len(wanted) and all(printed)
    print(" ".join(str(pid) for pid in printing._scope[0].pids), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # ended, not yet reaped by whoever adopted it


def test_a_build_killed_with_its_printing_workers_alive_leaves_the_lock_free(
    tmp_path: Path,
) -> None:
    out = tmp_path / "public"
    script = tmp_path / "killed_build.py"
    script.write_text(KILLED_BUILD.format(tests=str(TESTS)), encoding="utf-8")
    said = tmp_path / "said.txt"
    # Into a file, not a pipe: waiting for a pipe's end would wait for the workers.
    with said.open("w") as stdout:
        killed = subprocess.Popen([sys.executable, str(script), str(out)], stdout=stdout)
        assert killed.wait(timeout=120) == -signal.SIGKILL
    workers = [int(pid) for pid in said.read_text().split()]
    assert len(workers) >= 2
    with output.build_lock(out):  # at once: no worker holds the lock's file open
        pass
    deadline = time.monotonic() + 20
    try:
        while not all(gone(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(gone(pid) for pid in workers)
    finally:
        for pid in workers:  # none left behind when it fails
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
