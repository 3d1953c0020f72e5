"""Where a key is in a TOML text: tomllib parses but forgets lines, and a refused setting
should be reported as ``path:line: problem`` (the rules file's tables all do)."""

from __future__ import annotations

import re

__all__ = ["duration", "line_of", "locate_keys", "located"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def duration(value: object, where: str) -> float:
    """Seconds from a number or a string like '2m', '1.5h', '3d'; ValueError naming
    ``where`` otherwise (zero and negative durations are refused)."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ValueError(f"{where}: expected seconds or a duration like '2m', got {value!r}")
    if seconds <= 0:
        raise ValueError(f"{where}: must be positive")
    return seconds


def located(path: object, text: str, message: str) -> str:
    """``path:line: message`` for a message that starts with a dotted key path
    (``cases.rescue.accept: ...``), the line found in the TOML text."""
    key = message.split(":", 1)[0].strip()
    where = tuple(key.split(".")) if key and " " not in key else ()
    return f"{path}:{line_of(locate_keys(text), where)}: {message}"

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_HEADER = re.compile(r"^\s*\[\[?\s*(?P<name>[^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*(?P<key>(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
                  r"(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _split_dotted(text: str) -> tuple[str, ...]:
    """('models', 'RES 2', 'overspeed') from 'models."RES 2".overspeed'."""
    parts: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t.":
            i += 1
        elif ch in "\"'":
            end = text.find(ch, i + 1)
            end = len(text) if end < 0 else end
            parts.append(text[i + 1:end])
            i = end + 1
        else:
            m = _BARE.match(text, i)
            if not m:
                break
            parts.append(m.group(0))
            i = m.end()
    return tuple(parts)


def locate_keys(text: str) -> dict[tuple[str, ...], int]:
    """1-based line of every table header and key path in a TOML text (best effort)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    depth = 0  # inside a multi-line array: its lines are values, not keys
    for no, line in enumerate(text.splitlines(), start=1):
        if depth > 0:
            depth += line.count("[") - line.count("]")
            continue
        if m := _HEADER.match(line):
            table = _split_dotted(m.group("name"))
            lines.setdefault(table, no)
            continue
        if m := _KEY.match(line):
            path = table + _split_dotted(m.group("key"))
            lines.setdefault(path, no)
            rest = line[m.end():].split("#", 1)[0]
            depth = max(0, rest.count("[") - rest.count("]"))
    return lines


def line_of(lines: dict[tuple[str, ...], int], where: tuple[str, ...]) -> int:
    """The line of a key path, else of its closest table (1 if none is known)."""
    for n in range(len(where), 0, -1):
        if where[:n] in lines:
            return lines[where[:n]]
    return 1
