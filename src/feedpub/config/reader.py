"""Reading one section of the parsed YAML: typed values, bounds, unknown
keys, and ``file:line: key: reason`` for every problem."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from feedpub.config import checks
from feedpub.config.schema import ConfigError

T = TypeVar("T")

REQUIRED: Any = object()
MAX_TEXT_CHARS = 300  # titles, names, subjects
MAX_LIST_ITEMS = 10_000


def default(cls: type[Any], name: str) -> Any:
    """The default written in ``cls``'s field ``name`` (or REQUIRED)."""
    for item in dataclasses.fields(cls):
        if item.name == name:
            if item.default is not dataclasses.MISSING:
                return item.default
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
    return REQUIRED


class Reader:
    def __init__(self, path: Path, lines: dict[str, int]) -> None:
        self.path = path
        self.base = path.parent
        self.lines = lines

    def fail(self, key: str, reason: str) -> NoReturn:
        # A missing key has no line of its own: point at its nearest parent.
        probe = key
        while probe not in self.lines and re.search(r"[.\[]", probe):
            probe = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", probe)
        line = self.lines.get(probe)
        where = f"{self.path}:{line}" if line else str(self.path)
        # A key from the file (a vocabulary term) may hold a newline: escaped,
        # so the error stays one line.
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in key)
        raise ConfigError(f"{where}: {shown or 'top level'}: {' '.join(reason.split())}")


class Section:
    """One mapping of the config being read; remembers which keys it used so
    that unknown keys (usually typos) are reported instead of ignored."""

    def __init__(self, reader: Reader, data: Any, path: str, cls: type[Any] | None) -> None:
        self.reader = reader
        self.path = path
        self.cls = cls
        if data is None:
            data = {}
        if not isinstance(data, dict):
            reader.fail(path, f"must be a mapping, got {type_name(data)}")
        self.data: dict[Any, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def default(self, name: str, field_name: str | None = None) -> Any:
        return default(self.cls, field_name or name) if self.cls else REQUIRED

    def get(
        self,
        name: str,
        kind: type[T],
        fallback: Any = REQUIRED,
        check: Callable[[T], str | None] | None = None,
    ) -> T:
        self.used.add(name)
        value = self.data.get(name, REQUIRED)
        if value is REQUIRED or value is None:
            if fallback is REQUIRED:
                self.reader.fail(self.key(name), "is required")
            return fallback  # type: ignore[no-any-return]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.reader.fail(self.key(name), f"must be {kind.__name__}, got {type_name(value)}")
        if check is not None:
            problem = check(value)
            if problem:
                self.reader.fail(self.key(name), problem)
        checked: T = value
        return checked

    def text(
        self,
        name: str,
        fallback: Any = REQUIRED,
        *,
        nonempty: bool = True,
        max_chars: int = MAX_TEXT_CHARS,
        check: Callable[[str], str | None] | None = None,
    ) -> str:
        def checked(value: str) -> str | None:
            if nonempty and not value.strip():
                return "must not be empty"
            if len(value) > max_chars:
                return f"must be at most {max_chars} characters"
            return checks.controls(value) or (check(value) if check else None)

        return self.get(name, str, fallback, checked)

    def number(self, name: str, low: int, high: int, field_name: str | None = None) -> int:
        def bounded(value: int) -> str | None:
            return None if low <= value <= high else f"must be between {low} and {high}"

        return self.get(name, int, self.default(name, field_name), bounded)

    def strings(self, name: str, *, max_chars: int = MAX_TEXT_CHARS) -> tuple[str, ...]:
        raw = self.get(name, list, list(self.default(name)))
        if len(raw) > MAX_LIST_ITEMS:
            self.reader.fail(self.key(name), f"must have at most {MAX_LIST_ITEMS} items")
        for index, item in enumerate(raw):
            key = f"{self.key(name)}[{index}]"
            if not isinstance(item, str):
                self.reader.fail(key, f"must be str, got {type_name(item)}")
            problem = checks.controls(item) or (
                f"must be at most {max_chars} characters" if len(item) > max_chars else None
            )
            if problem:
                self.reader.fail(key, problem)
        return tuple(raw)

    def path_value(self, name: str) -> Path:
        fallback = self.default(name)
        raw = Path(
            self.text(name, fallback if fallback is REQUIRED else str(fallback), max_chars=4096)
        )
        return raw if raw.is_absolute() else self.reader.base / raw

    def section(self, name: str, cls: type[Any] | None = None) -> Section:
        self.used.add(name)
        return Section(self.reader, self.data.get(name), self.key(name), cls)

    def items(self, name: str, cls: type[Any]) -> list[Section]:
        self.used.add(name)
        raw = self.data.get(name) or []
        if not isinstance(raw, list):
            self.reader.fail(self.key(name), f"must be a list, got {type_name(raw)}")
        if len(raw) > 1000:
            self.reader.fail(self.key(name), "must have at most 1000 items")
        return [
            Section(self.reader, item, f"{self.key(name)}[{i}]", cls) for i, item in enumerate(raw)
        ]

    def done(self) -> None:
        unknown = sorted(str(k) for k in self.data if str(k) not in self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            self.reader.fail(self.key(unknown[0]), f"unknown key (known here: {known})")


def type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )
