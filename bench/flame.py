"""Where the CPU goes: py-spy's collapsed stacks (``py-spy record --format raw``) summed up.

Each line of such a file is ``frame;frame;...;leaf COUNT`` with frames like
``_packet_read (paho/mqtt/client.py:3102)``. The summary gives, as shares of all samples,
the functions where the time is spent (self), the functions under which it is spent
(inclusive, each counted once per stack), and self time by package.

    python -m bench.flame FILE...
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_PACKAGES = ("paho", "psycopg", "msgspec", "structlog", "prometheus_client", "threading",
             "queue", "selectors", "ssl", "socket", "messaging", "ingest", "storage", "core",
             "whistle", "rules")


def load(files: list[Path]) -> Counter[tuple[str, ...]]:
    """Every distinct stack (root first, as 'function (file)') and how often it was seen."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = []
            for frame in stack.split(";"):
                m = _FRAME.match(frame)
                frames.append(f"{m['func']} ({_short(m['file'])})" if m else frame)
            stacks[tuple(frames)] += int(count)
    return stacks


def _short(file: str) -> str:
    """site-packages/paho/mqtt/client.py -> paho/mqtt/client.py; repo files relative."""
    for marker in ("site-packages/", "/lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
            return file.split("/", 1)[1] if marker.startswith("/lib") else file
    for top in _PACKAGES:
        i = file.find(f"/{top}/")
        if i >= 0:
            return file[i + 1:]
    return file


def package(frame: str) -> str:
    """The package a frame's file belongs to (or the file)."""
    file = frame.rsplit("(", 1)[-1].rstrip(")")
    top = file.split("/", 1)[0].removesuffix(".py")
    return top if top in _PACKAGES else file


def summary(stacks: Counter[tuple[str, ...]], top: int = 15) -> str:
    """The report: top self, top inclusive, self by package, in % of all samples."""
    total = sum(stacks.values())
    if not total:
        return "(no samples)"
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    pkgs: Counter[str] = Counter()
    for stack, n in stacks.items():
        own[stack[-1]] += n
        pkgs[package(stack[-1])] += n
        for frame in set(stack):
            under[frame] += n
    lines = [f"{total} samples"]
    for title, counts in (("self", own), ("inclusive", under), ("self by package", pkgs)):
        lines.append(f"## {title}")
        lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in counts.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(load([Path(f) for f in sys.argv[1:]])))
