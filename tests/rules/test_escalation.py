"""The whistle: escalation up the chain on a shortened schedule with an injected clock,
stopped by an acknowledgement, redirected by a handover; and its configuration."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from rules import escalation
from rules.notify.dispatch import Notifier
from rules.policy import Policy, PolicyError, Storm, load
from storage import alerts, registry, webhooks
from storage.alerts import changes
from tests.builders import Fleet, raise_alert, seed_fleet

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = replace(Policy(), step_s={"critical": 60.0, "major": 600.0, "minor": 86400.0,
                                   "warning": 3 * 86400.0})


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


def raise_(conn, fleet: Fleet, eid: str, kind: str = "overspeed", severity: str = "critical",
           now: datetime = T0) -> int:
    return raise_alert(conn, eid, kind, severity, at=now)


def escalate(conn, seconds: float, policy: Policy = POLICY) -> list[dict]:
    return escalation.escalate_due(conn, policy=policy, now=T0 + timedelta(seconds=seconds))


def names(orgs: list[dict]) -> list[str]:
    return sorted(o["name"] for o in orgs)


def test_an_unacknowledged_alert_climbs_the_chain_one_step_per_delay(db, fleet):
    alert_id = raise_(db, fleet, "E1")
    assert escalate(db, 59) == []
    [step] = escalate(db, 61)
    assert (step["alert_id"], step["level"], names(step["reached"])) == (alert_id, 1,
                                                                         ["maint_1"])
    assert escalate(db, 61 + 59) == []  # the next delay counts from this step
    [step] = escalate(db, 122)
    assert (step["level"], names(step["reached"])) == (2, ["community_d1", "street_d1"])
    [step] = escalate(db, 183)
    assert (step["level"], names(step["reached"])) == (3, ["sup_d1"])
    assert names(step["called"]) == ["community_d1", "maint_1", "prop_a", "street_d1",
                                     "sup_d1"]
    assert escalate(db, 10_000) == []  # supervision is the top
    row = alerts.get(db, alert_id=alert_id)
    assert row["escalation_level"] == 3 and row["escalated_at"] == T0 + timedelta(seconds=183)
    trail = [(e["action"], e["details"].get("level")) for e in alerts.events(db, alert_id=alert_id)]
    assert trail == [("raised", None), ("escalated", 1), ("escalated", 2), ("escalated", 3)]
    changes = [r[0] for r in db.execute("SELECT change FROM alert_outbox ORDER BY id")]
    assert changes == ["raised", "escalated", "escalated", "escalated"]


def test_acknowledging_stops_the_climb(db, fleet):
    acked = raise_(db, fleet, "E2")
    other = raise_(db, fleet, "E1")
    with db.transaction():
        changes.acknowledge(db, alert_id=acked, actor="maintenance:maint_2", org_id=None,
                            note=None)
    steps = escalate(db, 61)
    assert [s["alert_id"] for s in steps] == [other]
    assert [s["alert_id"] for s in escalate(db, 10_000)] == [other]
    assert alerts.get(db, alert_id=acked)["escalation_level"] == 0


def test_a_level_with_nobody_to_call_is_skipped(db, fleet):
    raise_(db, fleet, "E3")  # no maintenance organization
    [step] = escalate(db, 61)
    assert (step["from_level"], step["level"]) == (0, 2)


def test_delays_depend_on_severity_and_kind(db, fleet):
    minor = raise_(db, fleet, "E1", kind="leveling_error", severity="minor")
    overdue = raise_(db, fleet, "E2", kind="maintenance_overdue", severity="minor")
    assert [s["alert_id"] for s in escalate(db, 600)] == []
    assert [s["alert_id"] for s in escalate(db, 86_401)] == [minor]
    assert [s["alert_id"] for s in escalate(db, 2 * 86_400 + 0.5)] == [overdue]


def test_after_a_handover_the_next_notification_goes_to_the_new_property_org(db, fleet):
    for org in ("prop_a", "prop_b"):
        webhooks.create(db, org_id=fleet.orgs[org], url=f"http://127.0.0.1:9/{org}",
                        secret="s" * 20)
    now = [T0.timestamp()]
    notifier = Notifier(_pool(db), POLICY, publisher=None, clock=lambda: now[0])
    alert_id = raise_(db, fleet, "E1")
    notifier.run_once()
    registry.handover(db, elevator_pk=fleet.pks["E1"], property_org_id=fleet.orgs["prop_b"],
                      effective_at=None, recorded_by="test")
    [step] = escalate(db, 61)
    assert "prop_b" in names(step["called"]) and "prop_a" not in names(step["called"])
    now[0] += 61
    notifier.run_once()
    notified = [(e["details"]["event"], e["org_id"]) for e in alerts.events(db, alert_id=alert_id)
                if e["action"] == "notified"]
    o = fleet.orgs
    assert notified == [("alert.raised", o["prop_a"]), ("alert.raised", o["maint_1"]),
                        ("alert.escalated", o["prop_b"]), ("alert.escalated", o["maint_1"])]
    sent = db.execute("SELECT w.org_id, d.event FROM webhook_deliveries d "
                      "JOIN webhooks w ON w.id = d.webhook_id ORDER BY d.id").fetchall()
    # The major alert opened a fault case too: its parties called then were told.
    assert sent == [(o["prop_a"], "alert.raised"), (o["prop_a"], "case.opened"),
                    (o["prop_b"], "alert.escalated")]


def test_late_rescues_are_flagged(db, fleet):
    trapped = raise_(db, fleet, "E1", kind="trapped_passenger")
    assert escalation.flag_late_rescues(db, now=T0 + timedelta(minutes=29)) == []
    assert escalation.flag_late_rescues(db, now=T0 + timedelta(minutes=31)) == [trapped]
    assert escalation.flag_late_rescues(db, now=T0 + timedelta(minutes=32)) == []
    assert alerts.get(db, alert_id=trapped)["details"]["rescue"]["late"] is True
    assert alerts.events(db, alert_id=trapped)[-1]["details"] == {"rescue_late": True}


def test_the_policy_comes_from_the_escalation_table(tmp_path: Path):
    path = tmp_path / "rules.toml"
    path.write_text("""
[escalation]
critical = "30s"
minor = 7200
[escalation.kinds]
maintenance_overdue = "3d"
[escalation.storm]
threshold = 5
window = "2m"
[escalation.webhooks]
backoff = "250ms"
max_attempts = 3
[escalation.timers]
calendar = "5s"
""")
    policy = load(path)
    assert policy.step_for(kind="overspeed", severity="critical") == 30
    assert policy.step_for(kind="leveling_error", severity="minor") == 7200
    assert policy.step_for(kind="door_fault", severity="major") == 900  # the default
    assert policy.step_for(kind="maintenance_overdue", severity="minor") == 3 * 86400
    assert policy.storm == Storm(threshold=5, window_s=120, settle_s=5)
    assert policy.webhooks.retry_after(1) == 0.25 and policy.webhooks.retry_after(2) == 0.5
    assert policy.webhooks.retry_after(3) is None
    assert policy.timers.calendar_s == 5
    assert load(None) == Policy()


@pytest.mark.parametrize(("text", "where"), [
    ("[escalation]\ncritcal = '2m'", "escalation.critcal"),
    ("[escalation]\nmajor = '-5m'", "escalation.major"),
    ("[escalation]\nmajor = 'soon'", "escalation.major"),
    ("[escalation.kinds]\nflood = '1h'", "escalation.kinds"),
    ("[escalation.storm]\nthreshold = 'many'", "escalation.storm.threshold"),
])
def test_a_wrong_policy_is_refused_naming_the_key(tmp_path: Path, text: str, where: str):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=where.replace(".", r"\.")):
        load(path)


class _pool:
    """The test's own connection, shaped like a pool (one thread uses it)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def connection(self):
        from contextlib import nullcontext

        return nullcontext(self.conn)
