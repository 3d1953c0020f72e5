"""The simulated fleet as a source of ticks: a child process runs it in fast mode; each
tick carries the wire messages of one sample period and the ground truth so far."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from evaluation.config import CHUNK_TICKS, TRACED
from rules.engine import ElevatorInfo


def _registry(fleet: Any) -> list[tuple[str, str, float, float, tuple[float, ...]]]:
    """(id, model, rated speed, rated load, landings) of every simulated elevator."""
    return [(e.id, e.model, e.rated_speed_mps, e.rated_load_kg, tuple(e.landings_m))
            for e in fleet.layout.elevators]


def _infos(registry: list[tuple[str, str, float, float, tuple[float, ...]]]
           ) -> list[ElevatorInfo]:
    return [ElevatorInfo(pk=i + 1, id=eid, model=model, rated_speed_mps=speed,
                         rated_load_kg=load, landings_m=landings, sealed=False)
            for i, (eid, model, speed, load, landings) in enumerate(registry)]


# -- the simulated fleet, here or in a second process -----------------------------------------

Tick = tuple[int, list[tuple[str, bytes, bool]], frozenset[int],
             dict[str, tuple[tuple[int, float], int]]]


def _observe(fleet: Any, tick_ms: int, msgs: list[tuple[str, bytes, bool]]) -> Tick:
    """A tick with what the harness knows besides the wire: which cars an inspector has
    sealed (an active sealed_in_use fault), and which carry a fault whose deciding moment
    is traced (keyed by car and arming time)."""
    sealed, traced = set(), {}
    for fault in fleet.active_faults():
        if fault.kind == "sealed_in_use" and fault.showing:
            sealed.add(fault.car)
        if fault.kind in TRACED:
            traced[fault.elevator_id] = ((fault.car, fault.armed_at), fault.car)
    return tick_ms, msgs, frozenset(sealed), traced


def _fleet_config(**kwargs: Any) -> Any:
    from simulators import FleetConfig  # the simulator is a tool, not a dependency

    return FleetConfig(**kwargs)


def _local_ticks(fleet: Any) -> Iterator[Tick]:
    for tick_ms, msgs in fleet.messages():
        yield _observe(fleet, tick_ms, msgs)


def _fleet_process(kwargs: dict[str, Any], conn: Connection) -> None:
    """Child process: run the fleet, send its ticks in chunks, then the ground truth."""
    from simulators import Fleet

    fleet = Fleet(_fleet_config(**kwargs))
    conn.send((_registry(fleet), fleet.period_s))
    chunk: list[Tick] = []
    for tick_ms, msgs in fleet.messages():
        chunk.append(_observe(fleet, tick_ms, msgs))
        if len(chunk) >= CHUNK_TICKS:
            conn.send(chunk)
            chunk = []
    conn.send(chunk)
    conn.send(None)
    conn.send((fleet.close(), len(fleet.unrealised)))
    conn.close()


class Source:
    """The fleet's registry, its ticks, and at the end its ground truth."""

    def __init__(self, kwargs: dict[str, Any], parallel: bool) -> None:
        self._proc: Any = None
        self._fleet: Any = None
        if parallel:
            # fork: the child needs nothing re-imported, and no thread runs here yet
            ctx = multiprocessing.get_context("fork")
            self._conn, child = ctx.Pipe(duplex=False)
            self._proc = ctx.Process(target=_fleet_process, args=(kwargs, child), daemon=True)
            self._proc.start()
            child.close()
            self.registry, self.period_s = self._conn.recv()
        else:
            from simulators import Fleet

            self._fleet = Fleet(_fleet_config(**kwargs))
            self.registry, self.period_s = _registry(self._fleet), self._fleet.period_s

    def ticks(self) -> Iterator[Tick]:
        """Every tick, in event time."""
        if self._fleet is not None:
            yield from _local_ticks(self._fleet)
            return
        while (chunk := self._conn.recv()) is not None:
            yield from chunk

    def finish(self) -> tuple[list[dict[str, Any]], int]:
        """(ground truth, faults never realised)."""
        if self._fleet is not None:
            return self._fleet.close(), len(self._fleet.unrealised)
        truth, unrealised = self._conn.recv()
        self._proc.join(10)
        return truth, unrealised


# -- the deciding moments, found in the telemetry -------------------------------------------

