"""Buildings and their elevators: the registry data of a simulated fleet.

Two kinds of building are modelled. A residential tower (33 storeys above ground plus a
parking basement, two units of 99 households each, two elevators per unit) and an office
block (20 storeys, two basements, one group of five elevators). Every elevator belongs to
a *group*: the cars that answer the same hall calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

RESIDENTIAL = "residential"
OFFICE = "office"
MIXED = "mixed"
BUILDING_KINDS = (RESIDENTIAL, OFFICE, MIXED)

_DISTRICTS = ("Harbour", "Riverside", "Old Town", "Northgate", "Eastfield", "Hillcrest")
_STREETS = ("Harbour Road", "Canal Street", "Station Avenue", "Park Lane", "Mill Road",
            "Orchard Way", "Bridge Street", "Market Square")


@dataclass(frozen=True, slots=True)
class ElevatorSpec:
    """One elevator: its registry fields and the drive parameters the physics uses."""

    id: str
    site_key: str
    group: int
    name: str
    building: str
    min_floor: int
    landings_m: tuple[float, ...]
    rated_speed_mps: float
    rated_load_kg: float
    model: str
    accel_mps2: float
    jerk_mps3: float
    lobby_index: int
    next_inspection_due: str | None = None

    @property
    def max_floor(self) -> int:
        """Highest floor number served."""
        return self.min_floor + len(self.landings_m) - 1

    @property
    def travel_m(self) -> float:
        """Height of the top landing sill above the lowest one."""
        return self.landings_m[-1]

    def registry(self) -> dict[str, object]:
        """The body of POST /api/v1/elevators, less site_id and maintenance_org_id."""
        body: dict[str, object] = {
            "id": self.id, "site_key": self.site_key, "name": self.name,
            "rated_speed_mps": self.rated_speed_mps, "rated_load_kg": self.rated_load_kg,
            "min_floor": self.min_floor, "max_floor": self.max_floor,
            "travel_m": round(self.travel_m, 3), "landings_m": list(self.landings_m),
            "model": self.model,
        }
        if self.next_inspection_due is not None:
            body["next_inspection_due"] = self.next_inspection_due
        return body


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """One building: the body of POST /api/v1/sites plus a key to map it to its id."""

    key: str
    name: str
    address: str
    district: str
    building: str

    def registry(self) -> dict[str, str]:
        """The body of POST /api/v1/sites, less property_org_id."""
        return {"key": self.key, "name": self.name, "address": self.address,
                "district": self.district}


@dataclass(frozen=True, slots=True)
class BuildingType:
    """The shape of one kind of building."""

    kind: str
    min_floor: int
    floor_heights_m: tuple[float, ...]  # storey heights from the lowest landing upwards
    lobby_floor: int
    groups: int  # independent groups of cars (units of a residential tower)
    cars_per_group: int
    rated_speed_mps: float
    rated_load_kg: float
    model: str
    daily_trips_per_group: float

    @property
    def landings_m(self) -> tuple[float, ...]:
        """Landing sill heights above the lowest landing."""
        return tuple(round(float(x), 3) for x in np.concatenate(
            [[0.0], np.cumsum(self.floor_heights_m)]))


RESIDENTIAL_TOWER = BuildingType(
    kind=RESIDENTIAL, min_floor=-1,
    # basement parking 3.6 m, lobby 4.2 m, then 31 typical storeys of 2.95 m
    floor_heights_m=(3.6, 4.2) + (2.95,) * 31,
    lobby_floor=0, groups=2, cars_per_group=2, rated_speed_mps=2.0, rated_load_kg=1000.0,
    model="RES-2.0-1000",
    # 99 households x 2.6 people x 3.4 trips a day
    daily_trips_per_group=875.0,
)

OFFICE_BLOCK = BuildingType(
    kind=OFFICE, min_floor=-2,
    floor_heights_m=(3.4, 3.6, 5.0) + (3.8,) * 19,
    lobby_floor=0, groups=1, cars_per_group=5, rated_speed_mps=2.5, rated_load_kg=1350.0,
    model="OFF-2.5-1350",
    # 20 office floors x 85 people x 4 trips a day
    daily_trips_per_group=6800.0,
)

BUILDING_TYPES = {RESIDENTIAL: RESIDENTIAL_TOWER, OFFICE: OFFICE_BLOCK}


@dataclass(slots=True)
class FleetLayout:
    """The sites and elevators of a fleet, in registration order."""

    sites: list[SiteSpec] = field(default_factory=list)
    elevators: list[ElevatorSpec] = field(default_factory=list)
    group_types: list[BuildingType] = field(default_factory=list)  # by group number


def _site_kinds(buildings: str, count: int) -> list[str]:
    if buildings == MIXED:
        # two residential towers for each office block, as in a typical city district
        return [OFFICE if i % 3 == 2 else RESIDENTIAL for i in range(count)]
    if buildings not in BUILDING_TYPES:
        raise ValueError(f"unknown building kind {buildings!r}; use one of {BUILDING_KINDS}")
    return [buildings] * count


def layout_fleet(*, elevators: int, buildings: str, rng: np.random.Generator,
                 id_prefix: str = "E", start: datetime | None = None,
                 overdue_fraction: float = 0.0) -> FleetLayout:
    """Sites and elevators for a fleet of the given size; the last site may be partial."""
    if elevators < 1:
        raise ValueError("a fleet needs at least one elevator")
    start = start or datetime.now(UTC)
    width = max(4, len(str(elevators)))
    kinds = _site_kinds(buildings, elevators)  # every site holds at least one elevator
    layout = FleetLayout()
    n = 0
    for s, kind in enumerate(kinds):
        if n >= elevators:
            break
        btype = BUILDING_TYPES[kind]
        district = _DISTRICTS[s % len(_DISTRICTS)]
        label = "Tower" if kind == RESIDENTIAL else "Office Block"
        site = SiteSpec(key=f"site-{s + 1:04d}", name=f"{district} {label} {s + 1}",
                        address=f"{10 + (s * 7) % 190} {_STREETS[s % len(_STREETS)]}",
                        district=district, building=kind)
        layout.sites.append(site)
        for g in range(btype.groups):
            if n >= elevators:
                break
            group = len(layout.group_types)
            layout.group_types.append(btype)
            for c in range(btype.cars_per_group):
                if n >= elevators:
                    break
                due = start + timedelta(days=float(rng.uniform(20, 365)))
                if rng.random() < overdue_fraction:
                    due = start - timedelta(days=float(rng.uniform(1, 60)))
                unit = f"unit {g + 1} " if btype.groups > 1 else ""
                layout.elevators.append(ElevatorSpec(
                    id=f"{id_prefix}{n + 1:0{width}d}", site_key=site.key, group=group,
                    name=f"{site.name} {unit}car {chr(ord('A') + c)}", building=kind,
                    min_floor=btype.min_floor, landings_m=btype.landings_m,
                    rated_speed_mps=btype.rated_speed_mps, rated_load_kg=btype.rated_load_kg,
                    model=btype.model,
                    accel_mps2=round(float(rng.uniform(0.8, 1.0)), 3),
                    jerk_mps3=round(float(rng.uniform(1.0, 1.5)), 3),
                    lobby_index=btype.lobby_floor - btype.min_floor,
                    next_inspection_due=due.date().isoformat()))
                n += 1
    return layout
