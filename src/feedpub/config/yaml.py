"""YAML read with bounds: pyyaml's safe loader, plus what it lacks.

pyyaml's ``SafeLoader`` refuses arbitrary objects, but it still expands
aliases without limit (a 600-byte "billion laughs" file becomes a billion
strings once anything walks it) and recurses without limit on nesting. What
is written by hand here is only what pyyaml has no option for:

* a count of alias events while composing, and a bound on the nodes the
  aliases add (counted on the composed graph, shared nodes once per use);
* a nesting bound while composing (before pyyaml's own recursion would hit
  Python's limit);
* line numbers per key path and refusal of a key given twice in a mapping,
  for config messages (pyyaml keeps the last value silently).

Used for ``config.yaml`` and for ``*.yaml`` records (by ``ingest.records``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode


class YamlError(ValueError):
    """Unreadable or over-limit YAML; ``line`` is 1-based where known."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(" ".join(problem.split()))
        self.problem = " ".join(problem.split())
        self.line = line


@dataclass(frozen=True)
class Limits:
    max_aliases: int = 100
    # Nodes that aliases may add beyond the nodes written in the text.
    max_alias_nodes: int = 10_000
    max_depth: int = 64
    # The setting a breach is reported against (e.g. "ingest.max_depth").
    depth_name: str = "nesting depth"
    # Levels above the one the setting counts from (a list of records).
    depth_offset: int = 0


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, text: str, limits: Limits) -> None:
        super().__init__(text)
        self._limits = limits
        self._aliases = 0
        self._depth = 0

    def _line(self) -> int:
        return int(self.peek_event().start_mark.line) + 1  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self._limits.max_aliases:
                line = self._line()
                raise YamlError(f"more than {self._limits.max_aliases} aliases", line)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            limits = self._limits
            if self._depth > limits.max_depth:
                line = self._line()
                shown = limits.max_depth - limits.depth_offset
                raise YamlError(f"nested deeper than {limits.depth_name} ({shown})", line)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose(text: str, limits: Limits) -> Node | None:
    """One YAML document -> its node graph, or YamlError."""
    try:
        # The reader checks every character for printability right here.
        loader = _BoundedLoader(text, limits)
    except yaml.YAMLError as exc:
        raise YamlError(*_describe(exc)) from None
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise YamlError(*_describe(exc)) from None
    finally:
        loader.dispose()
    if root is not None:
        _check_expansion(root, limits)
    return root


def construct(node: Node | None) -> Any:
    """The Python value of a composed document (safe types only)."""
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise YamlError(*_describe(exc)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        # pyyaml lets these through for values such as "2026-02-31".
        raise YamlError(f"bad value: {exc}", node.start_mark.line + 1) from None
    finally:
        loader.dispose()


def safe_load(text: str, limits: Limits) -> Any:
    return construct(compose(text, limits))


def line_map(root: Node | None, *, refuse_duplicates: bool = True) -> dict[str, int]:
    """Key path ("feeds.items", "sources[0].path") -> 1-based line number.
    A key given twice in one mapping is a YamlError naming both lines: YAML
    would keep the last silently, dropping (say) a whole ``site`` section."""
    lines: dict[str, int] = {}

    def walk(node: Node, path: str) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                child = f"{path}.{key_node.value}" if path else str(key_node.value)
                line = key_node.start_mark.line + 1
                merge = key_node.tag == "tag:yaml.org,2002:merge"
                if refuse_duplicates and not merge and child in seen:
                    raise DuplicateKey(child, line, seen[child])
                seen[child] = line
                lines[child] = line
                walk(value_node, child)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    if root is not None:
        walk(root, "")
    return lines


class DuplicateKey(YamlError):
    def __init__(self, key: str, line: int, first: int) -> None:
        super().__init__(f"given twice (first on line {first})", line)
        self.key = key


def _check_expansion(root: Node, limits: Limits) -> None:
    """Refuse a graph whose aliases add more than ``max_alias_nodes`` nodes,
    or that refers to itself (``&a [*a]``): walking it would not end."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in open_:
            raise YamlError("an alias refers to a node that contains it", node.start_mark.line + 1)
        open_.add(id(node))
        total = 1
        if isinstance(node, MappingNode):
            for key, value in node.value:
                total += size(key) + size(value)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                total += size(item)
        open_.discard(id(node))
        sizes[id(node)] = total
        return total

    expanded = size(root)
    if expanded - len(sizes) > limits.max_alias_nodes:
        raise YamlError(
            f"aliases expand to {expanded} nodes (more than {limits.max_alias_nodes} "
            "beyond those written)",
            root.start_mark.line + 1,
        )


def _describe(exc: yaml.YAMLError) -> tuple[str, int | None]:
    if isinstance(exc, YamlError):
        return exc.problem, exc.line
    if isinstance(exc, yaml.reader.ReaderError):
        # Raised before any line is known: a control character or bad byte.
        char = exc.character
        shown = f"#x{ord(char):04x}" if isinstance(char, str) else f"byte {char!r}"
        return f"unacceptable character {shown} at offset {exc.position}", None
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    return str(problem), (mark.line + 1 if mark is not None else None)
