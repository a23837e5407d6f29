"""Crash-safety stress test for feedpub (issue 12): SIGKILL at random moments.

    .venv/bin/python bench/stress.py --trials 200 [--seed N] [--postgres] [--workers 2]

Sets up a site in a temporary folder (the repository's samples/ and config.yaml
plus a few hundred generated records with many tags), then per trial: mutates
the sources (new, edited, re-tagged, deleted articles), starts `ingest`,
`build`, `run` or `digest daily` as a whole process, kills it with SIGKILL after
a random delay drawn over that command's measured duration, and checks what is
left. Only the CLI is used, never feedpub's modules. See bench/STRESS.md.

Checks, per trial:

torn     every file under public/ (dotfiles excluded) parses (XML, JSON, HTML)
         and equals byte for byte the version before the trial or the version a
         completed run of the same command produces from the killed state (run
         in a copy of the site).
recover  the same command, then `run` (ingest + build + digests), exit 0.
tmp      no .feedpub-tmp-* file under public/ survives that completed run.
stale    public/ (except archive/) equals a build of the same store into an
         empty folder: nothing left behind that no build manages.
store    `articles --json` parses; every id the sources held at a completed run is there,
         with the current title and every tag of its source.
outbox   every .eml parses with a text and an html part; no two messages for
         one (digest, slot, recipient); messages of exactly the archived
         editions; every subscriber without tag preferences in each one.

Exit status 0 when every check of every trial passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import copy as copy_module
import csv
import email
import email.policy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree
from lxml import html as lxml_html

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ("ingest", "build", "run", "digest daily")
CHECKS = ("recover", "torn", "tmp", "stale", "store", "outbox")
TEMP_PREFIX = ".feedpub-tmp-"
NOW0 = datetime.fromisoformat("2026-11-29T08:00:00+03:00")
STALE_AFTER = timedelta(minutes=15)  # delivery.stale_after of the shipped config (default)
PROC_TIMEOUT = 120.0  # no feedpub process of this site may take longer
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

_PROSE = (
    "أعلنت الوزارة اليوم عن خطة جديدة لتطوير الخدمات في المحافظات الشمالية والجنوبية "
    "وقال المتحدث إن العمل سيبدأ خلال الأسابيع المقبلة بمشاركة فرق فنية متخصصة "
    "وأكد المسؤولون أن المشروع يهدف إلى تحسين حياة المواطنين وتخفيف الأعباء عنهم "
    "وشهدت الأسواق حركة نشطة مع اقتراب موسم الأعياد وارتفاع الطلب على السلع"
)
WORDS = _PROSE.split()


# --- the site --------------------------------------------------------------------


@dataclass
class Site:
    """One site folder: sources, config, store, public/, outbox."""

    root: Path
    store_url: str | None  # None: the config's SQLite file beside it
    rng: random.Random
    tags: list[str]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    ever: set[str] = field(default_factory=set)  # every generated id the sources held
    # The ids the sources held when a run last completed: exactly these are
    # stored (a record deleted before it is withdrawn: withdraw_missing).
    current: set[str] = field(default_factory=set)
    serial: int = 0

    @property
    def public(self) -> Path:
        return self.root / "public"

    @property
    def outbox(self) -> Path:
        return self.root / "var" / "outbox"

    def env(self, now: datetime) -> dict[str, str]:
        # The shipped config delivers to a demo list, which needs a secret.
        env = dict(os.environ, FEEDPUB_NOW=now.isoformat())
        env.setdefault("FEEDPUB_SECRET", "stress-secret-0123456789abcdef")
        env.pop("FEEDPUB_CONFIG", None)
        env.pop("FEEDPUB_STORE_URL", None)
        if self.store_url:
            env["FEEDPUB_STORE_URL"] = self.store_url
        return env

    def argv(self, command: str, config: str = "config.yaml") -> list[str]:
        return [sys.executable, "-m", "feedpub", "--config", config, *command.split()]

    def start(self, command: str, now: datetime) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv(command),
            cwd=self.root,
            env=self.env(now),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def call(self, command: str, now: datetime, config: str = "config.yaml") -> tuple[int, str]:
        try:
            done = subprocess.run(
                self.argv(command, config),
                cwd=self.root,
                env=self.env(now),
                capture_output=True,
                timeout=PROC_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return -1, f"{command}: timed out after {PROC_TIMEOUT:.0f}s"
        out = done.stdout.decode("utf-8", "replace")
        err = done.stderr.decode("utf-8", "replace")
        return done.returncode, out if done.returncode == 0 else (err.strip() or out)[-600:]

    # sources

    def new_record(self, published: datetime) -> dict[str, Any]:
        self.serial += 1
        rid = f"stress-{self.serial:05d}"
        rng = self.rng
        paragraphs = [" ".join(rng.choices(WORDS, k=rng.randint(25, 60))) for _ in range(3)]
        return {
            "id": rid,
            "title": f"خبر رقم {self.serial} " + " ".join(rng.choices(WORDS, k=6)),
            "text": "\n\n".join(paragraphs),
            "published": published.isoformat(),
            "tags": rng.sample(self.tags, rng.randint(1, 3)),
            "author": "قسم الأخبار",
        }

    def write_sources(self) -> None:
        path = self.root / "samples" / "records" / "stress.jsonl"
        lines = [json.dumps(r, ensure_ascii=False) for r in self.records.values()]
        tmp = path.with_name(".stress.tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def populate(self, count: int) -> None:
        for _ in range(count):
            when = NOW0 - timedelta(minutes=self.rng.randint(60, 60 * 24 * 60))
            record = self.new_record(when)
            self.records[record["id"]] = record
        self.ever.update(self.records)
        self.current = set(self.records)
        self.write_sources()

    def mutate(self, now: datetime, scale: int = 1) -> None:
        """New, edited, re-tagged and deleted records; new ones inside the
        digest window that ends at ``now``'s slot."""
        rng = self.rng
        for _ in range(rng.randint(1, 4) * scale):
            when = now - timedelta(hours=2, minutes=rng.randint(0, 60 * 20))
            record = self.new_record(when)
            self.records[record["id"]] = record
        ids = sorted(self.records)
        for rid in rng.sample(ids, min(len(ids), rng.randint(0, 4) * scale)):
            record = self.records[rid]
            record["title"] = f"{record['title'].split(' (')[0]} (تحديث {rng.randint(1, 999)})"
            record["updated"] = (now - timedelta(hours=1)).isoformat()
        for rid in rng.sample(ids, min(len(ids), rng.randint(0, 4) * scale)):
            self.records[rid]["tags"] = rng.sample(self.tags, rng.randint(1, 3))
        for rid in rng.sample(ids, min(len(ids), rng.randint(0, 2) * scale)):
            del self.records[rid]
        # ``ever`` grows only when a run completes (run_trial): a record added
        # and deleted again before any ingest completed never had to be stored.
        self.write_sources()


def make_site(root: Path, rng: random.Random, articles: int, tags: int, pg: str | None) -> Site:
    root.mkdir(parents=True)
    shutil.copytree(REPO / "samples", root / "samples")
    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    # The same site, built into another folder: the "stale" check's reference.
    text = (root / "config.yaml").read_text(encoding="utf-8")
    fresh = text.replace("output: public", "output: fresh-public", 1)
    if fresh == text:
        raise SystemExit("config.yaml has no 'output: public' line to rewrite")
    (root / "fresh.yaml").write_text(fresh, encoding="utf-8")
    names = [f"ملف{i:02d}" for i in range(tags)]
    site = Site(root=root, store_url=pg, rng=rng, tags=names)
    site.populate(articles)
    return site


# --- postgres (one database per site; copies by CREATE DATABASE ... TEMPLATE) -----


def pg_exec(sql: str) -> None:
    import psycopg

    for attempt in range(20):
        try:
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql)  # type: ignore[call-overload]
            return
        except psycopg.errors.ObjectInUse:  # a killed client's backend not gone yet
            if attempt == 19:
                raise
            time.sleep(0.2)


def pg_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


# --- looking at the output -----------------------------------------------------------


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (dotfiles included), by relative path."""
    files: dict[str, bytes] = {}
    if not folder.is_dir():
        return files
    for path in folder.rglob("*"):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            if path.is_file():
                files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files


def hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


def parse_problem(relative: str, data: bytes) -> str | None:
    """Why ``data`` is not a complete file of its kind, or None."""
    try:
        if relative.endswith((".xml", ".opml")):
            etree.fromstring(data, etree.XMLParser(resolve_entities=False))
        elif relative.endswith(".json"):
            json.loads(data)
        elif relative.endswith(".html"):
            if not data.rstrip().endswith(b"</html>"):
                return "HTML does not end with </html>"
            lxml_html.document_fromstring(data)
        elif not data:
            return "empty"
    except (etree.XMLSyntaxError, ValueError) as exc:
        return f"does not parse: {exc}"
    return None


def check_eml(data: bytes) -> str | None:
    message = email.message_from_bytes(data, policy=email.policy.default)
    if not message["List-Id"] or not message["Date"] or not message["To"]:
        return "missing List-Id, Date or To"
    types = {part.get_content_type() for part in message.walk()}
    if not {"text/plain", "text/html"} <= types:
        return f"parts {sorted(types)}, not text/plain + text/html"
    for part in message.walk():
        if part.get_content_maintype() == "text":
            part.get_content()  # decodes the transfer encoding; raises when torn
    return None


# --- one trial --------------------------------------------------------------------


@dataclass
class Trial:
    number: int
    command: str
    delay: float
    killed: bool = True
    aimed: bool = False  # killed a delay after the build's first temp file, not at random
    midway: bool = False  # public/ was neither the old nor the new tree when killed
    failures: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, check: str, detail: str) -> None:
        self.failures.setdefault(check, []).append(detail)


def kill_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds; False when it ended first."""
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        killed = True
    proc.wait(timeout=PROC_TIMEOUT)
    if proc.stderr is not None:
        proc.stderr.close()
    return killed


def temp_file_in(folder: Path) -> bool:
    """Whether a build's temp file is in ``folder`` or one level of tag folders
    below (where sync_tree writes); cheap enough to poll every few ms."""
    stack = [folder, folder / "tag"]
    while stack:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(stack.pop()):
                if entry.name.startswith(TEMP_PREFIX):
                    return True
                if entry.is_dir() and entry.path.startswith(str(folder / "tag") + os.sep):
                    stack.append(Path(entry.path))
    return False


def kill_at_write(proc: subprocess.Popen[bytes], folder: Path, lag: float) -> bool:
    """SIGKILL ``proc`` ``lag`` seconds after its first temp file shows up in
    ``folder`` (a build writing: temp files, one sync, renames, manifest);
    False when it ended first."""
    deadline = time.monotonic() + PROC_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if temp_file_in(folder):
            return kill_after(proc, lag)
        time.sleep(0.002)
    return kill_after(proc, 0.0)


def copy_site(site: Site, dest: Path, pg_name: str | None) -> Site:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(site.root, dest, symlinks=True)
    url = None
    if pg_name and site.store_url:
        pg_exec(f'DROP DATABASE IF EXISTS "{pg_name}"')
        src = site.store_url.rsplit("/", 1)[1]
        pg_exec(f'CREATE DATABASE "{pg_name}" TEMPLATE "{src}"')
        url = pg_url(pg_name)
    copy = Site(root=dest, store_url=url, rng=site.rng, tags=site.tags, serial=site.serial)
    copy.records = copy_module.deepcopy(site.records)
    copy.ever = set(site.ever)
    copy.current = set(site.current)
    return copy


def run_trial(
    site: Site,
    number: int,
    timing: dict[str, tuple[float, float]],
    ref_pg: str | None,
    stale_every: int = 1,
    at_write: float = 0.0,
) -> Trial:
    rng = site.rng
    now = NOW0 + timedelta(days=number + 1)
    site.mutate(now)
    command = rng.choice(COMMANDS)
    low, high = timing[command]
    trial = Trial(number, command, rng.uniform(low, high))
    # Aimed at sync_tree: the delay is then counted from the first temp file.
    aimed = at_write > 0 and command in ("build", "run") and rng.random() < at_write
    if aimed:
        trial.delay = rng.uniform(0.0, 0.5)
    before = snapshot(site.public)

    proc = site.start(command, now)
    if aimed:
        trial.killed = kill_at_write(proc, site.public, trial.delay)
        trial.aimed = True
    else:
        trial.killed = kill_after(proc, trial.delay)
    mid = snapshot(site.public)

    # The "new" versions: the same command, run to completion from the killed state.
    ref = copy_site(site, site.root.with_name(site.root.name + "-ref"), ref_pg)
    t0 = time.monotonic()
    rc, out = ref.call(command, now)
    if rc == 0:  # keep the window on the durations seen under the current load
        low, high = timing[command]
        timing[command] = (low, 0.7 * high + 0.3 * 1.1 * (time.monotonic() - t0))
    if rc != 0:
        trial.fail("recover", f"{command} after the kill exited {rc}: {out}")
    after = snapshot(ref.public)
    visible = {k: v for k, v in mid.items() if not hidden(k)}
    trial.midway = all(
        visible != {k: v for k, v in tree.items() if not hidden(k)} for tree in (before, after)
    )
    for relative, data in sorted(mid.items()):
        if hidden(relative):
            continue
        problem = parse_problem(relative, data)
        if problem:
            trial.fail("torn", f"{relative}: {problem}")
        elif data != before.get(relative) and data != after.get(relative):
            kind = "neither the old nor the new version"
            if relative not in before and relative not in after:
                kind = "a file neither the old nor the completed run has"
            trial.fail("torn", f"{relative}: {kind}")

    # Sometimes the sources change again before anything completes: a killed
    # build's half-made files must not outlive that either.
    if rng.random() < 0.3:
        site.mutate(now, scale=2)
    rc, out = site.call("run", now)
    if rc != 0:
        trial.fail("recover", f"run after the kill exited {rc}: {out}")
    else:
        site.ever.update(site.records)
        site.current = set(site.records)  # what a completed ingest read is what is stored
    final = snapshot(site.public)
    for relative in sorted(final):
        if relative.rsplit("/", 1)[-1].startswith(TEMP_PREFIX):
            trial.fail("tmp", f"{relative} survives a completed run")

    if number % stale_every == 0:
        check_stale(site, now, final, trial)
    check_store(site, now, trial)
    # The killed process's claimed deliveries wait for delivery.stale_after
    # (15 min on the pinned clock) before another run takes them over: one
    # more run just past that, in the same slot, before counting recipients.
    rc, out = site.call("run", now + STALE_AFTER + timedelta(minutes=1))
    if rc != 0:
        trial.fail("recover", f"run after the claims went stale exited {rc}: {out}")
    check_outbox(site, snapshot(site.public), trial)
    return trial


def check_stale(site: Site, now: datetime, final: dict[str, bytes], trial: Trial) -> None:
    fresh = site.root / "fresh-public"
    shutil.rmtree(fresh, ignore_errors=True)
    rc, out = site.call("build", now, config="fresh.yaml")
    if rc != 0:
        trial.fail("recover", f"build into an empty folder exited {rc}: {out}")
        return
    clean = {k: v for k, v in snapshot(fresh).items() if not hidden(k)}
    ours = {k: v for k, v in final.items() if not hidden(k) and not k.startswith("archive/")}
    for relative in sorted(ours.keys() - clean.keys()):
        trial.fail("stale", f"{relative}: left in public/, a clean build does not make it")
    for relative in sorted(clean.keys() - ours.keys()):
        trial.fail("stale", f"{relative}: missing from public/")
    for relative in sorted(ours.keys() & clean.keys()):
        if ours[relative] != clean[relative]:
            trial.fail("stale", f"{relative}: differs from a clean build")


def check_store(site: Site, now: datetime, trial: Trial) -> None:
    rc, out = site.call("articles --json", now)
    if rc != 0:
        trial.fail("store", f"articles --json exited {rc}: {out}")
        return
    stored: dict[str, dict[str, Any]] = {}
    for line in out.splitlines():
        try:
            article = json.loads(line)
        except ValueError:
            trial.fail("store", f"articles --json: not JSON: {line[:80]!r}")
            return
        stored[article["id"]] = article
    # A completed run stores every record its sources hold and withdraws
    # (removes from the store's articles) every record deleted from them.
    missing = sorted(site.current - stored.keys())
    if missing:
        trial.fail("store", f"{len(missing)} source ids not stored, e.g. {missing[:3]}")
    lingering = sorted((site.ever - site.current) & stored.keys())
    if lingering:
        trial.fail("store", f"{len(lingering)} deleted records still stored, e.g. {lingering[:3]}")
    for rid, record in site.records.items():
        article = stored.get(rid)
        if article is None:
            continue
        if article["title"] != record["title"]:
            trial.fail("store", f"{rid}: title {article['title']!r} != source {record['title']!r}")
        names = {t["name"] for t in article["tags"]}
        if not set(record["tags"]) <= names:
            trial.fail("store", f"{rid}: tags {sorted(names)} lack {sorted(record['tags'])}")


def check_outbox(site: Site, final: dict[str, bytes], trial: Trial) -> None:
    seen: dict[tuple[str, str, str], str] = {}
    editions: dict[str, set[str]] = {}  # subject (one per slot) -> addresses
    count = 0
    # The outbox is a Maildir: delivered messages wait in new/ (cur/ once handed on).
    boxes = [site.outbox / "new", site.outbox / "cur"]
    for path in sorted(p for box in boxes if box.is_dir() for p in box.iterdir() if p.is_file()):
        count += 1
        data = path.read_bytes()
        problem = check_eml(data)
        if problem:
            trial.fail("outbox", f"{path.name}: {problem}")
            continue
        message = email.message_from_bytes(data, policy=email.policy.default)
        key = (str(message["List-Id"]), str(message["Subject"]), str(message["To"]))
        if key in seen:
            trial.fail("outbox", f"{path.name} duplicates {seen[key]}")
        seen[key] = path.name
        editions.setdefault(str(message["Subject"]), set()).update(
            address.addr_spec.lower() for address in message["To"].addresses
        )
    pages = [k for k in final if k.startswith("archive/daily/") and not k.endswith("index.html")]
    pages = [k for k in pages if not hidden(k)]
    # Every archived edition reached its recipients (the demo list has several).
    if count < len(pages):
        trial.fail("outbox", f"{count} messages for {len(pages)} archived editions")
    if len(editions) != len(pages):
        trial.fail("outbox", f"messages of {len(editions)} editions, {len(pages)} archived")
    # No recipient lost: everyone who takes every tag of the daily digest is
    # in every edition (those with tag preferences may rightly be skipped).
    everyone = unconditional_recipients(site)
    for subject, recipients in sorted(editions.items()):
        lost = sorted(everyone - recipients)
        if lost:
            trial.fail("outbox", f"edition {subject!r} never reached {', '.join(lost)}")


def unconditional_recipients(site: Site) -> set[str]:
    """The seeded subscribers of ``daily`` with no tag preferences."""
    with (site.root / "samples" / "subscribers.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        row["email"].strip().lower()
        for row in rows
        if not (row.get("tags") or "").strip()
        and (not (row.get("digests") or "").strip() or "daily" in row["digests"])
    }


# --- timing ----------------------------------------------------------------------


def measure(site: Site) -> dict[str, tuple[float, float]]:
    """Each command's kill window: from a little before feedpub is imported
    (a bare `--help`) to a little after a typical run ends."""
    scratch = copy_site(site, site.root.with_name(site.root.name + "-timing"), None)
    if site.store_url:  # timing runs on a throwaway SQLite copy
        scratch.store_url = None
    t0 = time.monotonic()
    scratch.call("--help", NOW0)
    startup = time.monotonic() - t0
    timing: dict[str, tuple[float, float]] = {}
    for day, command in enumerate(("ingest", "build", "digest daily", "run")):
        # Every trial changes the sources first, so the timed runs do too.
        now = NOW0 + timedelta(days=day + 1)
        scratch.mutate(now)
        if command != "ingest":
            scratch.call("ingest", now)
        t0 = time.monotonic()
        rc, out = scratch.call(command, now)
        elapsed = time.monotonic() - t0
        if rc != 0:
            raise SystemExit(f"timing: {command} exited {rc}: {out}")
        timing[command] = (0.8 * startup, max(elapsed, startup) * 1.1)
    shutil.rmtree(scratch.root, ignore_errors=True)
    return timing


# --- the whole run ------------------------------------------------------------------


@dataclass
class Results:
    trials: list[Trial] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cut_short: bool = False  # --budget ran out before --trials were done (not a failure)
    lock: threading.Lock = field(default_factory=threading.Lock)


def worker(
    index: int,
    base: Path,
    numbers: list[int],
    args: argparse.Namespace,
    results: Results,
    deadline: float,
) -> None:
    rng = random.Random(f"{args.seed}-{index}")
    pg = pg_ref = None
    if args.postgres:
        name = f"feedpub_stress_{os.getpid()}_{index}"
        pg_exec(f'DROP DATABASE IF EXISTS "{name}"')
        pg_exec(f'CREATE DATABASE "{name}"')
        pg, pg_ref = pg_url(name), f"{name}_ref"
    try:
        site = make_site(base / f"site{index}", rng, args.articles, args.tags, pg)
        rc, out = site.call("run", NOW0)
        if rc != 0:
            raise RuntimeError(f"setup run exited {rc}: {out}")
        files = sum(1 for k in snapshot(site.public) if not hidden(k))
        timing = measure(site)
        with results.lock:
            windows = ", ".join(f"{c} {lo:.1f}-{hi:.1f}s" for c, (lo, hi) in timing.items())
            print(f"worker {index}: {files} files in public/; kill windows: {windows}", flush=True)
        for number in numbers:
            if time.monotonic() > deadline:
                with results.lock:
                    results.cut_short = True
                break
            trial = run_trial(site, number, timing, pg_ref, args.stale_every, args.at_write)
            with results.lock:
                results.trials.append(trial)
                status = "ok" if not trial.failures else "FAIL " + ",".join(trial.failures)
                moment = f"killed at {trial.delay:.2f}s" if trial.killed else "ended first"
                moment += " after 1st temp" if trial.aimed else ""
                moment += " mid-write" if trial.midway else ""
                print(f"trial {number:4d} {trial.command:<13} {moment:<26} {status}", flush=True)
                for check, details in trial.failures.items():
                    for detail in details[:3]:
                        print(f"      {check}: {detail}", flush=True)
    except Exception as exc:  # a harness error is a failure too, never a silent pass
        with results.lock:
            results.errors.append(f"worker {index}: {type(exc).__name__}: {exc}")
    finally:
        if pg:
            for name in (pg.rsplit("/", 1)[1], pg_ref):
                with contextlib.suppress(Exception):
                    pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def summarize(results: Results, args: argparse.Namespace) -> dict[str, Any]:
    per_command: dict[str, dict[str, int]] = {}
    for command in COMMANDS:
        trials = [t for t in results.trials if t.command == command]
        row = {"trials": len(trials), "killed": sum(t.killed for t in trials)}
        row["aimed"] = sum(t.aimed for t in trials)
        row["midway"] = sum(t.midway for t in trials)
        row["failed"] = sum(bool(t.failures) for t in trials)
        for check in CHECKS:
            row[check] = sum(check in t.failures for t in trials)
        per_command[command] = row
    return {
        "store": "postgresql" if args.postgres else "sqlite",
        "seed": args.seed,
        "trials": len(results.trials),
        "failed": sum(bool(t.failures) for t in results.trials),
        "errors": results.errors,
        "cut_short_by_budget": results.cut_short,
        "per_command": per_command,
        "failures": [
            {"trial": t.number, "command": t.command, "delay": round(t.delay, 3), **t.failures}
            for t in sorted(results.trials, key=lambda t: t.number)
            if t.failures
        ],
    }


def print_table(summary: dict[str, Any]) -> None:
    head = ["command", "trials", "killed", "aimed", "midway", "failed", *CHECKS]
    print(f"{head[0]:<13}" + "".join(f"{h:>9}" for h in head[1:]))
    rows = list(summary["per_command"].items())
    total = {k: sum(r[k] for _, r in rows) for k in head[1:]}
    for name, row in [*rows, ("total", total)]:
        print(f"{name:<13}" + "".join(f"{row[k]:>9}" for k in head[1:]))
    if summary["cut_short_by_budget"]:
        print("note: --budget ran out before every trial was run")
    for error in summary["errors"]:
        print(f"error: {error}")


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="feedpub-stress-"))
    try:
        yield base
    finally:
        if keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--postgres", action="store_true", help="store at 127.0.0.1:5432")
    parser.add_argument("--workers", type=int, default=2, help="independent sites in parallel")
    parser.add_argument("--articles", type=int, default=400, help="generated records")
    parser.add_argument("--tags", type=int, default=60, help="generated tags")
    parser.add_argument(
        "--stale-every", type=int, default=1, help="the stale check on every Nth trial (1: all)"
    )
    parser.add_argument(
        "--at-write",
        type=float,
        default=0.0,
        help="share of build/run trials killed 0-0.5 s after the first temp file (0-1)",
    )
    parser.add_argument("--budget", type=float, default=3600, help="stop after this many s")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "stress-results.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary sites")
    args = parser.parse_args(argv)

    started = time.monotonic()
    deadline = started + args.budget
    results = Results()
    workers = max(1, min(args.workers, args.trials))
    with workspace(args.keep) as base:
        threads = [
            threading.Thread(
                target=worker,
                args=(i, base, list(range(i, args.trials, workers)), args, results, deadline),
                daemon=True,
            )
            for i in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic() + 4 * PROC_TIMEOUT))
            if thread.is_alive():
                results.errors.append("a worker did not stop in time")
    summary = summarize(results, args)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print_table(summary)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"{summary['trials']} trials, {summary['failed']} failed; wrote {args.results.name}")
    return 1 if summary["failed"] or summary["errors"] or not summary["trials"] else 0


if __name__ == "__main__":
    sys.exit(main())
