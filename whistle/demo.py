"""`whistle demo`: the whole service on embedded defaults, with a simulated fleet and tokens.

Composition root, like the CLI: it starts the embedded database and broker, runs the
ingester, rules engine and API in this process, registers a fleet (the 33-storey
residential tower and more) with the organizations that answer for it, starts the
simulator as a separate process (its own core, as real devices would be), prints the
dashboard URL and one token per role, and stops everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import structlog
from rich.console import Console
from rich.panel import Panel

from core.settings import Settings
from whistle import demo_names as names
from whistle.demo_reach import Robots, set_up
from whistle.demo_story import Story
from whistle.embedded.ports import free_port, port_is_free

log = structlog.get_logger(__name__)
SCENARIO = "demo.toml"
RULES = "demo_rules.toml"  # shortened rescue limits (whistle/demo_story.py, story 1)

# Who answers for the demo fleet, by language: see whistle/demo_names.py. District
# organizations are created for every district the simulated sites are in; the tokens
# printed are those of the tower's district.


def _demo_file(settings: Settings) -> Path:
    return settings.data_dir / "demo.json"


def _setup(api_url: str, admin_token: str, registry: dict[str, Any], state_file: Path,
           lang: str) -> dict[str, Any]:
    """Create organizations, tokens, sites and elevators once; reuse them on later runs."""
    from simulators import register

    if state_file.exists():
        state: dict[str, Any] = json.loads(state_file.read_text())
        state.setdefault("lang", "en")
        return state
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=f"{api_url}/api/v1", headers=headers, timeout=30) as api:
        orgs: dict[str, dict[str, Any]] = {}

        def org(name: str, kind: str, district: str | None = None) -> dict[str, Any]:
            body = {"name": name, "kind": kind} | ({"district": district} if district else {})
            r = api.post("/orgs", json=body)
            r.raise_for_status()
            created: dict[str, Any] = r.json()
            token = api.post(f"/orgs/{created['id']}/tokens", json={"label": "demo"})
            token.raise_for_status()
            created["token"] = token.json()["token"]
            orgs[name] = created
            return created

        prop = org(*names.ORGS[lang][0])
        maint = org(*names.ORGS[lang][1])
        districts = sorted({s["district"] for s in registry["sites"]})
        for d in districts:
            for name, kind in names.DISTRICT_ORGS[lang]:
                org(names.district_org(name, d), kind, d)
        register(api_url, admin_token, registry, property_org_id=prop["id"],
                 maintenance_org_id=maint["id"])
    state = {"orgs": orgs, "tower_district": registry["sites"][0]["district"], "lang": lang}
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.touch(mode=0o600)
    state_file.write_text(json.dumps(state, indent=2))
    return state


def _device_logins(api_url: str, admin_token: str, registry: dict[str, Any],
                   data_dir: Path) -> list[str]:
    """With WHISTLE_MQTT_DEVICE_AUTH=on every simulated elevator gets its own broker login
    (new ones each run: only their hashes are kept); the simulator's --credentials option."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    logins: dict[str, str] = {}
    with httpx.Client(base_url=f"{api_url}/api/v1", headers=headers, timeout=30) as api:
        for e in registry["elevators"]:
            r = api.post(f"/elevators/{e['id']}/credentials")
            r.raise_for_status()
            logins[e["id"]] = r.json()["password"]
    path = data_dir / "device_credentials.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps(logins))
    return ["--credentials", str(path)]


def _print_welcome(console: Console, url: str, admin_token: str, state: dict[str, Any]
                   ) -> None:
    d, lang = state["tower_district"], state["lang"]
    orgs, district_orgs = names.ORGS[lang], names.DISTRICT_ORGS[lang]
    say = names.WELCOME[lang]
    console.print(Panel.fit(
        f"[bold]{say['dashboard']}[/bold]  {url}/?lang={lang}\n[bold]API[/bold]  {url}/api/v1\n"
        f"[bold]OpenAPI[/bold]  {url}/docs", title=say["title"]))
    rows = [
        (say["admin"], say["everything"], admin_token),
        (orgs[0][0], say["manages"], state["orgs"][orgs[0][0]]["token"]),
        (orgs[1][0], say["maintains"], state["orgs"][orgs[1][0]]["token"]),
    ] + [(names.district_org(name, d), say["district"].format(d=d),
          state["orgs"][names.district_org(name, d)]["token"])
         for name, _ in district_orgs[:2]]
    console.print(say["sign_in"])
    for who, sees, token in rows:
        # printed whole, never wrapped or cut: people copy them
        console.print(f"  [bold]{who}[/bold] ({sees})", highlight=False)
        console.print(f"    {token}", highlight=False, soft_wrap=True)
    console.print("\n" + say["story"] + "\n")


def run_demo(settings: Settings, *, elevators: int, seed: int, lang: str | None = None
             ) -> None:
    """Run until Ctrl-C (see the module docstring)."""
    from simulators import Fleet, FleetConfig
    from whistle.assembly import Whistle
    from whistle.runtime import services, settle_gc

    console = Console()
    if settings.rules_file is None:
        settings = settings.model_copy(update={"rules_file": Path(str(
            resources.files("whistle").joinpath(RULES)))})
    # the demo's robots (whistle/demo_reach.py) listen on 127.0.0.1
    settings = settings.model_copy(update={"webhook_allow_private": True})
    port = settings.api_port
    if not port_is_free(port):
        port = free_port()
        console.print(f"[yellow]port {settings.api_port} is busy; using {port}")
    with services(settings.model_copy(update={"api_port": port})) as ready:
        assert ready.admin_token is not None and ready.mqtt_url is not None
        whistle = Whistle(ready).start()
        settle_gc()
        url = whistle.url
        sim: subprocess.Popen[bytes] | None = None
        robots: Robots | None = None
        try:
            registry = names.localise(Fleet(FleetConfig(elevators=elevators, seed=seed,
                                                        buildings="mixed")).registry(),
                                      lang or ready.default_lang)
            state = _setup(url, ready.admin_token, registry, _demo_file(ready),
                           lang or ready.default_lang)
            if lang is not None and state["lang"] != lang:
                console.print(f"[yellow]the data folder holds the {state['lang']} demo fleet; "
                              "it is kept (remove the data folder for a fresh one)")
            scenario = resources.files("simulators").joinpath("scenarios", SCENARIO)
            logins = (_device_logins(url, ready.admin_token, registry, ready.data_dir)
                      if ready.mqtt_device_auth == "on" else [])
            sim = subprocess.Popen(
                [sys.executable, "-m", "simulators", "--elevators", str(elevators),
                 "--seed", str(seed), "--buildings", "mixed", "--faults", str(scenario),
                 "--mqtt", ready.mqtt_url, "--no-progress", *logins],
                env=dict(os.environ, WHISTLE_LOG_LEVEL="warning"),
                stdout=subprocess.DEVNULL, start_new_session=True)
            _print_welcome(console, url, ready.admin_token, state)
            robots = Robots(console, state["lang"]).start()
            try:
                set_up(url, ready.admin_token, state, robots, names.ORGS[state["lang"]][0][0],
                       names.ORGS[state["lang"]][1][0])
            except (httpx.HTTPError, KeyError) as exc:  # the demo goes on without them
                log.warning("demo: people on duty not set up", error=str(exc))
            stop = threading.Event()
            Story(console, url, ready.admin_token, state, registry, stop).start()
            for s in (signal.SIGINT, signal.SIGTERM):
                signal.signal(s, lambda *_: stop.set())
            while not stop.is_set() and whistle.alive:
                stop.wait(0.5)
                if sim.poll() is not None:
                    console.print("[yellow]the simulator stopped; the service keeps running")
                    sim = None
                    break
            while not stop.is_set() and whistle.alive:
                stop.wait(0.5)
        finally:
            console.print("stopping…")
            if sim is not None and sim.poll() is None:
                sim.send_signal(signal.SIGINT)
                try:
                    sim.wait(15)
                except subprocess.TimeoutExpired:
                    sim.kill()
            whistle.stop()
            if robots is not None:
                robots.stop()
        console.print("stopped; data kept in " + str(ready.data_dir))
