"""The shipped samples, built by the CLI as an operator would, must give the
bytes pinned in ``tests/golden/sample-build.sha256`` (made by the code of
cd73495, see tests/fixtures/README.md): a restructure may move code, not
change output. FEEDPUB_REGEN_GOLDEN=1 rewrites the list when a change of
output is intended (say why in the commit).

The ``archive/`` pages are the digests' files; they are compared too, and a
difference there alone is the digests' to explain."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import feedparser

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden" / "sample-build.sha256"
REGEN = os.environ.get("FEEDPUB_REGEN_GOLDEN") == "1"
NOW = "2026-11-29T08:00:00+03:00"
# One record the ingest rejects (no title, no text): the fixture run had one reject.
BAD_RECORD = '{"id": "broken-record", "published": "2026-11-25T10:00:00+03:00"}\n'


def _sample_site(root: Path) -> Path:
    """The shipped config.yaml and samples, plus one source with a bad record."""
    shutil.copytree(REPO / "samples", root / "samples")
    (root / "extra").mkdir()
    (root / "extra" / "bad.jsonl").write_text(BAD_RECORD, encoding="utf-8")
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    sources = "  - path: samples/records\n"
    assert sources in text, "config.yaml no longer lists samples/records"
    config = root / "config.yaml"
    config.write_text(text.replace(sources, sources + "  - path: extra\n"), encoding="utf-8")
    return config


def _hash_lines(public: Path) -> list[str]:
    """``sha256sum`` lines as ``cd public && find . -type f | sort | xargs sha256sum``
    gives them (dotfiles left out: the manifest and the lock are not served)."""
    files = sorted(
        (p.relative_to(public).as_posix() for p in public.rglob("*") if p.is_file()),
        key=lambda rel: rel.encode("utf-8"),
    )
    return [
        f"{hashlib.sha256((public / rel).read_bytes()).hexdigest()}  ./{rel}"
        for rel in files
        if not any(part.startswith(".") for part in rel.split("/"))
    ]


def test_the_sample_build_is_byte_identical_to_the_pinned_hashes(tmp_path: Path) -> None:
    config = _sample_site(tmp_path)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("FEEDPUB_STORE_URL", "FEEDPUB_CONFIG", "FEEDPUB_TEMPLATES")
    }
    env["FEEDPUB_NOW"] = NOW
    env["FEEDPUB_SECRET"] = "sample-build-secret-0123456789"  # the demo list needs one
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(config), "-v", "run"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].endswith(" 1 rejected"), done.stdout

    public = tmp_path / "public"
    actual = _hash_lines(public)
    if REGEN:
        GOLDEN.write_text("\n".join(actual) + "\n", encoding="utf-8", newline="\n")
    expected = GOLDEN.read_text(encoding="utf-8").splitlines()
    paths = [line.split("  ", 1)[1] for line in expected]
    assert [line.split("  ", 1)[1] for line in actual] == paths, "other files than pinned"
    differing = [b for a, b in zip(actual, expected, strict=True) if a != b]
    assert differing == [], f"{len(differing)} file(s) differ from the pinned build"

    for path in paths:
        if path.endswith((".xml",)):
            parsed = feedparser.parse((public / path).read_bytes())
            assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
