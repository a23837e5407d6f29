"""``feedpub [--config FILE] COMMAND``: the command line, and the only place
that reads the clock. It declares every command's arguments and dispatches
each to one call into ``app``; ``listings`` prints what comes back.

Exit codes: 0 done (rejected input included: it is reported and recorded),
1 a job failed (store unreachable, a file could not be written; the other
jobs of a ``run`` still ran), 2 bad usage or config, or ``build`` refused
to overwrite a file feedpub did not write (``--adopt`` takes it over), 3
another run holds the lock (``run --wait SECONDS`` waits for it).

Quiet under cron: without a terminal ``run`` prints nothing when all went
well; rejects and failures go to stderr, so cron mails only what needs a
person. ``-v`` (or a terminal) shows the summaries.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from feedpub import __version__

if TYPE_CHECKING:
    from feedpub.app import Publisher
    from feedpub.config import Config

# Everything else is imported after the arguments are parsed, and the
# scheduler only by ``serve``: ``feedpub --help`` (and a typo) answers at once
# instead of loading SQLAlchemy, premailer, Babel and APScheduler first.

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
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
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="stderr log lines as text (default) or one JSON object per line, with job lines",
    )
    parser.add_argument("--version", action="version", version=f"feedpub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="the whole job: ingest, build the feeds, make every due digest",
        description=(
            "One cron run: ingest the sources, build the feeds, make every due digest. "
            "Prints nothing without a terminal unless -v; exits 3 if another run holds the lock."
        ),
    )
    run.add_argument(
        "--wait",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for another run to end (default: exit 3 at once)",
    )
    _add_adopt(run)
    status = commands.add_parser(
        "status",
        help="last run of each job, next scheduled times, store counts, last editions",
        description="What feedpub did last, what it does next, and what the store holds.",
    )
    status.add_argument("--json", action="store_true", help="one JSON object")
    ingest = commands.add_parser(
        "ingest",
        help="read the sources into the store",
        description="Read every source (files, WordPress sites, sitemaps) into the store.",
    )
    _add_explain(ingest)
    ingest.add_argument(
        "--reconcile",
        action="store_true",
        help="also list what each site still publishes and withdraw the rest now "
        "(else once per the source's reconcile period)",
    )
    articles = commands.add_parser(
        "articles", help="list the stored articles, newest first", description="List articles."
    )
    articles.add_argument("--json", action="store_true", help="one JSON object per line")
    articles.add_argument("--limit", type=_positive, default=None, metavar="N", help="at most N")
    article_actions = articles.add_subparsers(dest="article_action", metavar="ACTION")
    withdraw = article_actions.add_parser(
        "withdraw",
        help="take articles out of every feed, page and future digest",
        description=(
            "Withdraw stored articles by id: the next build takes them out of every feed, "
            "topic page and article page; they stay out while their source still has them."
        ),
    )
    withdraw.add_argument("ids", nargs="+", metavar="ID")
    withdraw.add_argument("--reason", default="withdrawn by an editor", metavar="TEXT")
    rejects = commands.add_parser(
        "rejects", help="list rejected input with reasons", description="List rejected input."
    )
    rejects.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_adopt(
        commands.add_parser(
            "build",
            help="write the feeds (only what changed)",
            description=(
                "Write Atom, RSS and JSON feeds, one per tag, OPML and index.html. "
                "Exits 2, writing nothing, if a file it would write is there but "
                "feedpub did not write it (see --adopt)."
            ),
        )
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
    serve = commands.add_parser(
        "serve",
        help="run as a service: ingest and build on service.schedule, each digest on its own",
        description=(
            "Stay running (systemd, a container): ingest and build the feeds on "
            "service.schedule, and make each digest on its schedule; serve the web app "
            "(unsubscribe, sign-up, preferences, public/). With several on one store, one "
            "leads and runs the jobs; the others stand by to take over within "
            "service.failover_seconds, and every one serves the web app. "
            "Stops on SIGINT/SIGTERM."
        ),
    )
    _add_serve_arguments(serve)
    _add_subscriber_commands(commands)
    return parser


# --- subscribers, deliveries and the web server (kept apart to ease merging) ----------


def _add_adopt(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--adopt",
        action="store_true",
        help="take over files in feeds.output that feedpub did not write (overwrite them)",
    )


def _add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1", help="web app address (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8080, help="web app port (default 8080; 0: no web app)"
    )


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0-65535")
    return value


def _add_subscriber_commands(commands: Any) -> None:
    subs = commands.add_parser(
        "subscribers",
        help="manage the digest subscribers",
        description="Add, remove, unsubscribe, list, show, import, export or bounce digest "
        "subscribers; list the suppressed addresses.",
    )
    actions = subs.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add (or update) an active subscriber",
        description="Add an active subscriber, or update one: what is not given is kept. "
        "An address that bounced, unsubscribed or complained is refused unless "
        "--resubscribe --reason TEXT says why it may be mailed again.",
    )
    add.add_argument("email", metavar="EMAIL")
    add.add_argument("--name", metavar="N", help="the name in the greeting")
    add.add_argument("--digests", metavar="a,b", help="only these digests (default: all)")
    add.add_argument("--tags", metavar="x,y", help="only articles with these tags (default: all)")
    add.add_argument(
        "--resubscribe",
        action="store_true",
        help="subscribe again an address that bounced or unsubscribed (needs --reason)",
    )
    add.add_argument("--reason", metavar="TEXT", help="why (recorded with the address)")
    remove = actions.add_parser(
        "remove", help="forget a subscriber (remembered: the seed file does not add it back)"
    )
    remove.add_argument("email", metavar="EMAIL")
    unsubscribe = actions.add_parser(
        "unsubscribe",
        help="end a subscription for good: no import, seed or add mails it again",
    )
    unsubscribe.add_argument("email", metavar="EMAIL")
    unsubscribe.add_argument("--reason", metavar="TEXT", help="why (recorded with the address)")
    actions.add_parser(
        "suppressed", help="the suppression list: addresses not to mail again, and why"
    )
    listing = actions.add_parser("list", help="one line per subscriber: address and status")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    imports = actions.add_parser(
        "import",
        help="add the addresses of a CSV not yet stored",
        description=(
            "CSV with a header row: email (required), name, digests, tags (lists split by "
            "';' or '|'). Stored addresses are left as they are, suppressed ones (bounced, "
            "unsubscribed, removed) are not added; bad rows are reported with their line "
            "and value, and the good rows imported."
        ),
    )
    imports.add_argument("file", metavar="FILE.csv")
    actions.add_parser("export", help="every subscriber as CSV on stdout")
    bounce = actions.add_parser("bounce", help="mark an address bounced: it gets nothing more")
    bounce.add_argument("email", metavar="EMAIL")
    show = actions.add_parser(
        "show",
        help="one subscriber: status, choices and consent records",
        description="The subscriber, each consent record (when and from which client "
        "address the web sign-up was made and its confirmation link followed) and the "
        "sign-ups still kept.",
    )
    show.add_argument("email", metavar="EMAIL")
    deliver = commands.add_parser(
        "deliver",
        help="only claim and send what is left of the latest editions (several senders)",
        description=(
            "A sender: claim and send the unfinished deliveries of each digest's latest "
            "editions (or of DIGEST), until none is left that anybody holds. Start it on as "
            "many machines as needed beside the one that runs `feedpub run` or `serve` "
            "(the leader, which makes the editions); they share the work through the store."
        ),
    )
    deliver.add_argument("name", nargs="?", metavar="DIGEST", help="only this digest")
    deliver.add_argument(
        "--wait",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for an edition to be recorded (default: none)",
    )
    inbound = commands.add_parser(
        "inbound",
        help="read the bounce mailbox: bounces, complaints, unsubscribes by mail",
        description="Read every new message of the mailbox of inbound: and act on it "
        "(mark bounced, unsubscribe), as feedpub run does; --list shows the messages kept "
        "for a person.",
    )
    inbound.add_argument(
        "--list", action="store_true", help="list the messages kept for a person; read nothing"
    )
    digests = commands.add_parser(
        "digests",
        help="a digest paused by its bounce or complaint rate: resume it",
        description="A digest whose edition drew too many hard bounces or complaints sends "
        "nothing until resumed.",
    )
    digest_actions = digests.add_subparsers(dest="action", required=True, metavar="ACTION")
    resume = digest_actions.add_parser("resume", help="send the digest again")
    resume.add_argument("name", metavar="NAME")
    deliveries = commands.add_parser(
        "deliveries",
        help="delivery counts and failures of an edition",
        description="Counts by status and the failures with reasons (default: each digest's "
        "last edition).",
    )
    deliveries.add_argument(
        "edition", nargs="?", metavar="EDITION", help="e.g. daily@2026-11-29T07:00+03:00"
    )


def _add_subscriber(args: argparse.Namespace, publisher: Publisher, out: TextIO) -> int:
    from feedpub.app import ConsentRefused
    from feedpub.text.lists import split_list

    reason = (args.reason or "").strip()
    if args.resubscribe != bool(reason):
        print("feedpub: --resubscribe and --reason TEXT go together", file=sys.stderr)
        return EXIT_USAGE
    try:
        outcome = publisher.add_subscriber(
            args.email,
            name=args.name,
            digests=None if args.digests is None else split_list(args.digests),
            tags=None if args.tags is None else split_list(args.tags),
            resubscribe_reason=reason or None,
        )
    except ConsentRefused as exc:
        print(f"feedpub: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"feedpub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    said = "added" if outcome.new else "updated"
    if outcome.lifted is not None:
        said += f"; subscribed again (was {outcome.lifted.describe()})"
    print(f"{outcome.subscriber.email}: {said}", file=out)
    return EXIT_OK


def _subscribers(args: argparse.Namespace, publisher: Publisher, out: TextIO) -> int:
    from feedpub.cli import listings

    action = args.action
    if action == "add":
        return _add_subscriber(args, publisher, out)
    if action == "unsubscribe":
        try:
            already = publisher.unsubscribe_subscriber(args.email, args.reason or "")
        except ValueError as exc:
            print(f"feedpub: {exc}", file=sys.stderr)
            return EXIT_USAGE
        said = f"already {already.describe()}" if already else "unsubscribed"
        print(f"{args.email}: {said}", file=out)
    elif action in ("remove", "bounce"):
        done = (
            publisher.remove_subscriber(args.email)
            if action == "remove"
            else publisher.bounce_subscriber(args.email)
        )
        if not done:
            print(f"feedpub: {args.email}: no such subscriber", file=sys.stderr)
            return EXIT_FAILED
        print(f"{args.email}: {'removed' if action == 'remove' else 'bounced'}", file=out)
    elif action == "suppressed":
        listings.print_suppressions(publisher.suppressions(), out)
    elif action == "list":
        listings.print_subscribers(publisher.subscribers(), out, as_json=args.json)
    elif action == "show":
        found, signups, consents = publisher.subscriber_record(args.email)
        listings.print_subscriber_record(
            args.email, found, signups, consents, out, publisher.cfg.site.timezone
        )
        if found is None and not signups:
            return EXIT_FAILED
    elif action == "export":
        out.write(publisher.export_subscribers())
    elif action == "import":
        from pathlib import Path

        try:
            report = publisher.import_subscribers(Path(args.file))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"feedpub: {args.file}: cannot read: {exc}", file=sys.stderr)
            return EXIT_FAILED
        for line in report.lines([*report.problems, *report.suppressed]):
            print(f"feedpub: {line}", file=sys.stderr)
        print(report.summary(), file=out)
        return EXIT_OK if report.added or not report.problems else EXIT_FAILED
    return EXIT_OK


def _deliveries(args: argparse.Namespace, publisher: Publisher, out: TextIO, tz: tzinfo) -> int:
    from feedpub.cli import listings

    try:
        found = publisher.deliveries(args.edition)
    except ValueError as exc:
        print(f"feedpub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for item in found:
        counts = ", ".join(f"{n} {status}" for status, n in item.counts.items())
        slot = item.edition.slot.astimezone(tz).isoformat(timespec="minutes")
        print(f"{item.digest}@{slot}: {counts}", file=out)
        back = listings.came_back(item.feedback, item.counts.get("sent", 0))
        if back:
            print(f"  came back: {back}", file=out)
        for failure in item.failures:
            print(f"  failed {failure.address}: {failure.last_error}", file=out)
    return EXIT_OK


def _deliver(args: argparse.Namespace, cfg: Config, publisher: Publisher, out: TextIO) -> int:
    names = [args.name] if args.name else [d.name for d in cfg.digests]
    code = EXIT_OK
    for name in names:
        outcome = publisher.deliver(name, wait=args.wait)
        print(outcome.summary(), file=out)
        failure = outcome.failure()
        if failure is not None:
            print(f"feedpub: {failure}", file=sys.stderr)
            code = EXIT_FAILED
    return code


def _inbound(args: argparse.Namespace, cfg: Config, publisher: Publisher, out: TextIO) -> int:
    if not cfg.inbound.enabled:
        print(
            f"feedpub: {cfg.path}: inbound: no mailbox configured (inbound.maildir or "
            "inbound.imap)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.list:
        for line in publisher.inbound_kept():
            print(line, file=out)
        return EXIT_OK
    print(publisher.inbound().summary(), file=out)
    return EXIT_OK


def _serve_with_web(args: argparse.Namespace, cfg: Config, publisher: Publisher) -> int:
    """The scheduler in the foreground and, unless --port 0, the web app in a
    background thread (``web.server``), shut down when serve returns
    (SIGTERM/SIGINT)."""
    from feedpub import web
    from feedpub.web import server

    stop = None
    # Sign-ups queued here (or by another process) are mailed from this thread.
    clock = _clock(publisher.now)  # the jobs', so $FEEDPUB_NOW holds for the pages too
    mailer = publisher.signup_mailer(clock)
    mailer.start()
    if args.port:
        wsgi = web.build_app(cfg, publisher.subscriptions(on_queued=mailer.wake), clock)
        stop = server.serve_in_background(wsgi, args.host, args.port, cfg.web).stop
    try:
        return _serve(cfg, publisher)
    finally:
        if stop is not None:
            stop()
        mailer.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(
        verbose=args.verbose,
        json_lines=args.log_format == "json",
        # serve's journal and a log shipper keep one line per job; cron mail does not.
        job_lines=args.command == "serve" or args.log_format == "json",
    )
    from feedpub import app
    from feedpub.app import reports
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
        if args.command == "build" and not args.adopt:
            # Nothing changed (one row says so): done without opening the store.
            quick = app.quick_build(cfg)
            if quick is not None:
                print(quick.summary(), file=sys.stdout)
                return EXIT_OK
        if args.command in ("run", "ingest", "serve", "digest", "deliver", "inbound"):
            app.check_config(cfg)  # a bad source, format or backend: exit 2 before any job
        with app.make_publisher(cfg, now=now, clock=_clock(now)) as publisher:
            return _dispatch(args, cfg, publisher)
    except ConfigError as exc:
        print(f"feedpub: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except reports.LOCK_FAILURES as exc:
        print(f"feedpub: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except reports.OPERATOR_FAILURES as exc:
        print(f"feedpub: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (``feedpub articles | head``): nothing to
        # report; stdout is pointed at /dev/null so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except reports.WORK_FAILURES as exc:
        print(f"feedpub: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        # Every write is a transaction, rolled back when interrupted: the
        # store holds whole files and batches only, and the next run carries on.
        print("\nfeedpub: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _setup_logging(*, verbose: bool, json_lines: bool = False, job_lines: bool = False) -> None:
    """Warnings and errors to stderr (cron mails them), info with -v; the
    one line per job (logger ``feedpub.jobs``) also with ``job_lines``. As
    text, or with ``json_lines`` one JSON object per line. The handler goes
    on feedpub's logger, replacing one a previous main() set."""
    import logging

    logger = logging.getLogger("feedpub")
    for handler in [h for h in logger.handlers if getattr(h, "feedpub_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _json_formatter()
        if json_lines
        else logging.Formatter("feedpub: %(levelname)s: %(message)s")
    )
    handler.feedpub_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in ("feedpub.jobs", "feedpub.service"):  # job lines; leader and standby
        logging.getLogger(name).setLevel(logging.INFO if verbose or job_lines else logging.NOTSET)


def _json_formatter() -> Any:
    # The class is made on first use: --help does not pay for it.
    import json
    import logging

    class JsonFormatter(logging.Formatter):
        """time, level, logger, message; job, duration and counts on job lines."""

        def format(self, record: logging.LogRecord) -> str:
            data: dict[str, Any] = {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
            for key in ("job", "duration", "counts"):
                if hasattr(record, key):
                    data[key] = getattr(record, key)
            if record.exc_info:
                data["exception"] = self.formatException(record.exc_info)
            return json.dumps(data, ensure_ascii=False)

    return JsonFormatter()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: must be between 0 and 86400")
    return value


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


def _clock(start: datetime) -> Callable[[], datetime]:
    """What times the jobs: the real clock, or with $FEEDPUB_NOW pinned the
    pinned time plus the real time elapsed (a replayed run still has durations)."""
    if not os.environ.get(NOW_ENV):
        return lambda: datetime.now(UTC)
    import time

    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def _dispatch(args: argparse.Namespace, cfg: Config, publisher: Publisher) -> int:
    from feedpub.cli import listings

    out = sys.stdout
    tz = cfg.site.timezone
    if args.command == "serve":
        return _serve_with_web(args, cfg, publisher)
    elif args.command == "subscribers":
        return _subscribers(args, publisher, out)
    elif args.command == "deliveries":
        return _deliveries(args, publisher, out, tz)
    elif args.command == "inbound":
        return _inbound(args, cfg, publisher, out)
    elif args.command == "deliver":
        return _deliver(args, cfg, publisher, out)
    elif args.command == "digests":
        if not publisher.resume_digest(args.name):
            print(f"feedpub: digest {args.name} is not paused", file=sys.stderr)
            return EXIT_FAILED
        print(f"digest {args.name}: resumed", file=out)
    elif args.command == "ingest" and args.explain:
        return _explain(publisher, args.explain, out)
    elif args.command == "ingest":
        report = publisher.ingest(listings.progress_bar(), reconcile=args.reconcile)
        print(report.summary(), file=out)
        return EXIT_FAILED if report.failed_sources else EXIT_OK
    elif args.command == "articles" and args.article_action == "withdraw":
        return _withdraw(publisher, args.ids, args.reason, out)
    elif args.command == "articles":
        listings.print_articles(publisher.articles(args.limit), out, tz, as_json=args.json)
    elif args.command == "rejects":
        listings.print_rejects(publisher.rejects(), out, tz, as_json=args.json)
    elif args.command == "build":
        print(publisher.build(adopt=args.adopt).summary(), file=out)
    elif args.command == "digest":
        return _digest(args, publisher, out)
    elif args.command == "run":
        return _run(args, publisher, out)
    elif args.command == "status":
        listings.print_status(publisher.status(), out, tz, as_json=args.json)
    return EXIT_OK


def _withdraw(publisher: Publisher, ids: Sequence[str], reason: str, out: TextIO) -> int:
    """The stored ones of ``ids`` withdrawn; 1 when one is not a stored
    article (each such id named on stderr)."""
    done = set(publisher.withdraw(ids, reason))
    for article_id in dict.fromkeys(ids):
        if article_id in done:
            print(f"withdrawn {article_id}: the next build takes it out of the feeds", file=out)
        else:
            print(f"feedpub: no stored article {article_id}", file=sys.stderr)
    return EXIT_OK if done >= set(ids) else EXIT_FAILED


def _run(args: argparse.Namespace, publisher: Publisher, out: TextIO) -> int:
    """Every job under the run-wide lock; 1 when one failed (each said why
    on stderr). The summaries only with -v or on a terminal: cron mails
    whatever is printed."""
    from feedpub.cli import listings

    with publisher.exclusive_run(wait=args.wait):
        outcomes = publisher.run_jobs(listings.progress_bar(), adopt=args.adopt)
    if args.verbose or out.isatty():
        for outcome in outcomes:
            if outcome.report is not None:
                print(outcome.report.summary(), file=out)
    return EXIT_FAILED if any(o.failed for o in outcomes) else EXIT_OK


def _serve(cfg: Config, publisher: Publisher) -> int:
    """The service: the leader (one across machines sharing the store) runs
    the jobs; a standby waits to take over."""
    from feedpub import service

    failover = cfg.service.failover_seconds
    leadership = publisher.leadership(timeout=failover / 2)
    try:
        service.serve(
            publisher.service_jobs(_now),
            cfg.site.timezone,
            started=publisher.now,
            leadership=leadership,
            failover_seconds=failover,
        )
    finally:
        leadership.close()
    return EXIT_OK


def _add_explain(ingest: argparse.ArgumentParser) -> None:
    ingest.add_argument(
        "--explain",
        metavar="FILE_OR_POST",
        help="ingest nothing: for a scraped text page FILE, each line with what it is "
        "taken as (chrome, title, paragraph, tag, ...) and why; for an HTML page FILE, a "
        "page URL of a sitemap source or a post of a WordPress source (its id, "
        "wordpress:host:7, or its URL), where each field comes from (JSON-LD, meta, body, "
        "WordPress field)",
    )


def _explain(publisher: Publisher, path: str, out: TextIO) -> int:
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
        with publisher.exclusive_run(wait=0.0):  # as feedpub run: one sender per store at once
            outcome = publisher.digest(args.name)
        print(outcome.summary(), file=out)
        failure = outcome.failure()
        if failure is not None:
            print(f"feedpub: {failure}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK

    html, text = publisher.preview(args.name)
    target = Path(args.out or f"{args.name}-preview.html")
    target.write_text(html, encoding="utf-8")
    print(text, file=out)
    print(f"digest {args.name}: preview written to {target}", file=out)
    return EXIT_OK


# Text listings show times in site.timezone, as the pages and records state
# them (the store keeps UTC; --json gives UTC with its offset).
