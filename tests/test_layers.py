"""The rules of the package docstring, checked on every import in the code:
layers, entry points through ``app``, one module per wrapped library, and
the clock read only at the top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import feedpub

PACKAGE = Path(feedpub.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {
    _module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if path != PACKAGE / "__init__.py"
}

# library -> the modules allowed to import it (a name ending in "." allows a package)
WRAPPED = {
    "feedgen": ("feeds.atom", "feeds.rss"),
    "premailer": ("digests.inline",),
    "cssutils": ("digests.inline",),
    "apscheduler": ("service",),
    "cronsim": ("cron",),
    "sqlalchemy": ("store.",),
    "nh3": ("text.sanitize",),
    "babel": ("text.rtl",),
    "flufl": ("inbound.formats",),
    "dkim": ("delivery.dkim",),
    "cryptography": ("delivery.dkim",),
    "hijridate": ("text.hijri",),
    "trafilatura": ("ingest.html_body",),
    "extruct": ("ingest.html_meta",),
    "httpx": ("ingest.http",),
    "waitress": ("web.server",),
}
ENTRY_POINTS = ("cli", "service", "web")
ENTRY_POINTS_MAY_IMPORT = {"app", "config", "model", "cron", "text", "service", "web"}
ENTRY_POINTS_MAY_IMPORT |= {"tokens", "templating"}  # signed links; the web pages


def unit(module: str) -> str:
    """The top-level module or package a module belongs to ("feeds.atom" -> "feeds")."""
    return module.split(".")[0]


def imports_of(module: str) -> set[str]:
    """Every module name ``module`` imports; feedpub ones absolute, with
    ``from feedpub.x import y`` naming "feedpub.x.y" when y is a module."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:  # relative: resolve against the module's package
                parts = ["feedpub", *filter(None, package.split("."))]
                base = parts[: len(parts) - (node.level - 1)]
                source = ".".join([*base, *filter(None, [node.module])])
            if source != "feedpub" and not source.startswith("feedpub."):
                found.add(source)
                continue
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if candidate.removeprefix("feedpub.") in MODULES else source)
    return found - {"feedpub"}


def feedpub_targets(module: str) -> set[str]:
    return {n.removeprefix("feedpub.") for n in imports_of(module) if n.startswith("feedpub.")}


def test_every_unit_has_a_layer() -> None:
    missing = sorted({unit(m) for m in MODULES} - set(feedpub.LAYERS))
    assert not missing, f"add these to feedpub.LAYERS: {missing}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_lower_layers_or_its_own_package(module: str) -> None:
    own = unit(module)
    for target in feedpub_targets(module):
        other = unit(target)
        if other == own:
            continue
        assert feedpub.LAYERS[other] < feedpub.LAYERS[own], (
            f"{module} (layer {feedpub.LAYERS[own]}) imports {target} "
            f"(layer {feedpub.LAYERS[other]})"
        )


@pytest.mark.parametrize("module", [m for m in sorted(MODULES) if unit(m) in ENTRY_POINTS])
def test_entry_points_reach_the_stages_through_app(module: str) -> None:
    stages = {unit(t) for t in feedpub_targets(module)} - ENTRY_POINTS_MAY_IMPORT - {unit(module)}
    assert not stages, f"{module} imports {sorted(stages)}: go through feedpub.app"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_wrapped_libraries_are_imported_by_their_module_only(module: str) -> None:
    for name in imports_of(module):
        allowed = WRAPPED.get(name.split(".")[0])
        if allowed is None:
            continue
        assert any(
            module == a or (a.endswith(".") and module.startswith(a)) or module == a.rstrip(".")
            for a in allowed
        ), f"{module} imports {name}; only {allowed} may"


def test_only_the_entry_points_read_the_clock() -> None:
    offenders = []
    for module, path in MODULES.items():
        if unit(module) in ENTRY_POINTS or module == "__main__":
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
            if needle in text:
                offenders.append(f"{module}: {needle}")
    assert not offenders, offenders


def test_the_rules_see_the_imports_they_judge() -> None:
    # The walker itself: without it every rule above would pass vacuously.
    assert "model" in feedpub_targets("app")
    assert "sqlalchemy" in {name.split(".")[0] for name in imports_of("store.sql")}


def test_the_store_parts_a_no_op_build_uses_need_no_sql_library() -> None:
    """``store.interface`` and ``store.probe`` are what a no-op build and the
    front ends' error handling import; the package's ``__init__`` loads the
    SQLAlchemy parts on first use (``SqlStore``)."""
    for module in ("store.interface", "store.probe"):
        outside = {n.split(".")[0] for n in imports_of(module) if not n.startswith("feedpub.")}
        assert outside <= set(sys.stdlib_module_names), (module, outside)
        assert feedpub_targets(module) <= {"model", "store.interface"}, module
    probe = (
        "import sys\n"
        "import feedpub.app, feedpub.store, feedpub.store.probe\n"
        "from feedpub.store import StoreError, LockHolder, SCHEMA_VERSION\n"
        "print('sqlalchemy' in sys.modules)\n"
        "from feedpub.store import SqlStore\n"
        "print('sqlalchemy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
