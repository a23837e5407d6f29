"""``feedpub build`` timed inside one process, its imports apart: the
modules a build loads are imported first (untimed), then the command runs
through ``feedpub.cli.main`` exactly as from the shell, timed alone. What
the incremental build costs beyond its imports, which a whole-process
timing cannot tell apart (``feedpub run`` and ``feedpub serve`` pay them
once for every stage).

    .venv/bin/python bench/inprocess.py --config CONFIG
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    # What a build loads, besides the CLI: the composition root and its
    # stages, the store through SQLAlchemy and its SQLite dialect, the feed
    # writers (feedgen, lxml) and the page templates' jinja2.
    import feedgen.feed  # noqa: F401
    import jinja2  # noqa: F401
    import sqlalchemy.dialects.sqlite  # noqa: F401

    import feedpub.app
    import feedpub.feeds.publish
    import feedpub.store.sql  # noqa: F401
    from feedpub import cli

    started = time.perf_counter()
    code = cli.main([*argv, "build"])
    work_s = time.perf_counter() - started
    print(f"work: {round(work_s * 1e6)} us", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
