"""Reaching people end to end, as `whistle serve` runs (ingester, rules and API in one
process): a case opened through the API calls the property and maintenance companies; the
property company's person on duty gets an e-mail (a real SMTP server, STARTTLS and
login) and the maintenance company's default robot a message (a real local receiver);
reminders repeat every `remind` of the rules file until the maintenance company reports
for duty; every delivery is in GET /cases/{id}."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from core.settings import Settings
from storage import registry
from tests.builders import Fleet, client, ok, seed_fleet
from tests.helpers import wait_until
from tests.rules.robots import Robot
from tests.rules.smtp import PASSWORD, USER, SmtpServer
from whistle.assembly import Whistle

pytestmark = pytest.mark.slow

RULES = """
[escalation.timers]
escalate = "0.2s"
[escalation.channels]
backoff = "0.1s"
[cases.fault]
remind = "1s"
"""


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


def test_a_case_reaches_the_people_on_duty_and_reminds_until_duty(
        settings: Settings, fleet: Fleet, db: psycopg.Connection, tmp_path: Path):
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(RULES)
    tokens = {n: registry.create_token(db, org_id=o, label="e2e")["token"]
              for n, o in fleet.orgs.items()}
    with SmtpServer(tmp_path) as smtp, Robot() as robot, Whistle(settings.model_copy(update={
            "rules_file": rules_file, "api_port": 0, "webhook_allow_private": True,
            "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_user": USER,
            "smtp_password": PASSWORD, "smtp_ca_file": smtp.ca_file,
            "smtp_from": "whistle@example.org"})) as w:
        admin = client(w.url, settings.admin_token)
        prop, maint = fleet.orgs["prop_a"], fleet.orgs["maint_1"]
        wang = ok(admin.post(f"/orgs/{prop}/people", json={
            "login": "wang", "name": "Wang Li", "password": "a-long-password"}), 201)["id"]
        ok(admin.put(f"/orgs/{prop}/roster", json={"shifts": [
            {"person_id": wang, "weekday": d, "start": "00:00", "end": "00:00",
             "time_zone": "UTC"} for d in range(1, 8)]}))
        ok(admin.put(f"/orgs/{prop}/channels", json={"channels": [
            {"person_id": wang, "kind": "email", "target": "wang@example.org", "lang": "en"}]}))
        ok(admin.put(f"/orgs/{maint}/channels", json={"channels": [
            {"kind": "dingtalk", "target": f"{robot.base}/robot/send?access_token=t",
             "secret": "SEC-the-secret-0123456789"}]}))
        with client(w.url, tokens["prop_a"]) as property_client:
            case = ok(property_client.post("/cases", json={
                "kind": "fault", "elevator_id": "E1", "description": "the car shakes"}), 201)
        wait_until(lambda: smtp.messages, 20, message="the e-mail to the person on duty")
        [(rcpt, mail)] = smtp.messages[:1]
        assert rcpt == ["wang@example.org"]
        assert "the car shakes" in mail.get_body(("plain",)).get_content()
        assert f"/cases/{case['id']}" in mail.get_body(("html",)).get_content()
        wait_until(lambda: len(robot.requests()) >= 3, 20,
                   message="the robot's first message and two reminders")
        with client(w.url, tokens["maint_1"]) as maintenance_client:
            ok(maintenance_client.post(f"/cases/{case['id']}/duty", json={}))
        maint_on_duty = datetime.fromisoformat(next(
            p["on_duty_at"] for p in ok(admin.get(f"/cases/{case['id']}"))["parties"]
            if p["org_id"] == maint))
        e_mails = len(smtp.messages)
        # the property company keeps being reminded; the maintenance company no longer is
        wait_until(lambda: len(smtp.messages) >= e_mails + 2, 20,
                   message="two more reminders to the property company")
        body = ok(admin.get(f"/cases/{case['id']}"))
        admin.close()
    to_robot = [n for n in body["notifications"] if n["channel"] == "dingtalk"]
    assert to_robot[0]["change"] == "opened" and {n["state"] for n in to_robot} == {
        "delivered"}
    # at most a reminder already on its way when the duty was reported
    assert sum(datetime.fromisoformat(n["created_at"]) > maint_on_duty for n in to_robot) <= 1
    assert [n["change"] for n in to_robot[1:]] == ["reminder"] * (len(to_robot) - 1)
    to_wang = [n for n in body["notifications"] if n["recipient"] == "Wang Li"]
    assert len(to_wang) >= 3 and to_wang[0]["target"] == "w***@example.org"
    reminded = [e for e in body["events"] if e["action"] == "reminded"]
    assert len(reminded) >= 3
    texts = [r.json["markdown"]["text"] for r in robot.requests()]
    assert "提醒：贵单位尚未报到" in texts[1]  # robots speak Chinese by default
