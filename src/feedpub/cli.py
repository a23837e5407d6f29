"""``feedpub [--config FILE] COMMAND``: the command line, and the only place
that reads the clock.

Exit codes: 0 done (rejected input included: it is reported and recorded),
1 the work failed (store unreachable, a file could not be written),
2 bad usage or config.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from feedpub import __version__

if TYPE_CHECKING:
    from feedpub.app import Progress, Publisher
    from feedpub.config import Config
    from feedpub.model import Article

# Everything else is imported after the arguments are parsed, and the
# scheduler only by ``serve``: ``feedpub --help`` (and a typo) answers at once
# instead of loading SQLAlchemy, premailer, Babel and APScheduler first.

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
# Pins the clock of a run (ISO 8601 with offset): for tests, and for replaying
# a run as of a given moment.
NOW_ENV = "FEEDPUB_NOW"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedpub",
        description="Publish an Arabic news site as feeds and right-to-left email digests.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: $FEEDPUB_CONFIG, else ./config.yaml)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what each stage does (default: quiet)"
    )
    parser.add_argument("--version", action="version", version=f"feedpub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "run",
        help="the whole job: ingest, build the feeds, make every due digest",
        description="One cron run: ingest the sources, build the feeds, make every due digest.",
    )
    _add_explain(
        commands.add_parser(
            "ingest",
            help="read the sources into the store",
            description="Read every source (scraped pages and records) into the store.",
        )
    )
    articles = commands.add_parser(
        "articles", help="list the stored articles, newest first", description="List articles."
    )
    articles.add_argument("--json", action="store_true", help="one JSON object per line")
    articles.add_argument("--limit", type=_positive, default=None, metavar="N", help="at most N")
    rejects = commands.add_parser(
        "rejects", help="list rejected input with reasons", description="List rejected input."
    )
    rejects.add_argument("--json", action="store_true", help="one JSON object per line")
    commands.add_parser(
        "build",
        help="write the feeds (only what changed)",
        description="Write Atom, RSS and JSON feeds, one per tag, OPML and index.html.",
    )
    digest = commands.add_parser(
        "digest",
        help="make a digest edition if one is due",
        description="Make the due edition of digest NAME and hand it to delivery.",
    )
    digest.add_argument("name", metavar="NAME", help="a digest name from config.yaml")
    digest.add_argument(
        "--preview",
        action="store_true",
        help="render the next edition to a file and print its text; record nothing",
    )
    digest.add_argument(
        "--out", metavar="FILE", help="with --preview: the HTML file (default NAME-preview.html)"
    )
    commands.add_parser(
        "serve",
        help="run as a service: ingest and build on service.schedule, each digest on its own",
        description=(
            "Stay running (systemd, a container): ingest and build the feeds on "
            "service.schedule, and make each digest on its schedule. Stops on SIGINT/SIGTERM."
        ),
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(verbose=args.verbose)
    from feedpub import app
    from feedpub.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"feedpub: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        now = _now()
    except ValueError as exc:
        print(f"feedpub: {NOW_ENV}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with app.make_publisher(cfg, now=now) as publisher:
            return _dispatch(args, cfg, publisher)
    except ConfigError as exc:
        print(f"feedpub: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (``feedpub articles | head``): nothing to
        # report; stdout is pointed at /dev/null so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except app.WORK_FAILURES as exc:
        print(f"feedpub: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        # Every write is a transaction, rolled back when interrupted: the
        # store holds whole files and batches only, and the next run carries on.
        print("\nfeedpub: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _setup_logging(*, verbose: bool) -> None:
    """Warnings and errors to stderr (cron mails them), info with -v. The
    handler goes on feedpub's logger, replacing one a previous main() set."""
    import logging

    logger = logging.getLogger("feedpub")
    for handler in [h for h in logger.handlers if getattr(h, "feedpub_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("feedpub: %(levelname)s: %(message)s"))
    handler.feedpub_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def _now() -> datetime:
    pinned = os.environ.get(NOW_ENV)
    if not pinned:
        return datetime.now(UTC)
    value = datetime.fromisoformat(pinned)
    if value.tzinfo is None:
        raise ValueError(f"{pinned!r} has no UTC offset")
    return value


def _dispatch(args: argparse.Namespace, cfg: Config, publisher: Publisher) -> int:
    out = sys.stdout
    tz = cfg.site.timezone
    if args.command == "serve":
        from feedpub import service

        service.serve(publisher.service_jobs(_now), tz, started=publisher.now)
    elif args.command == "ingest" and args.explain:
        return _explain(publisher, args.explain, out)
    elif args.command == "ingest":
        print(publisher.ingest(_progress_bar()).summary(), file=out)
    elif args.command == "articles":
        _list_articles(publisher, out, tz, as_json=args.json, limit=args.limit)
    elif args.command == "rejects":
        _list_rejects(publisher, out, tz, as_json=args.json)
    elif args.command == "build":
        print(publisher.build().summary(), file=out)
    elif args.command == "digest":
        return _digest(args, publisher, out)
    elif args.command == "run":
        result = publisher.run(_progress_bar())
        print(result.ingest.summary(), file=out)
        print(result.build.summary(), file=out)
        for outcome in result.digests:
            print(outcome.summary(), file=out)
    return EXIT_OK


def _add_explain(ingest: argparse.ArgumentParser) -> None:
    ingest.add_argument(
        "--explain",
        metavar="FILE",
        type=Path,
        help="ingest nothing: print each line of the scraped page FILE with what it is "
        "taken as (chrome, title, paragraph, tag, ...) and why",
    )


def _explain(publisher: Publisher, path: Path, out: TextIO) -> int:
    try:
        lines = publisher.explain_page(path)
    except OSError as exc:
        print(f"feedpub: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    for line in lines:
        print(line, file=out)
    return EXIT_OK


def _digest(args: argparse.Namespace, publisher: Publisher, out: TextIO) -> int:
    if args.out and not args.preview:
        print("feedpub: --out goes with --preview", file=sys.stderr)
        return EXIT_USAGE
    if not args.preview:
        print(publisher.digest(args.name).summary(), file=out)
        return EXIT_OK

    html, text = publisher.preview(args.name)
    target = Path(args.out or f"{args.name}-preview.html")
    target.write_text(html, encoding="utf-8")
    print(text, file=out)
    print(f"digest {args.name}: preview written to {target}", file=out)
    return EXIT_OK


def _article_json(article: Article) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(article)
    for key in ("published", "updated", "first_seen"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    data["tags"] = [{"name": t.name, "slug": t.slug, "key": t.key} for t in article.tags]
    return data


# Text listings show times in site.timezone, as the pages and records state
# them (the store keeps UTC; --json gives UTC with its offset).


def _list_articles(
    publisher: Publisher, out: TextIO, tz: tzinfo, *, as_json: bool, limit: int | None
) -> None:
    import json

    for article in publisher.articles(limit):
        if as_json:
            print(json.dumps(_article_json(article), ensure_ascii=False), file=out)
        else:
            tags = "، ".join(t.name for t in article.tags)
            print(
                f"{article.published.astimezone(tz):%Y-%m-%d %H:%M}  {article.id}  {article.title}"
                + (f"  [{tags}]" if tags else ""),
                file=out,
            )


def _list_rejects(publisher: Publisher, out: TextIO, tz: tzinfo, *, as_json: bool) -> None:
    import json

    for reject in publisher.rejects():
        if as_json:
            record = {
                "source": reject.source,
                "location": reject.location,
                "reason": reject.reason,
                "seen": reject.seen.isoformat(),
            }
            print(json.dumps(record, ensure_ascii=False), file=out)
        else:
            print(f"{reject.seen.astimezone(tz):%Y-%m-%d %H:%M}  {reject.describe()}", file=out)


def _progress_bar() -> Progress | None:
    """A one-line bar on a terminal; nothing at all under cron (no TTY).

    Written by hand: one line of output does not justify a dependency."""
    stream = sys.stderr
    if not stream.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        stream.write(f"\ringest [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show
