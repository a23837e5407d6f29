"""feedpub: publishes an Arabic news site as feeds and right-to-left email digests.

The pipeline, each stage a folder, data flowing one way::

    sources (scraped pages, records) -> ingest/ -> store/ (SQL, migrations)
    store -> feeds/ (select, entry model, one writer per format, article pages) -> output -> public/
    store -> digests/ (plan, render, inline) -> delivery/ (outbox | SMTP) -> recipients
    recipients -> inbound/ (bounces, complaints, mailto unsubscribes) -> subscribers -> store
    app.py wires the stages; cli.py, service.py (APScheduler) and web/ go through it

The rules, enforced by ``tests/test_layers.py`` (which walks every import):

- Layers. A module imports feedpub code of a *lower* layer (``LAYERS``
  below) or of its own package, never a higher layer and never a sibling
  unit of the same layer: so ``feeds`` and ``digests`` never import each
  other, and no stage imports ``app``; what both need sits lower (``links``:
  where an article is read, its URL or its page). A new top-level module or
  package must be added to ``LAYERS``.
- Entry points. ``cli``, ``service`` and ``web`` reach the stages through
  ``app`` only (they may also read ``config``, ``model``, ``cron``, ``text``).
- One module per third-party library with a swappable role (``WRAPPED`` in
  the test): feedgen only in ``feeds.atom`` and ``feeds.rss``, premailer only
  in ``digests.inline``, APScheduler only in ``service``, cronsim only in
  ``cron``, SQLAlchemy only in ``store``, nh3 only in ``text.sanitize``,
  Babel only in ``text.rtl``, flufl.bounce only in ``inbound.formats``.
  Swapping a library touches one file.
- The clock. ``datetime.now()`` is called only by the entry points (``cli``,
  ``service``, ``web``); every stage is handed the time, so runs are
  deterministic and tests use a fixed clock.
- Narrow inputs. Each stage takes its own config section (or a few plain
  values), never the whole ``Config``; only ``app`` sees all of it.

See ``docs/architecture.md`` for where each kind of change goes.
"""

LAYERS: dict[str, int] = {
    # 0: plain values
    "model": 0,
    # secrets from the environment or systemd credentials (the stdlib only):
    # below tokens, config and delivery, which all read secrets through it
    "credentials": 0,
    # 1: leaf helpers, each wrapping at most one library
    "text": 1,
    "templating": 1,
    "cron": 1,
    "tokens": 1,
    "roster": 1,
    # 2: configuration and the output folder (atomic writes, locks)
    "config": 2,
    "output": 2,
    # where an article is read (its URL, else its page): feeds and digests share it
    "links": 2,
    # 3: storage, and delivery (which only hands over finished messages)
    "store": 3,
    "delivery": 3,
    # 4: the stages; none imports another
    "ingest": 4,
    "feeds": 4,
    "digests": 4,
    # the mail that comes back (bounces, complaints, unsubscribes by mail)
    "inbound": 4,
    # 5: the composition root
    "app": 5,
    # 6: front ends over the composition root (the only callers of datetime.now())
    "service": 6,
    "web": 6,
    "cli": 7,
    "__main__": 8,
}

__version__ = "0.1.0"
