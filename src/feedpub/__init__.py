"""feedpub: publishes an Arabic news site as feeds and right-to-left email digests.

The pipeline, each stage a folder, data flowing one way::

    sources (files, WordPress, sitemaps) -> ingest/ -> store/ (SQL, migrations)
    store -> feeds/ (select, entry model, one writer per format) -> output/ -> public/
    store -> digests/ (plan, render, inline, edition) -> delivery/ (outbox | SMTP) -> recipients
    recipients -> inbound/ (bounces, complaints, unsubscribes) -> subscribers/ -> store
    web/ (sign-up, preferences, unsubscribe) -> subscribers/
    app/ wires the stages; cli/, service and web/ go through it

The rules, enforced by ``tests/test_layers.py`` (which walks every import):

- Layers. A module imports feedpub code of a *lower* layer (``LAYERS``
  below) or of its own package, never a higher layer and never a sibling
  unit of the same layer: so ``feeds``, ``digests``, ``ingest`` and
  ``inbound`` never import each other, and no stage imports ``app``; what
  two need sits lower (``links``: where an article is read). A new
  top-level module or package must be added to ``LAYERS``.
- Entry points. ``cli``, ``service`` and ``web`` reach the stages through
  ``app`` only (they may also read ``config``, ``model``, ``cron``, ``text``,
  ``tokens`` and ``templating``).
- One module per third-party library with a swappable role (``WRAPPED`` in
  the test): feedgen only in ``feeds.atom`` and ``feeds.rss``, premailer only
  in ``digests.inline``, APScheduler only in ``service``, cronsim only in
  ``cron``, SQLAlchemy only in ``store``, nh3 only in ``text.sanitize``,
  Babel only in ``text.rtl``, flufl.bounce only in ``inbound.formats``,
  trafilatura only in ``ingest.html_body``, extruct only in
  ``ingest.html_meta``, dkimpy only in ``delivery.dkim``, hijridate only in
  ``text.hijri``, httpx only in ``ingest.http``, waitress only in
  ``web.server``. Swapping a library touches one file.
- One registry per kind of plugin: source kinds (``ingest.source``), feed
  formats (``feeds``), delivery backends (``delivery.backends``).
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
    # 2: configuration and the output folder (atomic writes, locks)
    "config": 2,
    "output": 2,
    # where an article is read (its URL, else its page): feeds and digests share it
    "links": 2,
    # 3: storage, and delivery (which only hands over finished messages)
    "store": 3,
    "delivery": 3,
    # 4: who receives the digests, as operators, readers and returned mail change it
    "subscribers": 4,
    # 5: the stages; none imports another
    "ingest": 5,
    "feeds": 5,
    "digests": 5,
    "inbound": 5,
    # 6: the composition root
    "app": 6,
    # 7: front ends over the composition root (the only callers of datetime.now())
    "service": 7,
    "web": 7,
    "cli": 8,
    "__main__": 9,
}

__version__ = "0.1.0"
