"""The Jinja2 environment: templates compiled once per process and cached.

Templates live in the project's top-level ``templates/`` folder; a built
wheel carries them inside the package (``feedpub/templates``, hatch's
force-include). ``FEEDPUB_TEMPLATES`` points elsewhere (a site's own look).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

TEMPLATES_ENV = "FEEDPUB_TEMPLATES"


def templates_dir() -> Path:
    override = os.environ.get(TEMPLATES_ENV)
    candidates = [Path(override)] if override else []
    here = Path(__file__).resolve().parent
    candidates += [
        here / "templates",  # an installed wheel
        here.parents[1] / "templates",  # a checkout, or an editable install of one
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "feedpub templates not found (looked in: " + ", ".join(map(str, candidates)) + ")"
    )


@cache
def environment(folder: Path | None = None) -> jinja2.Environment:
    """One environment per templates folder; Jinja caches each compiled
    template inside it, so a template is compiled once per process."""
    # Imported here: a build that renders no page (most) needs only the
    # templates' text for its stamp, not jinja2's import.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder or templates_dir())),
        autoescape=True,  # every template renders HTML or text from untrusted articles
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(name: str, /, **context: object) -> str:
    return environment().get_template(name).render(**context)
