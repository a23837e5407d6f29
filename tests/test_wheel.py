"""A built wheel, installed into a fresh venv outside the checkout, runs the
Quick start's main job on a copy of the samples and writes what a checkout
writes: the same feed files byte for byte, the same digest to the same
demo subscribers."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from email import message_from_bytes, policy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOW = "2026-11-29T08:00:00+03:00"
SECRET = "demo-secret-not-for-production"
QUIET = ("--disable-pip-version-check",)


def _site(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(REPO / "config.yaml", folder / "config.yaml")
    shutil.copytree(REPO / "samples", folder / "samples")
    return folder


def _run(feedpub: list[str], site: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FEEDPUB_"))}
    env.update(FEEDPUB_SECRET=SECRET, FEEDPUB_NOW=NOW)
    return subprocess.run(
        [*feedpub, "run"], cwd=site, env=env, capture_output=True, text=True, timeout=300
    )


def _tree(folder: Path) -> dict[str, str]:
    """Every published file's hash (the manifest records folder times, which
    differ between two runs)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".feedpub-manifest")
    }


def _mail(site: Path) -> list[tuple[str, str]]:
    found = []
    for path in sorted((site / "var" / "outbox" / "new").iterdir()):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found.append((str(message["To"]), str(message["Subject"])))
    return sorted(found)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``feedpub`` script of the built wheel in a venv of its own."""
    folder = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{built.stderr}")
    (wheel,) = folder.glob("feedpub-*.whl")
    venv.EnvBuilder(with_pip=True).create(folder / "venv")
    python = folder / "venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-compile", *QUIET, str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        pytest.fail(f"installing the wheel failed:\n{done.stderr}")
    return folder / "venv" / "bin"


def test_the_installed_wheel_runs_the_main_job_as_a_checkout_does(
    installed: Path, tmp_path: Path
) -> None:
    where = subprocess.run(
        [str(installed / "python"), "-c", "import feedpub, sys; print(feedpub.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert not Path(where.stdout.strip()).is_relative_to(REPO)  # not the checkout's code

    from_wheel = _site(tmp_path / "wheel-site")
    done = _run([str(installed / "feedpub")], from_wheel)
    assert done.returncode == 0, done.stderr
    from_checkout = _site(tmp_path / "checkout-site")
    done = _run([sys.executable, "-m", "feedpub"], from_checkout)
    assert done.returncode == 0, done.stderr

    wheel_tree = _tree(from_wheel / "public")
    assert "atom.xml" in wheel_tree and "index.html" in wheel_tree
    assert wheel_tree == _tree(from_checkout / "public")
    mail = _mail(from_wheel)
    assert len(mail) == 5  # the demo subscribers of samples/subscribers.csv
    assert mail == _mail(from_checkout)
