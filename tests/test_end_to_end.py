"""The whole pipeline: simulator -> real broker -> ingester -> PostgreSQL -> rules -> API.

A simulated fleet of 13 elevators, one fault of each telemetry alert kind injected into
its own elevator, is published over MQTT in fast mode (event time, as fast as the CPU
allows). The ingester stores it and hands each committed batch to the rules engine, as
`whistle serve` does. The test then asks the public HTTP API, as an operator would,
whether every alert kind of the contract was raised and cleared: the telemetry kinds by
the rules themselves, `sealed_in_use` when the inspector unseals the car, and the two
calendar kinds when an inspection and a maintenance visit are recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from core.domain import AlertKind
from core.settings import Settings
from simulators.fleet import Fleet, FleetConfig
from simulators.publisher import Publisher as FleetPublisher
from simulators.registration import register
from simulators.runner import run_fast
from tests.helpers import wait_until
from whistle.assembly import Whistle

pytestmark = pytest.mark.slow

# One elevator per telemetry kind; the building mix puts E0001-E0008 in two residential
# towers and E0009-E0013 in an office block.
INJECTED = {
    "E0001": AlertKind.TRAPPED_PASSENGER,
    "E0002": AlertKind.DOOR_OPEN_WHILE_MOVING,
    "E0003": AlertKind.OVERSPEED,
    "E0004": AlertKind.OVERRUN,
    "E0005": AlertKind.SAFETY_CIRCUIT_OPEN,
    "E0006": AlertKind.POWER_LOSS,
    "E0007": AlertKind.LEVELING_ERROR,
    "E0008": AlertKind.DOOR_FAULT,
    "E0009": AlertKind.MOTOR_OVERHEAT,
    "E0010": AlertKind.ABNORMAL_VIBRATION,
    "E0011": AlertKind.ALARM_PRESSED,
    "E0012": AlertKind.OFFLINE,
    "E0013": AlertKind.SEALED_IN_USE,
}
SEALED = "E0013"
OVERDUE_INSPECTION = "E0001"
OVERDUE_MAINTENANCE = "E0002"
SIMULATED_S = 45 * 60
# Fast timers for the calendar rules; everything else keeps its defaults.
RULES = """
[escalation.timers]
calendar = "1s"
"""


@pytest.fixture()
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return path


@pytest.fixture()
def whistle(settings: Settings, db: psycopg.Connection, rules_file: Path) -> Iterator[Whistle]:
    """Ingester, rules and API in one process, exactly as `whistle serve` runs them."""
    with Whistle(settings.model_copy(update={"rules_file": rules_file, "api_port": 0})) as w:
        yield w


@pytest.fixture()
def api(whistle: Whistle, settings: Settings) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{whistle.url}/api/v1", timeout=30,
                      headers={"Authorization": f"Bearer {settings.admin_token}"}) as client:
        yield client


def alerts(api: httpx.Client, elevator: str, kind: str) -> list[dict[str, Any]]:
    r = api.get("/alerts", params={"elevator_id": elevator, "kind": kind})
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()
    return result


def raised(api: httpx.Client, elevator: str, kind: str) -> dict[str, Any] | None:
    found = alerts(api, elevator, kind)
    return found[0] if found else None


def cleared(api: httpx.Client, elevator: str, kind: str) -> bool:
    found = alerts(api, elevator, kind)
    return bool(found) and all(a["state"] == "resolved" for a in found)


def test_every_alert_kind_is_raised_and_cleared_end_to_end(
        settings: Settings, whistle: Whistle, api: httpx.Client, db: psycopg.Connection
        ) -> None:
    # Daytime traffic yesterday, whatever the hour the test runs: the vibration baseline
    # and levelling need runs and stops, which the night does not provide.
    yesterday = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) \
        - timedelta(days=1)
    fleet = Fleet(FleetConfig(
        elevators=len(INJECTED), seed=3, buildings="mixed", duration_s=SIMULATED_S,
        start_ts_ms=int(yesterday.timestamp() * 1000),
        faults=",".join(f"{kind}@3m:{eid}" for eid, kind in INJECTED.items())))
    assert [e["id"] for e in fleet.registry()["elevators"]] == list(INJECTED)
    base = str(api.base_url).rstrip("/").removesuffix("/api/v1")
    register(base, settings.admin_token or "", fleet.registry())

    # The inspector seals E0013 before the car is used; the calendar needs two elevators
    # whose dates have passed (time travel through the data, not the clock).
    r = api.post(f"/elevators/{SEALED}/inspections", json={"result": "fail", "seal": True})
    assert r.status_code == 201, r.text
    db.execute("UPDATE elevators SET next_inspection_due = current_date - 1 WHERE id = %s",
               (OVERDUE_INSPECTION,))
    db.execute("UPDATE elevators SET registered_at = now() - interval '20 days' WHERE id = %s",
               (OVERDUE_MAINTENANCE,))

    assert whistle.ingester is not None and whistle.ingester.wait_subscribed(15)
    publisher = FleetPublisher(settings.mqtt_url or "", fleet.ids,
                               topic_prefix=settings.mqtt_topic_prefix)
    publisher.start()
    stats = run_fast(fleet, publisher=publisher, progress=False)
    publisher.close(offline=False)
    assert stats.samples > len(INJECTED) * SIMULATED_S * 0.9
    truth = {(t["elevator_id"], t["kind"]) for t in fleet.close()}
    assert {(e, str(k)) for e, k in INJECTED.items()} <= truth, "every fault injected"

    for eid, kind in INJECTED.items():
        alert = wait_until(lambda e=eid, k=kind: raised(api, e, k), 120,
                           message=f"{kind} on {eid}")
        assert alert["severity"] in ("critical", "major", "minor")
        assert alert["elevator_id"] == eid
    for eid, kind in INJECTED.items():
        if kind != AlertKind.SEALED_IN_USE:
            wait_until(lambda e=eid, k=kind: cleared(api, e, k), 120,
                       message=f"{kind} on {eid} cleared by the rules")
            assert alerts(api, eid, kind)[0]["resolved_by"].startswith("whistle")

    # Unsealing clears sealed_in_use; recording the visits clears the calendar kinds.
    assert api.get(f"/elevators/{SEALED}").json()["status"] == "out_of_service"
    r = api.post(f"/elevators/{SEALED}/inspections", json={"result": "pass", "seal": False})
    assert r.status_code == 201, r.text
    wait_until(lambda: cleared(api, SEALED, AlertKind.SEALED_IN_USE), 60,
               message="sealed_in_use cleared by unsealing")
    wait_until(lambda: raised(api, OVERDUE_INSPECTION, AlertKind.INSPECTION_OVERDUE), 60,
               message="inspection_overdue")
    wait_until(lambda: raised(api, OVERDUE_MAINTENANCE, AlertKind.MAINTENANCE_OVERDUE), 60,
               message="maintenance_overdue")
    next_year = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()
    r = api.post(f"/elevators/{OVERDUE_INSPECTION}/inspections",
                 json={"result": "pass", "next_due": next_year})
    assert r.status_code == 201, r.text
    r = api.post(f"/elevators/{OVERDUE_MAINTENANCE}/maintenance",
                 json={"notes": "monthly service"})
    assert r.status_code == 201, r.text
    wait_until(lambda: cleared(api, OVERDUE_INSPECTION, AlertKind.INSPECTION_OVERDUE), 60,
               message="inspection_overdue cleared")
    wait_until(lambda: cleared(api, OVERDUE_MAINTENANCE, AlertKind.MAINTENANCE_OVERDUE),
               60, message="maintenance_overdue cleared")

    # Every contract kind went through the whole pipeline, and nothing else fired on the
    # elevators that had no fault of that kind.
    seen = {a["kind"] for a in api.get("/alerts", params={"limit": 1000}).json()}
    assert {str(k) for k in AlertKind} <= seen
    unexpected = [(a["elevator_id"], a["kind"]) for a in
                  api.get("/alerts", params={"limit": 1000}).json()
                  if (a["elevator_id"], a["kind"]) not in
                  {(e, str(k)) for e, k in INJECTED.items()}
                  | {(OVERDUE_INSPECTION, "inspection_overdue"),
                     (OVERDUE_MAINTENANCE, "maintenance_overdue")}]
    assert unexpected == []
