"""Group control: passengers waiting at landings and which car answers each hall call."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from simulators.buildings import BuildingType

if TYPE_CHECKING:
    from simulators.car import Car

Call = tuple[int, int]  # (landing index, +1 up / -1 down)


class Passenger(NamedTuple):
    """A person in a car or waiting for one."""

    dest: int
    weight_kg: float


class Group:
    """The cars that answer the same hall calls (one bank of a building)."""

    def __init__(self, index: int, btype: BuildingType) -> None:
        self.index = index
        self.btype = btype
        self.cars: list[Car] = []
        self.waiting: dict[Call, deque[Passenger]] = {}
        self.assigned: dict[Call, Car] = {}
        self.unassigned: set[Call] = set()

    def now(self) -> float:
        """The latest time any car of the group has been advanced to."""
        return max(car.now for car in self.cars)

    def arrive(self, t: float, origin: int, dest: int, weight_kg: float) -> float:
        """A passenger presses the hall button at origin; returns the time it was handled."""
        t = max(t, self.now())
        for car in self.cars:
            car.advance(t)
        call = (origin, 1 if dest > origin else -1)
        self.waiting.setdefault(call, deque()).append(Passenger(dest, weight_kg))
        holder = self.assigned.get(call)
        if holder is None:
            self._assign(t, call)
        else:
            holder.on_waiting(t, call)
        return t

    def spawn(self, car: Car, t: float, dest: int, weight_kg: float = 75.0) -> None:
        """A passenger appears at car's landing and takes that very car (fault forcing)."""
        call = (car.floor, 1 if dest > car.floor else -1)
        self.waiting.setdefault(call, deque()).append(Passenger(dest, weight_kg))
        holder = self.assigned.get(call)
        if holder is not None and holder is not car:
            holder.hall.discard(call)
        self.unassigned.discard(call)
        self.assigned[call] = car
        car.assign(t, *call)

    def _assign(self, t: float, call: Call, exclude: Car | None = None) -> None:
        candidates = [c for c in self.cars if c.available() and c is not exclude]
        if not candidates and exclude is not None and exclude.available():
            candidates = [exclude]
        if not candidates:
            self.unassigned.add(call)
            return
        best = min(candidates, key=lambda c: c.cost(*call))
        self.unassigned.discard(call)
        self.assigned[call] = best
        best.assign(t, *call)

    def board(self, call: Call) -> Passenger | None:
        """The next passenger waiting for call, or None (and the call is cleared)."""
        queue = self.waiting.get(call)
        passenger = queue.popleft() if queue else None
        if not queue:
            self.clear(call)
        return passenger

    def clear(self, call: Call) -> None:
        """Forget a call once nobody waits for it any more."""
        self.waiting.pop(call, None)
        self.unassigned.discard(call)
        car = self.assigned.pop(call, None)
        if car is not None:
            car.hall.discard(call)

    def leave(self, car: Car, t: float, call: Call) -> None:
        """car closes its doors on call: hand it on if people are still waiting (car full)."""
        if self.waiting.get(call):
            car.hall.discard(call)
            self.assigned.pop(call, None)
            self._assign(t, call, exclude=car)
        else:
            self.clear(call)

    def release(self, car: Car, t: float) -> None:
        """car leaves service: its hall calls go to the other cars."""
        for call in sorted(car.hall):
            car.hall.discard(call)
            self.assigned.pop(call, None)
            if self.waiting.get(call):
                self._assign(t, call, exclude=car)
            else:
                self.clear(call)

    def car_idle(self, car: Car, t: float) -> None:
        """car has nothing to do: give it any call no car had taken."""
        for call in sorted(self.unassigned):
            if self.waiting.get(call):
                self._assign(t, call)
            else:
                self.unassigned.discard(call)
