"""The benchmark's fleet: one property organization, one site, N elevators, through storage."""

from __future__ import annotations

import psycopg

from core.domain import OrgKind, default_landings
from storage import registry


def register(conn: psycopg.Connection, ids: list[str], *, travel_m: float,
             rated_load_kg: float, floors: int = 21) -> None:
    """Register the elevators the benchmark's publisher speaks for."""
    org = registry.create_org(conn, name="bench property", kind=OrgKind.PROPERTY,
                              district=None)
    site = registry.create_site(conn, name="bench site", address="1 Bench Road",
                                district="bench", property_org_id=org["id"])
    for eid in ids:
        registry.create_elevator(
            conn, recorded_by="bench", id=eid, site_id=site["id"], name=eid,
            rated_speed_mps=1.75, rated_load_kg=rated_load_kg, min_floor=0,
            max_floor=floors - 1, travel_m=travel_m,
            landings_m=default_landings(0, floors - 1, travel_m), model=None,
            maintenance_org_id=None, next_inspection_due=None)
