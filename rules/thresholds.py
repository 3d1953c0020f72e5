"""Rule thresholds: packaged defaults, a rule file with model profiles and elevator overrides.

The rule file is TOML (see ``rules/defaults.toml`` for every kind and key). A file that
does not parse, or names an unknown kind or key, gives a value of the wrong type or a
negative duration, is refused with ``RulesConfigError("path:line: problem")``.
:func:`watch` polls a file's modification time and hands every good new version to a
callback, so thresholds change without a restart.
"""

from __future__ import annotations

import importlib.resources
import math
import os
import re
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from core.domain import CAR_MODES, Severity
from core.tomlkeys import locate_keys

log = structlog.get_logger(__name__)

DEFAULTS_RESOURCE = "defaults.toml"
GENERIC_KEYS = ("severity", "enabled", "suppress_in")
# "escalation" and "cases" belong to rules/policy.py and core/cases.py; the engine skips them.
SECTIONS = ("engine", "rules", "models", "elevators", "escalation", "cases")
WATCH_INTERVAL_S = 2.0

Value = float | bool | str | list[str]
KindParams = dict[str, Value]


class RulesConfigError(Exception):
    """A rule file that cannot be used; the message is ``path:line: problem``."""


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Engine-wide settings (the ``[engine]`` table)."""

    stationary_mps: float = 0.05
    gap_tolerance_s: float = 2.0
    min_open_s: float = 10.0
    update_interval_s: float = 10.0
    reraise_holdoff_s: float = 300.0
    late_tolerance_s: float = 600.0
    restore_gap_s: float = 60.0
    occupied_load_kg: float = 25.0
    future_skew_s: float = 10.0
    mode_expiry_s: float = 300.0


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Merged defaults and rule file; :meth:`profile` gives one elevator's parameters."""

    engine: EngineSettings
    rules: Mapping[str, KindParams]
    models: Mapping[str, Mapping[str, KindParams]] = field(default_factory=dict)
    elevators: Mapping[str, Mapping[str, KindParams]] = field(default_factory=dict)
    source: str = "<defaults>"

    def profile(self, elevator_id: str, model: str | None) -> dict[str, KindParams]:
        """Every kind's parameters for one elevator: rules, then its model, then itself."""
        out = {kind: dict(params) for kind, params in self.rules.items()}
        layers = [self.models.get(model, {}) if model is not None else {},
                  self.elevators.get(elevator_id, {})]
        for layer in layers:
            for kind, params in layer.items():
                out[kind].update(params)
        return out

    def severity(self, kind: str, elevator_id: str = "", model: str | None = None) -> str:
        """The configured severity of a kind for an elevator (calendar kinds included)."""
        return str(self.profile(elevator_id, model)[kind]["severity"])

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every configured kind."""
        return tuple(self.rules)


# -- validation ---------------------------------------------------------------------------

@dataclass
class _Checker:
    """Validates a parsed rule file against the defaults' schema; reports file:line."""

    path: str
    lines: dict[tuple[str, ...], int]
    schema: Mapping[str, KindParams]

    def fail(self, where: tuple[str, ...], problem: str) -> RulesConfigError:
        line = 1
        for n in range(len(where), 0, -1):  # the key itself, else its table
            if where[:n] in self.lines:
                line = self.lines[where[:n]]
                break
        return RulesConfigError(f"{self.path}:{line}: {problem}")

    def table(self, where: tuple[str, ...], value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"{'.'.join(where)} must be a table")
        return value

    def engine(self, data: Any) -> dict[str, float]:
        table = self.table(("engine",), data)
        known = {f for f in EngineSettings.__dataclass_fields__}
        out: dict[str, float] = {}
        for key, value in table.items():
            where = ("engine", key)
            if key not in known:
                raise self.fail(where, f"unknown engine setting {key!r}; known: "
                                       f"{', '.join(sorted(known))}")
            out[key] = self.number(where, value)
        return out

    def number(self, where: tuple[str, ...], value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"{where[-1]} must be a number, got "
                                   f"{type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise self.fail(where, f"{where[-1]} must be a finite number")
        if value < 0:
            what = "a duration" if where[-1].endswith("_s") else where[-1]
            raise self.fail(where, f"{what} cannot be negative ({where[-1]} = {value})")
        return float(value)

    def kinds(self, where: tuple[str, ...], data: Any) -> dict[str, KindParams]:
        table = self.table(where, data)
        out: dict[str, KindParams] = {}
        for kind, params in table.items():
            if kind not in self.schema:
                raise self.fail((*where, kind), f"unknown alert kind {kind!r}; known: "
                                                 f"{', '.join(sorted(self.schema))}")
            out[kind] = self.params((*where, kind), kind, params)
        return out

    def params(self, where: tuple[str, ...], kind: str, data: Any) -> KindParams:
        table = self.table(where, data)
        schema = self.schema[kind]
        out: KindParams = {}
        for key, value in table.items():
            at = (*where, key)
            if key not in schema:
                raise self.fail(at, f"unknown key {key!r} for {kind}; known: "
                                    f"{', '.join(sorted(schema))}")
            out[key] = self.value(at, schema[key], value)
        return out

    def value(self, where: tuple[str, ...], default: Value, value: Any) -> Value:
        key = where[-1]
        if key == "severity":
            if value not in {s.value for s in Severity}:
                raise self.fail(where, f"severity must be one of "
                                       f"{', '.join(s.value for s in Severity)}, got {value!r}")
            return str(value)
        if key == "suppress_in":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(where, "suppress_in must be a list of car modes")
            bad = [v for v in value if v not in CAR_MODES]
            if bad:
                raise self.fail(where, f"unknown car mode {bad[0]!r} in suppress_in; known: "
                                       f"{', '.join(CAR_MODES)}")
            return list(value)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise self.fail(where, f"{key} must be true or false, got {value!r}")
            return value
        if isinstance(default, str):
            if not isinstance(value, str):
                raise self.fail(where, f"{key} must be a string, got {value!r}")
            return value
        number = self.number(where, value)
        if isinstance(default, int) and not number.is_integer():
            raise self.fail(where, f"{key} must be a whole number, got {value!r}")
        return number


def _defaults_text() -> str:
    return importlib.resources.files("rules").joinpath(DEFAULTS_RESOURCE).read_text("utf-8")


def _parse(text: str, path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)", msg)
        if m:
            problem = msg[:m.start()] + msg[m.end():]
            raise RulesConfigError(f"{path}:{m.group(1)}: {problem} (column {m.group(2)})"
                                   ) from None
        if "at end of document" in msg:  # tomllib gives no line here: it is the last one
            problem = msg.replace(" (at end of document)", "")
            raise RulesConfigError(f"{path}:{max(1, len(text.splitlines()))}: {problem} "
                                   "(at the end of the file)") from None
        raise RulesConfigError(f"{path}:1: {msg}") from None


def _schema(defaults: Mapping[str, Any]) -> dict[str, KindParams]:
    schema: dict[str, KindParams] = {}
    for kind, params in defaults["rules"].items():
        merged: KindParams = {"enabled": True, "suppress_in": [], **params}
        schema[kind] = merged
    return schema


_DEFAULT_CACHE: dict[str, Any] = {}


def _defaults() -> tuple[dict[str, Any], dict[str, KindParams]]:
    if "data" not in _DEFAULT_CACHE:
        data = _parse(_defaults_text(), "rules/defaults.toml")
        _DEFAULT_CACHE["data"] = data
        _DEFAULT_CACHE["schema"] = _schema(data)
    return _DEFAULT_CACHE["data"], _DEFAULT_CACHE["schema"]


def loads(text: str, path: str = "<rules>") -> RulesConfig:
    """Merge the defaults with a rule file's text; raise RulesConfigError naming path:line."""
    defaults, schema = _defaults()
    data = _parse(text, path)
    check = _Checker(path, locate_keys(text), schema)
    for key in data:
        if key not in SECTIONS:
            raise check.fail((key,), f"unknown section {key!r}; a rule file has "
                                     f"{', '.join(SECTIONS)}")
    engine = {**defaults.get("engine", {}), **check.engine(data.get("engine", {}))}
    rules = {kind: dict(params) for kind, params in schema.items()}
    for kind, params in check.kinds(("rules",), data.get("rules", {})).items():
        rules[kind].update(params)
    models = {name: check.kinds(("models", name), table)
              for name, table in check.table(("models",), data.get("models", {})).items()}
    elevators = {eid: check.kinds(("elevators", eid), table)
                 for eid, table in check.table(("elevators",), data.get("elevators", {})
                                               ).items()}
    return RulesConfig(engine=EngineSettings(**{k: float(v) for k, v in engine.items()}),
                       rules=rules, models=models, elevators=elevators, source=path)


def load(path: Path | None) -> RulesConfig:
    """Defaults merged with the rule file at path (None: defaults only)."""
    if path is None:
        return loads("", "<defaults>")
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesConfigError(f"{path}:1: cannot read the rule file: {exc}") from None
    return loads(text, str(path))


# -- reloading -----------------------------------------------------------------------------

def _mtime(path: Path) -> float | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns + st.st_size * 1e-3  # size too: a same-second rewrite is seen


class Watcher:
    """Polls a rule file; calls on_change with each good new version, on_error otherwise."""

    def __init__(self, path: Path, on_change: Callable[[RulesConfig], None], *,
                 on_error: Callable[[RulesConfigError], None] | None = None,
                 interval_s: float = WATCH_INTERVAL_S,
                 mtime: Callable[[Path], float | None] = _mtime,
                 loader: Callable[[Path], RulesConfig] = load) -> None:
        self.path = Path(path)
        self.on_change = on_change
        self.on_error = on_error
        self.interval_s = interval_s
        self._mtime = mtime
        self._load = loader
        self._seen = mtime(self.path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """Check once; True if a new good version was handed to on_change."""
        now = self._mtime(self.path)
        if now == self._seen:
            return False
        self._seen = now
        try:
            config = self._load(self.path)
        except RulesConfigError as exc:
            log.error("rule file refused; keeping the previous rules", error=str(exc))
            if self.on_error is not None:
                self.on_error(exc)
            return False
        self.on_change(config)
        return True

    def start(self) -> Watcher:
        """Poll in a daemon thread until stop()."""
        self._thread = threading.Thread(target=self._run, name="rules-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s + 1.0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:  # a watcher that dies silently would freeze the thresholds
                log.exception("rule file watcher failed; retrying")


def watch(path: Path, on_change: Callable[[RulesConfig], None], *,
          on_error: Callable[[RulesConfigError], None] | None = None,
          interval_s: float = WATCH_INTERVAL_S) -> Watcher:
    """Start polling path's modification time; on_change gets each good new version."""
    return Watcher(path, on_change, on_error=on_error, interval_s=interval_s).start()
