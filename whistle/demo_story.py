"""The demo's three stories of people reporting for duty, played through the public API
with the demo organizations' own tokens, as they would act:

1. A passenger is trapped in the tower (the simulator's fault). The property company
   reports for duty at once, but nobody arrives: past the rescue's ``arrive`` limit
   (shortened in ``demo_rules.toml``) the case is overdue and climbs to the street office
   and the supervision department.
2. A resident reports a noisy elevator from the car's QR code (the report page URL and
   its QR code are printed in the terminal, so a phone can add to it).
3. An inspector finds hidden dangers (隐患) and sets a rectification deadline: a hazard
   case that only supervision closes.

Everything is announced on the console as it happens; a failure is logged, never fatal.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import httpx
import structlog
from rich.console import Console

from whistle import demo_names as names

log = structlog.get_logger(__name__)

POLL_S = 2.0
NOISY = "E0008"

TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "hazard": ["worn traction rope strands", "car emergency light not working"],
        "hazard_done": "An inspector of {org} found hidden dangers on {e}: hazard case #{id}, "
                       "to be rectified by {by}.",
        "noise": "A grinding noise when the car passes the 10th floor",
        "report": "A resident reported a noisy car {e} from its QR code: case #{id}. "
                  "Add to it from a phone:",
        "duty_note": "On our way",
        "duty": "Rescue case #{id} on {e}: {org} reported for duty; nobody else comes. "
                "Watch it go overdue and climb to the street office.",
        "climb": "Case #{id} climbed to level {level}: {who} called.",
        "overdue": "Case #{id} is overdue: nobody arrived in time.",
    },
    "zh-CN": {
        "hazard": ["曳引钢丝绳断丝", "轿厢应急照明不亮"],
        "hazard_done": "{org}的检验员在{e}发现隐患：隐患案件 #{id}，限期 {by} 前整改。",
        "noise": "电梯经过十楼时有摩擦异响",
        "report": "一位居民扫描{e}轿厢里的二维码，报告了异响：案件 #{id}。"
                  "用手机也可以补充报告：",
        "duty_note": "正在赶来",
        "duty": "{e}的困人救援案件 #{id}：{org}已报到，但没有人到场。"
                "请看它超时后上报到街道办事处。",
        "climb": "案件 #{id} 上报到第 {level} 级：已通知 {who}。",
        "overdue": "案件 #{id} 已超时：没有人按时到场。",
    },
}


class Story(threading.Thread):
    """Plays the stories against the running service until ``stop`` is set."""

    def __init__(self, console: Console, url: str, admin_token: str, state: dict[str, Any],
                 registry: dict[str, Any], stop: threading.Event) -> None:
        super().__init__(name="whistle-demo-story", daemon=True)
        self.console = console
        self.url = url
        self.state = state
        self.lang = state["lang"]
        self.say = TEXT[self.lang]
        self.stop_event = stop
        self.elevators = {e["id"]: e for e in registry["elevators"]}
        district = state["tower_district"]
        org_names = names.ORGS[self.lang]
        district_names = dict((kind, names.district_org(name, district))
                              for name, kind in names.DISTRICT_ORGS[self.lang])
        self.property = org_names[0][0]
        self.supervision = district_names["supervision"]
        self.clients = {who: self._client(token) for who, token in (
            ("admin", admin_token),
            ("property", state["orgs"][self.property]["token"]),
            ("supervision", state["orgs"][self.supervision]["token"]))}
        self.seen: dict[int, tuple[int, bool]] = {}  # case id -> (level, overdue) announced

    def _client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", timeout=10,
                            headers={"Authorization": f"Bearer {token}"})

    def _elevator_name(self, elevator_id: str | None) -> str:
        body = self.elevators.get(elevator_id or "", {})
        return str(body.get("name", elevator_id))

    # --- the stories --------------------------------------------------------------------
    def hazard(self, elevator_id: str) -> None:
        """Story 3: an inspection with hidden dangers and a rectification deadline."""
        sup = self.clients["supervision"]
        if sup.get("/cases", params={"kind": "hazard", "elevator_id": elevator_id}).json():
            return  # told on an earlier run of this data folder
        by = (date.today() + timedelta(days=14)).isoformat()
        r = sup.post(f"/elevators/{elevator_id}/inspections", json={
            "result": "conditional", "hazards": self.say["hazard"], "rectify_by": by})
        r.raise_for_status()
        self.console.print(self.say["hazard_done"].format(
            org=self.supervision, e=self._elevator_name(elevator_id), id=r.json()["case_id"],
            by=by))

    def resident(self, elevator_id: str) -> None:
        """Story 2: a resident's report from the car's QR code, and the URL to add one."""
        admin = self.clients["admin"]
        code = admin.get(f"/elevators/{elevator_id}").json().get("report_code")
        if not code:
            return
        page = f"{self.url}/r/{code}"
        if not admin.get("/cases", params={"elevator_id": elevator_id,
                                           "state": "open"}).json():
            r = httpx.post(f"{self.url}/api/v1/public/reports", timeout=10, json={
                "code": code, "category": "noise", "description": self.say["noise"]})
            r.raise_for_status()
        case = admin.get("/cases", params={"elevator_id": elevator_id}).json()
        self.console.print(self.say["report"].format(e=self._elevator_name(elevator_id),
                                                     id=case[0]["id"] if case else "?"))
        self.console.print(f"  {page}", highlight=False, soft_wrap=True)
        try:
            import segno

            segno.make(page, error="m").terminal(compact=True)  # type: ignore[no-untyped-call]
        except Exception as exc:  # a terminal that cannot show it still has the URL
            log.debug("no QR code in this terminal", error=str(exc))

    def rescue_round(self) -> None:
        """Story 1: the property company reports for duty on each new rescue case; every
        climb and deadline passed is announced."""
        prop = self.clients["property"]
        for case in prop.get("/cases", params={"kind": "rescue", "limit": 20}).json():
            if case["state"] not in ("open", "on_site"):
                continue
            mine = next((p for p in case["parties"] if p["org_name"] == self.property), None)
            if mine is not None and mine["on_duty_at"] is None:
                r = prop.post(f"/cases/{case['id']}/duty", json={"note": self.say["duty_note"]})
                if r.status_code == 200:
                    self.console.print(self.say["duty"].format(
                        id=case["id"], e=self._elevator_name(case["elevator_id"]),
                        org=self.property))
            level, overdue = self.seen.get(case["id"], (0, False))
            if case["overdue"] and not overdue:
                self.console.print(self.say["overdue"].format(id=case["id"]))
            if case["level"] > level:
                who = ", ".join(p["org_name"] for p in case["parties"]
                                if p["level"] == case["level"])
                self.console.print(self.say["climb"].format(id=case["id"],
                                                            level=case["level"], who=who))
            self.seen[case["id"]] = (case["level"], bool(case["overdue"]))

    def run(self) -> None:
        ids = sorted(self.elevators)
        # the scenario's noisy car (abnormal vibration, simulators/scenarios/demo.toml)
        noisy = NOISY if NOISY in self.elevators else ids[-1]
        for job, elevator_id in ((self.hazard, ids[0]), (self.resident, noisy)):
            try:
                job(elevator_id)
            except Exception as exc:  # the demo goes on without this story
                log.warning("demo story step failed", error=str(exc))
        while not self.stop_event.wait(POLL_S):
            try:
                self.rescue_round()
            except Exception as exc:
                log.warning("demo rescue story failed", error=str(exc))
        for client in self.clients.values():
            client.close()
