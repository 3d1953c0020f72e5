"""The ingester's registry cache: a notification naming an elevator reloads that elevator
alone; one naming none (a bulk import) reloads everything, once."""

from __future__ import annotations

import psycopg

from api import imports
from ingest.registry import Registry
from storage import bulk, registry
from tests.builders import register_fleet
from tests.helpers import wait_until


def test_a_registration_loads_one_elevator_and_a_bulk_import_reloads_once(
        pg_url: str, db: psycopg.Connection):
    register_fleet(db, ["RC-1", "RC-2"])
    cache = Registry(pg_url)
    try:
        assert {"RC-1", "RC-2"} <= set(cache.refresh())
        loaded = cache.loaded
        # Not through the cache's own queries: a row changed behind its back stays as cached
        # unless a full reload happens, which tells the two paths apart.
        db.execute("UPDATE elevators SET rated_load_kg = 4321 WHERE id = 'RC-2'")
        pk = register_fleet(db, ["RC-3"])["RC-3"]
        fresh = wait_until(lambda: "RC-3" in cache.refresh() and cache.elevators,
                           message="RC-3 in the cache")
        assert fresh["RC-3"].pk == pk and cache.loaded == loaded  # no full reload
        assert fresh["RC-2"].rated_load_kg == 1000.0
        registry.patch_elevator(db, elevator_pk=pk, changes={"name": "x"}, recorded_by="t")
        plan = imports.parse("type,name,kind\norg,RC property,property\n", json_format=False)
        bulk.import_registry(db, plan, recorded_by="test")
        wait_until(lambda: cache.refresh()["RC-2"].rated_load_kg == 4321,
                   message="a full reload after the bulk notification")
        assert cache.loaded > loaded
    finally:
        cache.close()
