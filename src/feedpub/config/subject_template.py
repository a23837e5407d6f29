"""The check of a digest subject template (config key email.subject): the
only part of the config that needs jinja2, so it is imported when a config
sets a subject, not on every command's start."""

from __future__ import annotations

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment

# The names a digest subject may use (digests renders it with these).
SUBJECT_NAMES = (
    "site_title",
    "digest_title",
    "date",
    "hijri_date",
    "count",
    "count_text",
    "dropped",
)
# The names an alert's subject may use: the article's title instead of counts.
ALERT_NAMES = ("site_title", "digest_title", "title", "date", "hijri_date")
# Filters that cannot make the subject grow much beyond its input.
_SUBJECT_FILTERS = frozenset(
    ("trim", "upper", "lower", "title", "capitalize", "default", "d", "string", "truncate")
)
# Template nodes a subject needs: text, names, filters, if/else, comparisons.
# Everything else (calls, attribute access, loops, ``**``) is refused before
# Jinja compiles it: the optimiser folds ``9**9**9`` at compile time.
_SUBJECT_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.Filter,
    nodes.If,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.Test,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Concat,
    nodes.Keyword,
)
_SANDBOX = SandboxedEnvironment(autoescape=False)


def _big_number(value: object) -> bool:
    return isinstance(value, int | float) and abs(value) > 1000


def check(
    value: str, problem: str | None = None, names: tuple[str, ...] = SUBJECT_NAMES
) -> str | None:
    """A digest subject template: Jinja2 syntax, the known names only, no
    attribute access, calls or loops; it must render with sample values.
    ``problem``: what the plain-text checks found already."""
    if problem:
        return problem
    try:
        tree = _SANDBOX.parse(value)
    except TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _SUBJECT_NODES):
            return f"template uses {type(node).__name__.lower()}, which subjects may not"
        if isinstance(node, nodes.Name) and node.name not in names:
            return f"unknown name {node.name!r} (known: {', '.join(names)})"
        if isinstance(node, nodes.Filter) and node.name not in _SUBJECT_FILTERS:
            return f"filter {node.name!r} is not allowed in subjects"
        if isinstance(node, nodes.Const) and _big_number(node.value):
            return "numbers in subjects must be at most 1000"
    try:
        _SANDBOX.from_string(value).render(dict.fromkeys(names, "1"))
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        return f"template does not render: {exc}"
    return None
