"""The fault plan: which faults to inject, how often or when, on which elevators.

Syntax of ``--faults`` (items separated by commas)::

    KIND=RATE[:ELEVATOR][[PARAM=VALUE,...]]     random times, RATE per elevator-hour
    KIND@TIME[:ELEVATOR][[PARAM=VALUE,...]]     once, TIME after the start of the run

RATE is ``0.5/h``, ``2/d`` or ``1/min`` (a bare number is per hour); TIME is ``90s``,
``10m``, ``1h30m``; ELEVATOR is an elevator id (``E0003``) or a 1-based number (``3``);
without it the elevator is drawn at random (from the seed). KIND ``all`` stands for every
alert kind. Example::

    all=0.05/h,trapped_passenger@2m:E0001[where=at_landing],bad_message=1/h

A value that names an existing ``.toml`` file is read as a scenario (see
:func:`load_scenario`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulators.badmessages import BAD_MESSAGE_TYPES
from simulators.durations import parse_duration, parse_rate
from simulators.faults import FAULTS

ALERT_FAULTS = tuple(FAULTS)
MESSAGE_FAULTS = ("bad_message", "duplicate")
CALENDAR_KINDS = ("inspection_overdue", "maintenance_overdue")  # no telemetry: not injected
MESSAGE_DEFAULTS: dict[str, dict[str, str]] = {"bad_message": {"type": "random"},
                                               "duplicate": {"copies": "1"}}
ALL_FAULTS = ALERT_FAULTS + MESSAGE_FAULTS

_ITEM = re.compile(
    r"(?P<kind>[a-z_]+)\s*(?:=\s*(?P<rate>[^@:\[\]]+?)|@\s*(?P<at>[^:\[\]]+?))\s*"
    r"(?::\s*(?P<elevator>[A-Za-z0-9_-]+))?\s*(?:\[(?P<params>[^\]]*)\])?\s*")


@dataclass(frozen=True, slots=True)
class FaultItem:
    """One line of the plan: a kind with a rate or a time, maybe an elevator and params."""

    kind: str
    rate_per_h: float | None = None
    at_s: float | None = None
    elevator: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A fault instance due at time t (seconds after the start) on car index car."""

    t: float
    kind: str
    car: int
    params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Every item of a plan; draws concrete fault times window by window."""

    items: tuple[FaultItem, ...] = ()

    def draw(self, t0: float, t1: float, elevator_ids: Sequence[str],
             rng: np.random.Generator) -> list[Scheduled]:
        """Fault instances due in [t0, t1), sorted by time."""
        out: list[Scheduled] = []
        n = len(elevator_ids)
        for item in self.items:
            cars = _resolve(item.elevator, elevator_ids)
            if item.at_s is not None:
                car = cars[0] if cars else int(rng.integers(n))
                if t0 <= item.at_s < t1:
                    out.append(Scheduled(item.at_s, item.kind, car, item.params))
                continue
            rate = item.rate_per_h or 0.0
            pool = cars or list(range(n))
            count = int(rng.poisson(rate * len(pool) * (t1 - t0) / 3600.0))
            times = np.sort(rng.uniform(t0, t1, count))
            who = rng.integers(len(pool), size=count)
            out.extend(Scheduled(float(t), item.kind, pool[int(w)], item.params)
                       for t, w in zip(times, who, strict=True))
        out.sort(key=lambda s: (s.t, s.car, s.kind))
        return out

    def __bool__(self) -> bool:
        return bool(self.items)


def _resolve(elevator: str | None, ids: Sequence[str]) -> list[int]:
    if elevator is None:
        return []
    if elevator in ids:
        return [list(ids).index(elevator)]
    if elevator.isdigit() and 1 <= int(elevator) <= len(ids):
        return [int(elevator) - 1]
    raise ValueError(f"no elevator {elevator!r} in this fleet ({ids[0]}..{ids[-1]})")


def _split_items(spec: str) -> list[str]:
    items: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in spec:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur))
    return [i.strip() for i in items if i.strip()]


def _params(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"fault parameter {part!r} is not NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def check_item(item: FaultItem) -> None:
    """Raise ValueError if the kind or its parameters are unknown."""
    if item.kind in CALENDAR_KINDS:
        raise ValueError(f"{item.kind} is a calendar rule, not telemetry: nothing to inject "
                         "(register an elevator with a past next_inspection_due instead)")
    if item.kind not in ALL_FAULTS:
        raise ValueError(f"unknown fault kind {item.kind!r}; use one of "
                         f"{', '.join(ALL_FAULTS)} or all")
    allowed = (FAULTS[item.kind].defaults if item.kind in FAULTS
               else MESSAGE_DEFAULTS[item.kind])
    unknown = set(item.params) - set(allowed)
    if unknown:
        raise ValueError(f"{item.kind} takes no parameter {', '.join(sorted(unknown))}; it "
                         f"takes {', '.join(sorted(allowed)) or 'none'}")
    if item.kind == "bad_message":
        kind = item.params.get("type", "random")
        if kind != "random" and kind not in BAD_MESSAGE_TYPES:
            raise ValueError(f"bad_message type must be one of {BAD_MESSAGE_TYPES} or random")
    if (item.rate_per_h is None) == (item.at_s is None):
        raise ValueError(f"{item.kind}: give either a rate (=0.5/h) or a time (@2m)")
    if item.rate_per_h is not None and item.rate_per_h < 0:
        raise ValueError(f"{item.kind}: a rate cannot be negative")


def parse_spec(spec: str) -> FaultPlan:
    """The plan written in the --faults syntax (see the module docstring)."""
    items: list[FaultItem] = []
    for text in _split_items(spec):
        m = _ITEM.fullmatch(text)
        if not m:
            raise ValueError(f"cannot read fault item {text!r}; write KIND=RATE or KIND@TIME, "
                             "optionally :ELEVATOR and [param=value,...]")
        kinds = ALERT_FAULTS if m["kind"] == "all" else (m["kind"],)
        for kind in kinds:
            item = FaultItem(
                kind=kind,
                rate_per_h=parse_rate(m["rate"]) if m["rate"] is not None else None,
                at_s=parse_duration(m["at"]) if m["at"] is not None else None,
                elevator=m["elevator"], params=_params(m["params"]))
            check_item(item)
            items.append(item)
    return FaultPlan(tuple(items))


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scenario file: fleet settings (defaults for the command line) and a fault plan."""

    fleet: Mapping[str, Any]
    plan: FaultPlan


def _item_from_table(table: Mapping[str, Any]) -> FaultItem:
    known = {"kind", "rate", "at", "elevator", "params"}
    unknown = set(table) - known
    if unknown:
        raise ValueError(f"a [[fault]] table takes {sorted(known)}, not {sorted(unknown)}")
    if "kind" not in table:
        raise ValueError("a [[fault]] table needs a kind")
    params = {str(k): str(v).lower() if isinstance(v, bool) else str(v)
              for k, v in dict(table.get("params", {})).items()}
    item = FaultItem(
        kind=str(table["kind"]),
        rate_per_h=parse_rate(table["rate"]) if "rate" in table else None,
        at_s=parse_duration(table["at"]) if "at" in table else None,
        elevator=str(table["elevator"]) if "elevator" in table else None, params=params)
    check_item(item)
    return item


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario TOML: an optional [fleet] table, a faults string, [[fault]] tables.

    Example::

        [fleet]
        elevators = 12
        buildings = "residential"
        seed = 7
        duration = "2h"
        faults = "all=0.02/h"          # same syntax as --faults

        [[fault]]
        kind = "trapped_passenger"
        at = "10m"
        elevator = "E0003"
        params = { where = "between_floors", duration = "4m" }
    """
    data = tomllib.loads(Path(path).read_text())
    fleet = dict(data.get("fleet", {}))
    items: list[FaultItem] = []
    if "faults" in fleet:
        items.extend(parse_spec(str(fleet.pop("faults"))).items)
    if "faults" in data:
        items.extend(parse_spec(str(data["faults"])).items)
    items.extend(_item_from_table(t) for t in data.get("fault", []))
    return Scenario(fleet, FaultPlan(tuple(items)))


def parse_faults(spec: str | None) -> Scenario:
    """A --faults value: inline syntax, or the path of a scenario TOML file."""
    if not spec:
        return Scenario({}, FaultPlan())
    text = spec.strip()
    if text.endswith(".toml") or ("=" not in text and "@" not in text):
        return load_scenario(text)
    return Scenario({}, parse_spec(spec))
