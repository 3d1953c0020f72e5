"""`make bench-scale`: the registry and the fleet page at city scale, on one `whistle serve`.

In one run, against this machine's PostgreSQL and Mosquitto (``WHISTLE_DATABASE_URL`` and
``WHISTLE_MQTT_URL``; a fresh database is created on that server and dropped after) or the
embedded ones:
  1. `whistle serve` starts on an empty registry; a file of 100 elevators (10 sites) is
     imported through ``POST /api/v1/elevators/import``; then ``POST /elevators`` is timed
     (``post_elevator_ms_at_100``, median);
  2. `whistle import` registers a file of 10,000 elevators and 1,000 sites, with Chinese
     names and codes (``import_10k_s``: the whole command, start-up included);
  3. ``POST /elevators`` is timed again at 10,160 elevators (``post_elevator_ms_at_10k``);
  4. every elevator is made to report (status ``normal``), about 1 % get a major alert and
     0.5 % go offline, spread over the districts and sites; the admin's fleet page is
     fetched (``fleet_page_kb_at_10k``, ``fleet_page_ms_at_10k``: median time to the whole
     answer over loopback).
Figures are merged into bench/results/scale.json (other benchmarks write other keys).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console

from rules import lifecycle
from rules.policy import Rescue
from rules.transitions import Transition
from whistle.embedded.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scale.json"
ADMIN = "bench-scale-" + "a" * 32
HEADER = ("type,name,kind,district,address,property_org,id,site,maintenance_org,"
          "rated_speed_mps,rated_load_kg,min_floor,max_floor,travel_m,registration_code,"
          "rescue_code")
DISTRICTS = ("南山区", "福田区", "罗湖区", "宝安区", "龙岗区", "龙华区", "光明区", "坪山区",
             "盐田区", "大鹏新区")
console = Console(stderr=True)


def city_file(prefix: str, elevators: int, sites: int, first: int, ids: str) -> str:
    """A CSV of two organizations, the sites and the elevators (codes unique per run)."""
    org, maint = f"{prefix}物业集团", f"{prefix}电梯维保"
    lines = [HEADER, f"org,{org},property,,,,,,,,,,,,,", f"org,{maint},maintenance,,,,,,,,,,,,,"]
    lines += [f"site,{prefix}花园{i:04d},,{DISTRICTS[i % len(DISTRICTS)]},深南大道{first + i}号,"
              f"{org},,,,,,,,,," for i in range(sites)]
    per_site = elevators // sites
    lines += [f"elevator,{i % per_site + 1}号梯,,,,,{ids}{first + i:06d},"
              f"{prefix}花园{i // per_site:04d},{maint},1.75,1000,0,17,54,"
              f"4403{first + i:016d},{100000 + first + i}" for i in range(elevators)]
    return "\n".join(lines) + "\n"


def elevator_body(eid: str, site_id: int) -> dict[str, Any]:
    return {"id": eid, "site_id": site_id, "name": "新梯", "rated_speed_mps": 1.75,
            "rated_load_kg": 1000, "min_floor": 0, "max_floor": 17, "travel_m": 54}


def time_posts(api: httpx.Client, prefix: str, site_id: int, n: int) -> list[float]:
    """Milliseconds of n registrations through POST /elevators."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        r = api.post("/elevators", json=elevator_body(f"{prefix}{i:04d}", site_id))
        out.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 201:
            raise SystemExit(f"bench: POST /elevators answered {r.status_code}: {r.text}")
    return out


@contextmanager
def database() -> Iterator[str]:
    """A fresh database on the configured server, or on an embedded one."""
    server = os.environ.get("WHISTLE_DATABASE_URL")
    if server is None:
        from whistle.embedded.postgres import EmbeddedPostgres

        folder = Path(tempfile.mkdtemp(prefix="whistle-bench-scale-"))
        folder.chmod(0o755)
        pg = EmbeddedPostgres(folder)
        try:
            yield pg.start()
        finally:
            pg.stop(mode="immediate")
        return
    name = f"whistle_bench_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def environment(url: str, tmp: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(WHISTLE_DATABASE_URL=url, WHISTLE_ADMIN_TOKEN=ADMIN, WHISTLE_DATA_DIR=str(tmp),
               WHISTLE_API_PORT=str(port), WHISTLE_LOG_LEVEL="warning",
               WHISTLE_MQTT_TOPIC_PREFIX=f"bench-scale-{uuid.uuid4().hex[:6]}/",
               WHISTLE_MQTT_CLIENT_ID=f"bench-scale-{uuid.uuid4().hex[:6]}",
               WHISTLE_MQTT_SESSION_EXPIRY_S="60")
    if "WHISTLE_MQTT_URL" in os.environ:
        env["WHISTLE_MQTT_URL"] = os.environ["WHISTLE_MQTT_URL"]
    return env


def make_city_status(url: str, expected: int, faults: float, offline: float) -> int:
    """Every elevator reporting; a share with a major alert, another offline. Not normal."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO elevator_state (elevator_pk, last_seen, data_at, last_ts, latest, "
            "connection) SELECT pk, now(), now(), now(), '{\"floor\": 1}', 'online' "
            "FROM elevators ON CONFLICT (elevator_pk) DO UPDATE SET last_seen = now()")
        rows = conn.execute("SELECT id, pk FROM elevators ORDER BY pk").fetchall()
        if len(rows) < expected:
            raise SystemExit(f"bench: {len(rows)} elevators registered, not {expected}")
        # Steps just under 1/share, so the troubled elevators spread over districts and sites.
        step_f, step_o = round(1 / faults) - 3, round(1 / offline) - 1
        now = datetime.now(UTC)
        lifecycle.apply(conn, transitions=[
            Transition(eid, pk, "door_fault", "raise", int(now.timestamp() * 1e6), "major", {})
            for eid, pk in rows[::step_f]], now=now, rescue=Rescue())
        conn.execute("UPDATE elevator_state SET connection = 'offline', "
                     "connection_at = now() + interval '1 second' WHERE elevator_pk = ANY(%s)",
                     ([pk for _, pk in rows[3::step_o]],))
        return len(rows[::step_f]) + len(rows[3::step_o])


def run(elevators: int, sites: int, posts: int, pages: int) -> dict[str, Any]:
    with database() as url, tempfile.TemporaryDirectory(prefix="whistle-bench-") as tmp:
        port = free_port()
        env = environment(url, Path(tmp), port)
        log = (Path(tmp) / "serve.log").open("wb")
        serve = subprocess.Popen([sys.executable, "-m", "whistle", "serve"], env=env,
                                 stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if serve.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("bench: whistle serve did not start:\n"
                                     + (Path(tmp) / "serve.log").read_text())
                time.sleep(0.2)
            api = httpx.Client(base_url=base + "/api/v1", timeout=60,
                               headers={"Authorization": f"Bearer {ADMIN}"})
            small = api.post("/elevators/import",
                             content=city_file("小", 100, 10, 0, "XS").encode(),
                             headers={"Content-Type": "text/csv"})
            if small.status_code != 201:
                raise SystemExit(f"bench: import of 100 answered {small.status_code}: "
                                 f"{small.text[:500]}")
            site_id = api.get("/sites", params={"limit": 1}).json()[0]["id"]
            time.sleep(2)  # the registry notifications of the import are taken in
            at_100 = time_posts(api, "P1-", site_id, posts)
            console.print(f"POST /elevators at 100: median {statistics.median(at_100):.1f} ms")
            big = Path(tmp) / "city.csv"
            big.write_text(city_file("深", elevators, sites, 1000, "SZ"), encoding="utf-8")
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "whistle", "import", str(big)], env=env,
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            import_s = time.perf_counter() - t0
            console.print(f"whistle import of {elevators:,} elevators: {import_s:.1f} s")
            time.sleep(5)  # ingest and rules reload the registry once (the bulk notification)
            at_10k = time_posts(api, "P2-", site_id, posts)
            console.print(f"POST /elevators at {elevators:,}: median "
                          f"{statistics.median(at_10k):.1f} ms")
            troubled = make_city_status(url, elevators + 100 + 2 * posts, 0.01, 0.005)
            page = httpx.Client(base_url=base, timeout=60, cookies={"whistle_token": ADMIN})
            times, size = [], 0
            for _ in range(pages):
                t0 = time.perf_counter()
                r = page.get("/", params={"lang": "zh-CN"})
                times.append((time.perf_counter() - t0) * 1000)
                size = len(r.content)
                if r.status_code != 200:
                    raise SystemExit(f"bench: the fleet page answered {r.status_code}")
            console.print(f"fleet page: {size / 1024:.1f} KB, median "
                          f"{statistics.median(times):.1f} ms")
        finally:
            serve.terminate()
            serve.wait(30)
            log.close()
    return {
        "import_10k_s": round(import_s, 2),
        "post_elevator_ms_at_100": round(statistics.median(at_100), 1),
        "post_elevator_ms_at_10k": round(statistics.median(at_10k), 1),
        "fleet_page_kb_at_10k": round(size / 1024, 1),
        "fleet_page_ms_at_10k": round(statistics.median(times), 1),
        "registry_config": {"elevators": elevators + 100 + 2 * posts, "imported": elevators,
                            "sites": sites, "posts": posts, "pages": pages,
                            "not_normal": troubled, "server": "one `whistle serve`"},
        "registry_runs": {"post_ms_at_100": [round(t, 1) for t in at_100],
                          "post_ms_at_10k": [round(t, 1) for t in at_10k],
                          "fleet_page_ms": [round(t, 1) for t in times]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elevators", type=int, default=10_000)
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--pages", type=int, default=15)
    args = parser.parse_args()
    figures = run(args.elevators, args.sites, args.posts, args.pages)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged.update(figures)
    merged.setdefault("machine", {}).update({
        "cpus": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    console.print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
