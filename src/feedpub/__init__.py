"""feedpub: publishes an Arabic news site as feeds and right-to-left email digests.

The pipeline, data flowing one way::

    sources -> ingest -> store (SQL)
    store -> select -> feeds (feedgen) -> publish (atomic files) -> public/
    store -> select -> digest (jinja2 + premailer) -> deliver (outbox | SMTP)
    scheduler and CLI on top; ``pipeline`` is the one place that wires stages.

The layering rule: a module imports feedpub modules of a *lower* layer only
(never its own layer, never a higher one). ``tests/test_layers.py`` walks
every import and enforces ``LAYERS`` below; a new module must be added here.

Each third-party library with a swappable role sits behind exactly one module:
feedgen in ``feeds``, premailer in ``inline``, apscheduler in ``scheduler``,
SQLAlchemy in ``store``, nh3 in ``sanitize``.

``datetime.now()`` is called only in ``cli`` (the top); every other stage is
handed the time, so builds are deterministic and tests use a fixed clock.
"""

LAYERS: dict[str, int] = {
    # 0: plain values
    "model": 0,
    # 1: leaf helpers, each wrapping at most one library
    "textutil": 1,
    "sanitize": 1,
    "scheduler": 1,
    "inline": 1,
    "rtl": 1,
    "templating": 1,
    "jsonfeed": 1,
    # 2: configuration (validates cron strings through ``scheduler``)
    "config": 2,
    # 3: storage and message packaging
    "store": 3,
    "message": 3,
    "publish": 3,
    "websub": 3,
    # select is read by the stages feeds and digest, so it sits under them
    "select": 3,
    # 4: stages
    "ingest": 4,
    "feeds": 4,
    "digest": 4,
    "deliver": 4,
    # 5: the composition root
    "pipeline": 5,
    # 6: entry points (the only callers of datetime.now())
    "cli": 6,
    "__main__": 7,
}

__version__ = "0.1.0"
