"""The demo's people on duty (issue 15): a person of the property company on duty around
the clock, reached through an enterprise WeChat group robot, and the maintenance company's
default DingTalk robot (signed) -- both robots are a small local HTTP receiver that prints
every message it gets on the console, as the phone in the duty room would show it.

The robots are on 127.0.0.1, so the demo lets people's channels use private addresses
(``WHISTLE_WEBHOOK_ALLOW_PRIVATE``, for the demo's own process only).
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel

__all__ = ["Robots", "set_up"]

SAY = {
    "en": {"person": "Li Na (duty officer)", "robot": "{who}'s phone: {app}",
           "wecom": "WeCom group", "dingtalk": "DingTalk group"},
    "zh-CN": {"person": "李娜（值班员）", "robot": "{who}的手机：{app}",
              "wecom": "企业微信群", "dingtalk": "钉钉群"},
}


class Robots:
    """A local receiver of robot messages that prints them."""

    def __init__(self, console: Console, lang: str) -> None:
        self.console = console
        self.say = SAY[lang]
        self.who: dict[str, str] = {}
        robots = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                robots.show(self.path.split("?", 1)[0].strip("/"), body)

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="whistle-demo-robots")

    def start(self) -> Robots:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def show(self, app: str, body: bytes) -> None:
        try:
            data = json.loads(body)
            text = (data.get("markdown") or {}).get("content") or (
                data.get("markdown") or {}).get("text") or json.dumps(data, ensure_ascii=False)
        except ValueError:
            text = body.decode(errors="replace")
        title = self.say["robot"].format(who=self.who.get(app, app),
                                         app=self.say.get(app, app))
        self.console.print(Panel(text.replace("**", ""), title=title, expand=False),
                           highlight=False)


def set_up(url: str, admin_token: str, state: dict[str, Any], robots: Robots,
           property_name: str, maintenance_name: str) -> None:
    """The property company's person on duty (created once) with a WeCom robot, the
    maintenance company's default DingTalk robot; channels point at this run's robots."""
    say = robots.say
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=10) as api:
        prop = state["orgs"][property_name]["id"]
        maint = state["orgs"][maintenance_name]["id"]
        people = api.get(f"/orgs/{prop}/people").json()
        person = next((p for p in people if p["login"] == "duty-officer"), None)
        if person is None:
            r = api.post(f"/orgs/{prop}/people", json={
                "login": "duty-officer", "name": say["person"],
                "password": secrets.token_urlsafe(16), "phone": "13800000000"})
            r.raise_for_status()
            person = r.json()
        api.put(f"/orgs/{prop}/roster", json={"shifts": [
            {"person_id": person["id"], "weekday": d, "start": "08:00", "end": "08:00",
             "time_zone": "Asia/Shanghai"} for d in range(1, 8)]}).raise_for_status()
        api.put(f"/orgs/{prop}/channels", json={"channels": [
            {"person_id": person["id"], "kind": "wecom", "lang": state["lang"],
             "target": f"{robots.base}/wecom?key=demo"}]}).raise_for_status()
        api.put(f"/orgs/{maint}/channels", json={"channels": [
            {"kind": "dingtalk", "lang": state["lang"], "secret": "SEC" + secrets.token_hex(16),
             "target": f"{robots.base}/dingtalk?access_token=demo"}]}).raise_for_status()
    robots.who = {"wecom": person["name"], "dingtalk": maintenance_name}
