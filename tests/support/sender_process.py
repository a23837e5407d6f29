"""One sender of the several-senders tests, in its own process: what
``feedpub deliver daily`` is (it only claims and sends what is left of the
recorded editions, staying until no other sender holds a claim), over the
SMTP pool its config names.

    python tests/support/sender_process.py CONFIG STALE_SECONDS

The clock is $FEEDPUB_NOW moved on by the wall clock since $SENDERS_EPOCH
(one epoch for every sender of a test, so their clocks agree as a real
machine's NTP-kept clocks would). The leases are short (STALE_SECONDS,
below the config's one-minute floor) so that a test takes seconds.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta

from feedpub import delivery
from feedpub.app import make_publisher
from feedpub.config import load_config
from feedpub.store import SqlStore


def main(config: str, stale: str) -> None:
    cfg = load_config(config)
    cfg = replace(cfg, delivery=replace(cfg.delivery, stale_after=timedelta(seconds=float(stale))))
    now = datetime.fromisoformat(os.environ["FEEDPUB_NOW"])
    epoch = float(os.environ["SENDERS_EPOCH"])

    def clock() -> datetime:
        return now + timedelta(seconds=time.time() - epoch)

    store = SqlStore.open(cfg.store.url)
    pub = make_publisher(cfg, now=clock(), store=store)
    sender = delivery.make_sender(cfg.delivery, os.environ, cfg.path)
    pub.use_sender(sender)
    digest = cfg.digest("daily")

    def compose_for(edition_id: int, slot: datetime) -> delivery.Compose:
        edition = store.get_edition("daily", slot)
        assert edition is not None
        # The editions' own composer, as `feedpub deliver` uses it.
        return pub.editions().composer(digest, edition_id, edition.slot)

    print("ready", flush=True)
    with pub:
        done = delivery.deliver_unfinished(
            store,
            "daily",
            compose_for,
            sender,
            worker=pub.worker,
            batch=cfg.delivery.batch,
            stale_after=cfg.delivery.stale_after,
            clock=clock,
            wait=30,
            until_finished=True,
            poll=0.2,
            max_run_seconds=cfg.delivery.max_run_seconds,
        )
    for sent in done:
        r = sent.report
        print(f"{pub.worker} sent {r.sent} lost {r.lost} taken_over {r.taken_over}", flush=True)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
