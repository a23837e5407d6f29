"""(Named signing.py: a bench/dkim.py would shadow the dkim library when run
as a script.) Sending with DKIM on against sending without it: messages per second of
the send path (fill each reader's message, hand it to the backend), with
and without ``delivery.dkim.SigningSender`` around the same backend, in the
same round. Target: at least 0.7x (issue 20).

    .venv/bin/python bench/signing.py --messages 5000 --repeat 3
    .venv/bin/python bench/signing.py --messages 5000 --repeat 3 --smtp 2000

Setup (untimed): a SQLite store with the shipped sample articles (the
delivery bench's ``prepare``), the demo edition planned, rendered and
prepared once, and a fresh RSA key (``--bits``, 2048 by default). Timed:
for M readers, ``Prepared.fill`` and ``send`` (the outbox syncs every 500,
as delivery does). SMTP: an aiosmtpd sink in a child process on
127.0.0.1, one connection per timed loop. Each round runs the plain loop
and the signed loop back to back, alternating which goes first, in fresh
outbox folders; the ratio is signed msg/s over plain msg/s per round, the
median reported.

Left out of both sides: the store's claims and marks (``bench/delivery.py``
measures the whole ``digest`` call), so the whole pipeline's ratio is
higher than this one. The cost per signed message is one RSA private-key
operation (OpenSSL, about 0.7 ms with a 2048-bit key on one core of the
development machine) plus hashing: the bench prints it as us/message.

``tests/bench/test_bench_dkim.py`` runs ``main`` tiny (every signed message
verifies with dkimpy); no timing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path
from types import ModuleType

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from feedpub.config import Config
from feedpub.delivery import Outbox, Outgoing, Sender, SmtpSender, SmtpSettings
from feedpub.delivery.dkim import DkimSigner, SigningSender
from feedpub.digests import Prepared, Site, plan_edition, prepare_message, render_edition
from feedpub.store import SqlStore

HERE = Path(__file__).resolve().parent
SELECTOR, DOMAIN = "bench", "news.example.org"
SYNC_EVERY = 500  # the outbox's batch (delivery.batch in the delivery bench)
CHECKED = 200  # signed outbox messages verified with dkimpy in round 1


def delivery_bench() -> ModuleType:
    # By path: "delivery" as a top-level name would be feedpub's tests' package.
    spec = importlib.util.spec_from_file_location("bench_delivery", HERE / "delivery.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Sample:
    messages: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.wall if self.wall else 0.0


def site_of(cfg: Config) -> Site:
    return Site(
        title=cfg.site.title,
        url=cfg.site.url,
        language=cfg.site.language,
        timezone=cfg.site.timezone,
        domain=cfg.site.domain,
        public_url=cfg.feeds.url,
        public_dir=cfg.feeds.output,
    )


def prepared_edition(bench: ModuleType, folder: Path) -> Prepared:
    """The demo edition of the sample articles, prepared once."""
    cfg = bench.prepare(folder, 1, "outbox")
    digest = cfg.digest("daily")
    with SqlStore.open(cfg.store.url) as store:
        planned = plan_edition(store, digest, bench.NOW, tz=cfg.site.timezone)
    if planned is None:
        raise AssertionError("no edition is due for the pinned clock")
    rendered = render_edition(planned, site_of(cfg), cfg.email)
    return prepare_message(rendered, digest, site_of(cfg), cfg.email)


def send_all(prepared: Prepared, sender: Sender, count: int, date: str) -> Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        address = f"reader{i}@example.org"
        message_id = f"<feedpub.{i}.benchkey0@{DOMAIN}>"
        data = prepared.fill(
            name=f"قارئ {i}",
            address=address,
            unsubscribe_token=f"u{i:08d}",
            preferences_token=f"p{i:08d}",
            message_id=message_id,
            date=date,
            linesep=sender.linesep,
        )
        outgoing = Outgoing(data, prepared.sender, (address,), message_id, sender.linesep)
        result = sender.send(outgoing, f"daily-{i}")
        if result.status != "sent":
            raise AssertionError(f"message {i}: {result.status} {result.detail}")
        if (i + 1) % SYNC_EVERY == 0:
            sender.sync()
    sender.sync()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Sample(count, wall, cpu)


def check_signed(folder: Path, signer: DkimSigner, limit: int) -> None:
    """The first ``limit`` signed messages verify with dkimpy (as sent: CRLF)."""
    record = signer.dns_record().encode("ascii")

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record

    for path in sorted((folder / "new").iterdir())[:limit]:
        data = path.read_bytes().replace(b"\n", b"\r\n")
        if not dkim.verify(data, dnsfunc=lookup):
            raise AssertionError(f"{path.name}: the DKIM signature does not verify")


def paired(
    make: Callable[[int, bool], Sender],
    prepared: Prepared,
    signer: DkimSigner,
    count: int,
    repeat: int,
    date: str,
    label: str,
) -> tuple[list[Sample], list[Sample]]:
    plain: list[Sample] = []
    signed: list[Sample] = []
    for round_ in range(repeat):
        order = (False, True) if round_ % 2 == 0 else (True, False)
        for with_dkim in order:
            inner = make(round_, with_dkim)
            sender: Sender = SigningSender(inner, signer) if with_dkim else inner
            try:
                (signed if with_dkim else plain).append(send_all(prepared, sender, count, date))
            finally:
                sender.close()
        print(f"{label} round {round_ + 1}: plain {plain[-1]} dkim {signed[-1]}", file=sys.stderr)
    return plain, signed


def summary(plain: list[Sample], signed: list[Sample]) -> dict[str, float]:
    pairs = list(zip(plain, signed, strict=True))
    ratios = [s.rate / p.rate for p, s in pairs]
    extra = [(s.cpu / s.messages - p.cpu / p.messages) * 1e6 for p, s in pairs]
    return {
        "messages": plain[0].messages,
        "plain_msg_per_s": statistics.median(p.rate for p in plain),
        "dkim_msg_per_s": statistics.median(s.rate for s in signed),
        "ratio": statistics.median(ratios),
        "dkim_cpu_us_per_message": statistics.median(extra),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="into the outbox, per loop")
    parser.add_argument("--smtp", type=int, default=0, help="also over SMTP, per loop")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bits", type=int, default=2048, help="RSA key size")
    parser.add_argument("--work", type=Path, default=None, help="folder (default: a temp one)")
    args = parser.parse_args(argv)
    bench = delivery_bench()
    key = rsa.generate_private_key(public_exponent=65537, key_size=args.bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = DkimSigner(SELECTOR, DOMAIN, pem)
    date = format_datetime(bench.NOW)
    results: dict[str, object] = {"bits": args.bits, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        root = Path(work)
        prepared = prepared_edition(bench, root / "store")

        def outbox(round_: int, with_dkim: bool) -> Sender:
            return Outbox(root / f"outbox-{round_}-{'dkim' if with_dkim else 'plain'}")

        plain, signed = paired(outbox, prepared, signer, args.messages, args.repeat, date, "outbox")
        check_signed(root / "outbox-0-dkim", signer, min(CHECKED, args.messages))
        results["outbox"] = summary(plain, signed)
        if args.smtp:
            with bench.smtp_sink() as port:

                def smtp(round_: int, with_dkim: bool) -> Sender:
                    settings = SmtpSettings(bench.HOST, port, "none", None, None, timeout=30.0)
                    return SmtpSender(settings)

                plain, signed = paired(smtp, prepared, signer, args.smtp, args.repeat, date, "smtp")
            results["smtp"] = summary(plain, signed)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
