"""The layering rule from the package docstring: a module imports feedpub
modules of a strictly lower layer only, and each wrapped library is imported
by its one module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import feedpub

PACKAGE = Path(feedpub.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")

# library -> the one module allowed to import it
WRAPPED = {
    "feedgen": "feeds",
    "premailer": "inline",
    "cssutils": "inline",
    "apscheduler": "scheduler",
    "sqlalchemy": "store",
    "nh3": "sanitize",
}


def imports_of(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "feedpub":
                # "from feedpub import pipeline" names a module; "__version__" does not
                found.update(f"feedpub.{a.name}" for a in node.names if a.name in MODULES)
            else:
                found.add(node.module)
    return found


def test_every_module_has_a_layer() -> None:
    missing = [m for m in MODULES if m not in feedpub.LAYERS]
    assert not missing, f"add these modules to feedpub.LAYERS: {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_only_lower_layers(module: str) -> None:
    own = feedpub.LAYERS[module]
    for name in imports_of(module):
        if not name.startswith("feedpub."):
            continue
        target = name.split(".")[1]
        assert feedpub.LAYERS[target] < own, (
            f"{module} (layer {own}) imports {target} (layer {feedpub.LAYERS[target]})"
        )


@pytest.mark.parametrize("module", MODULES)
def test_wrapped_libraries_are_imported_by_their_module_only(module: str) -> None:
    for name in imports_of(module):
        library = name.split(".")[0]
        if library in WRAPPED:
            assert WRAPPED[library] == module, f"{module} imports {library}"


def test_only_the_entry_points_read_the_clock() -> None:
    offenders = []
    for module in MODULES:
        if module in ("cli", "__main__"):
            continue
        text = (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
        for needle in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
            if needle in text:
                offenders.append(f"{module}: {needle}")
    assert not offenders, offenders
