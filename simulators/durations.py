"""Parse the time and rate forms used on the command line and in scenario files."""

from __future__ import annotations

import re

_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|min|s|m|h|d)")
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?(?:e-?\d+)?)\s*/\s*(s|m|min|h|d)\s*")


def parse_duration(text: str | float | int) -> float:
    """Seconds in '90', '90s', '10m', '2h', '1h30m', '1.5d' or '250ms'."""
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"a duration cannot be negative: {text}")
        return float(text)
    s = text.strip().lower()
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {text!r}")
        return value
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r} (use forms like 90s, 10m, 2h, 1h30m)")
    return total


def parse_rate(text: str | float | int) -> float:
    """Events per hour in '0.5/h', '2/d', '1/min' (a bare number is per hour)."""
    if isinstance(text, int | float):
        return float(text)
    try:
        return float(text)
    except ValueError:
        pass
    m = _RATE.fullmatch(text.lower())
    if not m:
        raise ValueError(f"not a rate: {text!r} (use forms like 0.5/h or 2/d)")
    return float(m.group(1)) * 3600.0 / _UNIT_S[m.group(2)]


def format_duration(seconds: float) -> str:
    """'1h30m' for 5400; '45s' for 45; the inverse of parse_duration for whole seconds."""
    s = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    if s or not parts:
        parts.append(f"{s}s")
    return "".join(parts)
