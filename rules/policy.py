"""Knobs of alerting (escalation delays, storm control, webhooks, rescue clock, calendar,
timers), read from the ``[escalation]`` table of the rules TOML file.

The detection thresholds live in the same file and are read by :mod:`rules.thresholds`; this
module reads only its own table, so either side can change without the other. Durations
are seconds or strings like ``"90s"``, ``"2m"``, ``"1.5h"``, ``"3d"``::

    [escalation]            # one step up the chain after this long unacknowledged
    critical = "2m"
    major = "15m"
    minor = "1d"
    warning = "3d"
    [escalation.kinds]      # per kind, overriding the severity's delay
    maintenance_overdue = "2d"
    [escalation.storm]      # one grouped notification per site instead of many
    threshold = 3
    window = "60s"
    settle = "5s"
    [escalation.webhooks]
    timeout = "5s"
    max_attempts = 12
    backoff = "5s"
    backoff_max = "1h"
    [escalation.channels]   # people's channels (e-mail, robots, SMS): retries, fallback
    timeout = "10s"
    max_attempts = 3        # then the next channel of the person or organization
    backoff = "5s"
    backoff_max = "5m"
    [escalation.rescue]
    kinds = ["trapped_passenger"]
    arrive_within = "30m"
    [escalation.calendar]
    maintenance_every = "15d"
    [escalation.timers]
    tick = "1s"
    escalate = "1s"
    calendar = "60s"
    persist = "30s"
    refresh = "10s"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core import tomlkeys
from core.cases import CaseKind, CaseLimits, limits_from_table
from core.domain import AlertKind, Severity

DAY = 86400.0


class PolicyError(ValueError):
    """The [escalation] table of the rules file is wrong; says where."""


def duration(value: Any, where: str) -> float:
    """Seconds from a number or a string like '2m'; PolicyError otherwise."""
    try:
        return tomlkeys.duration(value, where)
    except ValueError as exc:
        raise PolicyError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Storm:
    """Storm control: >= threshold raises of one kind at one site within window seconds."""

    threshold: int = 3
    window_s: float = 60.0
    settle_s: float = 5.0  # collect simultaneous ones before the grouped notification


@dataclass(frozen=True, slots=True)
class Webhooks:
    """Delivery of webhooks: timeout and exponential backoff between attempts."""

    timeout_s: float = 5.0
    max_attempts: int = 12  # 5 s, 10 s, ... capped at 1 h: about 2.4 h in all
    backoff_s: float = 5.0
    backoff_max_s: float = 3600.0

    def retry_after(self, attempt: int) -> float | None:
        """Seconds before the attempt after `attempt` (1-based), or None to give up."""
        if attempt >= self.max_attempts:
            return None
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class Channels:
    """Delivery to people's channels: attempts per channel before the next one is used."""

    timeout_s: float = 10.0
    max_attempts: int = 3
    backoff_s: float = 5.0
    backoff_max_s: float = 300.0

    def retry_after(self, attempt: int) -> float | None:
        """Seconds before the attempt after `attempt` (1-based), or None to give up."""
        if attempt >= self.max_attempts:
            return None
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class Rescue:
    """The rescue clock of trapped passengers: arrival on site within arrive_within_s."""

    kinds: tuple[str, ...] = (AlertKind.TRAPPED_PASSENGER.value,)
    arrive_within_s: float = 30 * 60.0


@dataclass(frozen=True, slots=True)
class Timers:
    """How often the service does each periodic job (service clock)."""

    tick_s: float = 1.0
    escalate_s: float = 1.0
    calendar_s: float = 60.0
    persist_s: float = 30.0
    refresh_s: float = 10.0
    outbox_s: float = 0.5
    webhooks_s: float = 0.5


def _default_steps() -> dict[str, float]:
    return {Severity.CRITICAL.value: 120.0, Severity.MAJOR.value: 900.0,
            Severity.MINOR.value: DAY, Severity.WARNING.value: 3 * DAY}


def _default_kind_steps() -> dict[str, float]:
    return {AlertKind.MAINTENANCE_OVERDUE.value: 2 * DAY,
            AlertKind.INSPECTION_OVERDUE.value: 2 * DAY}


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything alerting does besides detection."""

    step_s: dict[str, float] = field(default_factory=_default_steps)
    kind_step_s: dict[str, float] = field(default_factory=_default_kind_steps)
    max_level: int = 3
    storm: Storm = field(default_factory=Storm)
    webhooks: Webhooks = field(default_factory=Webhooks)
    channels: Channels = field(default_factory=Channels)
    rescue: Rescue = field(default_factory=Rescue)
    maintenance_every_s: float = 15 * DAY
    timers: Timers = field(default_factory=Timers)
    cases: dict[CaseKind, CaseLimits] = field(default_factory=lambda: limits_from_table(
        {}, duration))

    def step_for(self, *, kind: str, severity: str) -> float | None:
        """Seconds an alert waits at one level before it climbs."""
        return self.kind_step_s.get(kind, self.step_s.get(severity))


def _durations(cls: Any, table: dict[str, Any], where: str, names: dict[str, str]) -> Any:
    """An instance of a small dataclass from a TOML table (keys mapped by `names`)."""
    known = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = names.get(key, key)
        if name not in known:
            raise PolicyError(f"{where}.{key}: unknown setting")
        if name.endswith("_s"):
            values[name] = duration(value, f"{where}.{key}")
        elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
            values[name] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            values[name] = tuple(value)
        else:
            raise PolicyError(f"{where}.{key}: unexpected value {value!r}")
    return cls(**values)


def from_table(table: dict[str, Any]) -> Policy:
    """A Policy from the parsed [escalation] table."""
    policy = Policy()
    steps = dict(policy.step_s)
    changes: dict[str, Any] = {}
    for key, value in table.items():
        where = f"escalation.{key}"
        if key in steps:
            steps[key] = duration(value, where)
        elif key == "max_level":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3:
                raise PolicyError(f"{where}: must be an integer from 0 to 3")
            changes["max_level"] = value
        elif key == "kinds":
            kinds = {k.value for k in AlertKind}
            unknown = sorted(set(value) - kinds)
            if unknown:
                raise PolicyError(f"{where}: unknown alert kinds {unknown}")
            changes["kind_step_s"] = {**policy.kind_step_s, **{
                k: duration(v, f"{where}.{k}") for k, v in value.items()}}
        elif key == "storm":
            changes["storm"] = _durations(Storm, value, where,
                                          {"window": "window_s", "settle": "settle_s"})
        elif key == "webhooks":
            changes["webhooks"] = _durations(Webhooks, value, where, {
                "timeout": "timeout_s", "backoff": "backoff_s",
                "backoff_max": "backoff_max_s"})
        elif key == "channels":
            changes["channels"] = _durations(Channels, value, where, {
                "timeout": "timeout_s", "backoff": "backoff_s",
                "backoff_max": "backoff_max_s"})
        elif key == "rescue":
            changes["rescue"] = _durations(Rescue, value, where,
                                           {"arrive_within": "arrive_within_s"})
        elif key == "calendar":
            for k, v in value.items():
                if k != "maintenance_every":
                    raise PolicyError(f"{where}.{k}: unknown setting")
                changes["maintenance_every_s"] = duration(v, f"{where}.{k}")
        elif key == "timers":
            changes["timers"] = _durations(Timers, value, where,
                                           {k: f"{k}_s" for k in value})
        else:
            raise PolicyError(f"{where}: unknown setting")
    return replace(policy, step_s=steps, **changes)


def load(path: Path | None) -> Policy:
    """The policy of the rules file's [escalation] and [cases] tables (defaults without
    file or tables); a refused setting says ``path:line: key: problem``."""
    if path is None:
        return Policy()
    try:
        text = path.read_text("utf-8")
        doc = tomllib.loads(text)
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: {exc}") from None
    table = doc.get("escalation", {})
    if not isinstance(table, dict):
        raise PolicyError(tomlkeys.located(path, text, "escalation: must be a table"))
    try:
        policy = from_table(table)
        cases = doc.get("cases", {})
        if not isinstance(cases, dict):
            raise PolicyError("cases: must be a table of [cases.<kind>] tables")
        return replace(policy, cases=limits_from_table(cases, duration))
    except (PolicyError, ValueError) as exc:
        raise PolicyError(tomlkeys.located(path, text, str(exc))) from None
