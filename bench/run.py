"""feedpub benchmarks: every scenario is a whole ``feedpub`` process (or the
naive feedgen baseline), timed from spawn to exit, with the peak RSS of that
child. Only the command line is used, so the suite survives refactors.

    .venv/bin/python bench/run.py --size M --repeat 3 [--postgres]

Rounds are interleaved (every scenario once, then every scenario again), so
drift on a noisy machine spreads over all scenarios alike; medians are
reported. Prints a markdown table and writes ``bench/results.json``. Exits 1
when a scenario failed, timed out, or did something other than expected
(rejects, a no-op build that writes, ...); never because of a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import corpus

BENCH_DIR = Path(__file__).resolve().parent
PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

_INGEST_LINE = re.compile(
    r"ingest: (?P<new>\d+) new, (?P<updated>\d+) updated, "
    r"(?P<unchanged>\d+) unchanged, (?P<rejected>\d+) rejected"
)
_BUILD_LINE = re.compile(
    r"build: (?P<written>\d+) written, (?P<unchanged>\d+) unchanged, (?P<removed>\d+) removed"
)
_WORK_LINE = re.compile(r"work: (?P<work_us>\d+) us")  # bench/inprocess.py


@dataclass(frozen=True)
class Scenario:
    name: str
    meaning: str
    kind: str  # "ingest", "build", "other": ingest gets records/s, build a ratio to naive
    timeout_base_s: float
    timeout_per_article_s: float

    def timeout_s(self, articles: int, scale: float) -> float:
        return (self.timeout_base_s + self.timeout_per_article_s * articles) * scale


# In the order of one round; later ones use the state earlier ones leave.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("process-start", "`feedpub --help`: interpreter and imports", "other", 60, 0),
    Scenario("naive", "naive feedgen: JSONL -> newest 20 per feed, Atom + RSS", "other", 60, 0.01),
    Scenario("ingest-records-sqlite", "ingest the JSONL records into an empty SQLite store",
             "ingest", 120, 0.05),
    Scenario("build-first", "first build after that ingest, empty output folder", "build",
             120, 0.05),
    Scenario("build-noop", "build again, nothing changed", "build", 120, 0.05),
    Scenario("build-full", "full rebuild: output folder deleted, store kept", "build",
             120, 0.05),
    Scenario("write-floor", "the files build-full left, as many and as big, written by a bare "
             "loop + one syncfs (bench/floor.py)", "build", 120, 0.05),
    Scenario("build-incremental", "build after one new article (one new record file, ingested)",
             "build", 120, 0.05),
    Scenario("build-incremental-work", "the same after another new article, the build timed "
             "inside the process, its imports apart (bench/inprocess.py: work ms)", "build",
             120, 0.05),
    Scenario("reingest-unchanged", "ingest again over the unchanged sources", "ingest",
             120, 0.05),
    Scenario("ingest-pages-sqlite", "ingest the scraped pages into an empty SQLite store",
             "ingest", 120, 0.1),
    Scenario("ingest-records-postgres", "ingest the JSONL records into an empty PostgreSQL schema",
             "ingest", 120, 0.1),
    Scenario("build-first-postgres", "first build from that PostgreSQL store", "build",
             120, 0.05),
)  # fmt: skip
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)
POSTGRES_SCENARIOS = ("ingest-records-postgres", "build-first-postgres")


@dataclass
class Sample:
    wall_s: float
    cpu_s: float  # user + system of the child: less disturbed by a busy machine than wall time
    peak_rss_mb: float
    exit_code: int | None  # None: killed at the timeout
    counts: dict[str, int] = field(default_factory=dict)  # from the summary line


@dataclass
class ScenarioResult:
    name: str
    meaning: str
    kind: str
    samples: list[Sample] = field(default_factory=list)
    skipped: str | None = None

    def ok_samples(self) -> list[Sample]:
        return [s for s in self.samples if s.exit_code == 0]

    def median_wall_s(self) -> float | None:
        ok = self.ok_samples()
        return statistics.median(s.wall_s for s in ok) if ok else None

    def median_cpu_s(self) -> float | None:
        ok = self.ok_samples()
        return statistics.median(s.cpu_s for s in ok) if ok else None

    def median_rss_mb(self) -> float | None:
        ok = self.ok_samples()
        return statistics.median(s.peak_rss_mb for s in ok) if ok else None


def run_child(
    argv: list[str], *, cwd: Path, env: dict[str, str], timeout_s: float, log: Path
) -> Sample:
    """Run one whole process; wall time from spawn to reaping, peak RSS from
    wait4's rusage of exactly that child. Killed (with its process group)
    after ``timeout_s``."""
    timed_out = threading.Event()
    with log.open("wb") as out:
        started = time.perf_counter()
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so a timeout kills what it started too
        )

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:  # interrupted: leave no feedpub running behind us
            kill()
            os.wait4(child.pid, 0)
            child.returncode = -signal.SIGKILL
            raise
        finally:
            timer.cancel()
        wall_s = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    text = log.read_text(encoding="utf-8", errors="replace")
    counts: dict[str, int] = {}
    for pattern in (_INGEST_LINE, _BUILD_LINE, _WORK_LINE):
        found = pattern.search(text)
        if found:
            counts.update({key: int(value) for key, value in found.groupdict().items()})
    return Sample(
        wall_s=round(wall_s, 4),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 4),
        peak_rss_mb=round(usage.ru_maxrss * 1024 / 1e6, 1),  # ru_maxrss is KiB on Linux
        exit_code=None if timed_out.is_set() else child.returncode,
        counts=counts,
    )


def feedpub_command() -> list[str]:
    script = Path(sys.executable).parent / "feedpub"
    return [str(script)] if script.exists() else [sys.executable, "-m", "feedpub"]


def child_env(store_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPUB_")}
    env["FEEDPUB_NOW"] = corpus.BENCH_NOW  # the same clock for every run
    if store_url is not None:
        env["FEEDPUB_STORE_URL"] = store_url
    return env


def postgres_problem() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_CONNINFO) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: skip, with the reason
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _postgres_schema(action: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    statement = "CREATE SCHEMA {}" if action == "create" else "DROP SCHEMA IF EXISTS {} CASCADE"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(schema)))


def ensure_corpus(work: Path, articles: int, tags: int, seed: int) -> corpus.CorpusInfo:
    """The corpus for these parameters, generated once and reused while the
    generator's source is unchanged."""
    stamp = hashlib.sha256(Path(corpus.__file__).read_bytes()).hexdigest()[:12]
    root = work / f"corpus-{articles}-{tags}-{seed}"
    marker = root / "corpus.json"
    wanted = {"articles": articles, "tags": tags, "seed": seed, "generator": stamp}
    if marker.exists() and json.loads(marker.read_text(encoding="utf-8")) == wanted:
        return corpus.CorpusInfo(root=root, articles=articles, tags=tags, seed=seed)
    print(f"generating the corpus: {articles} articles, {tags} tags ...", flush=True)
    # In a child of its own: on Linux a child's peak RSS starts at its parent's
    # RSS at fork, so this process must stay small for every measurement after.
    sizes = ["--articles", str(articles), "--tags", str(tags), "--seed", str(seed)]
    generator = [sys.executable, str(BENCH_DIR / "corpus.py"), "--out", str(root)]
    subprocess.run([*generator, *sizes], check=True)
    marker.write_text(json.dumps(wanted), encoding="utf-8")
    return corpus.CorpusInfo(root=root, articles=articles, tags=tags, seed=seed)


def machine_facts() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 10**6
    facts: dict[str, object] = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "memory_mb": memory_mb,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        facts["feedpub_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return facts


class Round:
    """One pass over the scenarios, in a fresh folder of its own."""

    def __init__(
        self,
        number: int,
        info: corpus.CorpusInfo,
        folder: Path,
        logs: Path,
        timeout_scale: float,
    ) -> None:
        self.number = number
        self.info = info
        self.folder = folder
        self.logs = logs
        self.timeout_scale = timeout_scale
        self.feedpub = feedpub_command()
        self.trash = folder.parent / "trash"
        set_aside(folder, self.trash)
        self.extra = folder / "extra"  # the incremental scenario's new record file goes here
        self.extra.mkdir(parents=True)
        self.records_config = corpus.write_config(
            folder / "records", [info.records.resolve(), self.extra.resolve()]
        )
        self.pages_config = corpus.write_config(folder / "pages", [info.pages.resolve()])
        self.postgres_config = corpus.write_config(folder / "postgres", [info.records.resolve()])
        self.schema: str | None = None

    def run(self, scenario: Scenario, argv: list[str], config: Path | None, **env: str) -> Sample:
        return run_child(
            argv,
            cwd=config.parent if config else self.folder,
            env=child_env(env.get("store_url")),
            timeout_s=scenario.timeout_s(self.info.articles, self.timeout_scale),
            log=self.logs / f"round{self.number}-{scenario.name}.log",
        )

    def feedpub_run(self, scenario: Scenario, config: Path, command: str, **env: str) -> Sample:
        return self.run(scenario, [*self.feedpub, "--config", str(config), command], config, **env)

    def scenario(self, scenario: Scenario) -> Sample:
        name = scenario.name
        records = self.records_config
        if name == "process-start":
            return self.run(scenario, [*self.feedpub, "--help"], None)
        if name == "naive":
            naive = [sys.executable, str(BENCH_DIR / "naive.py"), str(self.info.records)]
            return self.run(scenario, [*naive, str(self.folder / "naive")], None)
        if name == "ingest-records-sqlite":
            return self.feedpub_run(scenario, records, "ingest")
        if name in ("build-first", "build-noop"):
            return self.feedpub_run(scenario, records, "build")
        if name == "build-full":
            set_aside(records.parent / "public", self.trash)
            return self.feedpub_run(scenario, records, "build")
        if name == "write-floor":
            floor = [sys.executable, str(BENCH_DIR / "floor.py"), str(records.parent / "public")]
            sample = self.run(scenario, [*floor, str(self.folder / "floor")], None)
            set_aside(self.folder / "floor", self.trash)
            return sample
        if name in ("build-incremental", "build-incremental-work"):
            # A new article each (round 1: 1 and 2), its record file ingested untimed.
            serial = 2 * self.number - (name == "build-incremental")
            record = corpus.new_article_record(serial, self.info.tags)
            (self.extra / f"new-{serial:04d}.jsonl").write_text(
                json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            ingested = self.feedpub_run(scenario, records, "ingest")
            if ingested.exit_code != 0:
                return ingested
            if name == "build-incremental":
                return self.feedpub_run(scenario, records, "build")
            inprocess = [sys.executable, str(BENCH_DIR / "inprocess.py")]
            return self.run(scenario, [*inprocess, "--config", str(records)], records)
        if name == "reingest-unchanged":
            return self.feedpub_run(scenario, records, "ingest")
        if name == "ingest-pages-sqlite":
            return self.feedpub_run(scenario, self.pages_config, "ingest")
        if name == "ingest-records-postgres":
            self.schema = f"bench_{uuid.uuid4().hex[:12]}"
            _postgres_schema("create", self.schema)
            return self.feedpub_run(
                scenario, self.postgres_config, "ingest", store_url=self.postgres_url()
            )
        if name == "build-first-postgres":
            return self.feedpub_run(
                scenario, self.postgres_config, "build", store_url=self.postgres_url()
            )
        raise ValueError(f"unknown scenario {name}")

    def postgres_url(self) -> str:
        # libpq "options" reaches psycopg through the URL query string.
        return f"{PG_URL}?options=-csearch_path%3D{self.schema}"

    def close(self) -> None:
        if self.schema is not None:
            _postgres_schema("drop", self.schema)
        set_aside(self.folder, self.trash)


def set_aside(folder: Path, trash: Path) -> None:
    """Move ``folder`` out of the way, to be deleted when every round is done.

    Deleting a tree of thousands of files just before a timed scenario slows
    the scenario's own file creation on ext4 for a minute or more (inode
    allocation scans the recently deleted inodes: `recently_deleted` in a
    profile, 1-3 ms per new file here), which would time the file system's
    bookkeeping of the previous scenario instead of feedpub. A rename costs
    nothing; the trash is emptied after the last round (``empty_trash``)."""
    if folder.exists():
        trash.mkdir(parents=True, exist_ok=True)
        folder.rename(trash / f"{folder.name}-{uuid.uuid4().hex[:8]}")


def empty_trash(trash: Path) -> None:
    shutil.rmtree(trash, ignore_errors=True)


def expected_problems(
    name: str, sample: Sample, info: corpus.CorpusInfo, number: int, extra_articles: int = 1
) -> list[str]:
    """What a sample did that it should not have, timings aside.
    ``extra_articles``: the new articles the incremental scenario added."""
    if sample.exit_code is None:
        return ["timed out"]
    if sample.exit_code != 0:
        return [f"exit code {sample.exit_code}"]
    counts = sample.counts
    problems = []
    expect: dict[str, int] = {}
    if name.startswith("ingest-"):
        expect = {"new": info.articles, "rejected": 0}
    elif name == "reingest-unchanged":
        # the corpus plus the new article of the incremental scenario, if it ran
        expect = {
            "new": 0,
            "updated": 0,
            "unchanged": info.articles + extra_articles,
            "rejected": 0,
        }
    elif name == "build-noop":
        expect = {"written": 0, "removed": 0}
    elif name in ("build-incremental", "build-incremental-work"):
        # the main feeds and the feeds of the article's two tags, in three
        # formats, and those two tags' topic pages
        expect = {"written": 11, "removed": 0}
    for key, value in expect.items():
        if counts.get(key) != value:
            problems.append(f"{key} {counts.get(key)}, expected {value}")
    return problems


def run_rounds(
    info: corpus.CorpusInfo,
    work: Path,
    scenarios: list[Scenario],
    repeat: int,
    skipped: dict[str, str],
    timeout_scale: float,
    progress: Callable[[str], None],
) -> tuple[dict[str, ScenarioResult], list[str]]:
    results = {
        s.name: ScenarioResult(s.name, s.meaning, s.kind, skipped=skipped.get(s.name))
        for s in scenarios
    }
    logs = work / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    problems: list[str] = []
    empty_trash(work / "trash")  # a previous run's, before anything is timed
    for number in range(1, repeat + 1):
        current = Round(number, info, work / "round", logs, timeout_scale)
        try:
            for scenario in scenarios:
                if scenario.name in skipped:
                    continue
                sample = current.scenario(scenario)
                results[scenario.name].samples.append(sample)
                extra = len(list(current.extra.glob("*.jsonl")))
                found = expected_problems(scenario.name, sample, info, number, extra)
                problems += [f"{scenario.name} (round {number}): {p}" for p in found]
                state = "ok" if not found else "; ".join(found)
                progress(
                    f"round {number}/{repeat} {scenario.name:<24} {sample.wall_s:9.3f} s "
                    f"{sample.cpu_s:9.3f} s CPU "
                    f"{sample.peak_rss_mb:8.1f} MB  {state}"
                )
        finally:
            current.close()
    empty_trash(work / "trash")
    return results, problems


def summarise(results: dict[str, ScenarioResult], articles: int) -> list[dict[str, object]]:
    naive = results.get("naive")
    naive_s = naive.median_wall_s() if naive else None
    rows: list[dict[str, object]] = []
    for result in results.values():
        median = result.median_wall_s()
        ratio = None
        if result.kind == "build" and median and naive_s:
            ratio = round(naive_s / median, 3)
        per_s = None
        if result.kind == "ingest" and median:
            per_s = round(articles / median, 1)
        works = [s.counts["work_us"] for s in result.ok_samples() if "work_us" in s.counts]
        work_ms = round(statistics.median(works) / 1000, 1) if works else None
        rows.append(
            {
                "scenario": result.name,
                "meaning": result.meaning,
                "median_wall_s": round(median, 4) if median is not None else None,
                "median_cpu_s": result.median_cpu_s(),
                "ratio_to_naive": ratio,
                "median_peak_rss_mb": result.median_rss_mb(),
                "records_per_s": per_s,
                "median_work_ms": work_ms,
                "runs": len(result.ok_samples()),
                "skipped": result.skipped,
                "samples": [asdict(s) for s in result.samples],
            }
        )
    return rows


def markdown_table(rows: list[dict[str, object]]) -> str:
    def cell(value: object, form: str) -> str:
        return "–" if value is None else format(value, form)

    lines = [
        "| scenario | median wall s | median CPU s | ratio to naive | peak RSS MB | records/s "
        "| in-process work ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row["skipped"]:
            lines.append(f"| {row['scenario']} | skipped: {row['skipped']} | | | | | |")
            continue
        lines.append(
            f"| {row['scenario']} | {cell(row['median_wall_s'], '.3f')} "
            f"| {cell(row['median_cpu_s'], '.3f')} "
            f"| {cell(row['ratio_to_naive'], '.2f')} | {cell(row['median_peak_rss_mb'], '.0f')} "
            f"| {cell(row['records_per_s'], ',.0f')} | {cell(row.get('median_work_ms'), '.1f')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(corpus.SIZES), default="S")
    parser.add_argument("--articles", type=int, help="override the size's article count")
    parser.add_argument("--tags", type=int, help="override the size's tag count")
    parser.add_argument("--seed", type=int, default=corpus.DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians need 3 or more)")
    parser.add_argument("--postgres", action="store_true", help="also ingest into PostgreSQL")
    parser.add_argument(
        "--only", help=f"comma-separated scenarios to run (of {', '.join(SCENARIO_NAMES)})"
    )
    parser.add_argument(
        "--timeout-scale", type=float, default=1.0, help="multiply every scenario's timeout"
    )
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "work", help="scratch folder")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.json")
    args = parser.parse_args(argv)

    articles, tags = corpus.SIZES[args.size]
    articles, tags = args.articles or articles, args.tags or tags
    scenarios = list(SCENARIOS)
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - set(SCENARIO_NAMES)
        if unknown:
            parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
        scenarios = [s for s in SCENARIOS if s.name in wanted]
    skipped: dict[str, str] = {}
    if not args.postgres:
        skipped.update(dict.fromkeys(POSTGRES_SCENARIOS, "not asked for (--postgres)"))
    else:
        problem = postgres_problem()
        if problem is not None:
            reason = f"PostgreSQL at 127.0.0.1:5432 unreachable: {problem}"
            print(f"skipping the PostgreSQL scenarios: {reason}", flush=True)
            skipped.update(dict.fromkeys(POSTGRES_SCENARIOS, reason))

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    info = ensure_corpus(work, articles, tags, args.seed)
    started = time.time()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    results, problems = run_rounds(
        info,
        work,
        scenarios,
        args.repeat,
        skipped,
        args.timeout_scale,
        lambda line: print(line, flush=True),
    )
    rows = summarise(results, articles)
    report = {
        "machine": machine_facts(),
        "corpus": {"size": args.size if not (args.articles or args.tags) else "custom",
                   "articles": articles, "tags": tags, "seed": args.seed},
        "repeat": args.repeat,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "elapsed_s": round(time.time() - started, 1),
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "parent_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1
        ),
        "problems": problems,
        "scenarios": rows,
    }  # fmt: skip
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    facts = report["machine"]
    assert isinstance(facts, dict)
    print()
    print(
        f"{articles} articles, {tags} tags; median of {args.repeat}; "
        f"{facts['nproc']} cores {facts['cpu_model']}, Python {facts['python']}"
    )
    print(markdown_table(rows))
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print(f"results: {args.results}")
    return 1 if problems else 0


if __name__ == "__main__":
    # A plain kill becomes SystemExit, so run_child can stop its child first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise SystemExit(main())
