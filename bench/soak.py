"""`make bench-soak`: does `whistle serve` keep a flat memory as the fleet runs for an hour?

One `whistle serve` process (ingester, rules and API) and one simulator process publishing
a residential fleet at 1 Hz per elevator (2,000 by default), on this machine's PostgreSQL
and Mosquitto when WHISTLE_DATABASE_URL / WHISTLE_MQTT_URL are set (a fresh database is
made for the run), else on embedded ones. Every minute the service's RSS and CPU time are
read; the figures at 10, 30 and 60 minutes (or at the end of a shorter run) go to
bench/results/soak.json, and the headline ones into bench/results/scale.json
(``rss_mb_per_1k_elevators_after_1h`` and friends). Issue 13 wants the RSS flat and at most
20 KB per elevator for the rules' state.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from simulators.fleet import Fleet, FleetConfig
from simulators.registration import register
from storage.db import migrate
from whistle.embedded.broker import EmbeddedBroker
from whistle.embedded.ports import free_port
from whistle.embedded.postgres import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CHECKPOINTS_MIN = (10, 30, 60)
console = Console(stderr=True)


def merge_json(path: Path, values: dict[str, Any]) -> None:
    """Add keys to a results file, keeping the keys other benchmarks wrote."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(values)
    path.write_text(json.dumps(data, indent=2) + "\n")


class Servers:
    """A database and a broker for the run: this machine's (a fresh database) or embedded."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="whistle-soak-"))
        self.dir.chmod(0o755)
        self.pg: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.dbname: str | None = None
        server = os.environ.get("WHISTLE_DATABASE_URL")
        if server:
            self.server = server
            self.dbname = f"whistle_soak_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {self.dbname}")
            self.url = server.rpartition("/")[0] + "/" + self.dbname
        else:
            self.pg = EmbeddedPostgres(self.dir)
            self.url = self.pg.start()
        migrate(self.url)
        mqtt = os.environ.get("WHISTLE_MQTT_URL")
        if mqtt:
            self.mqtt_url = mqtt
        else:
            self.broker = EmbeddedBroker(self.dir)
            self.mqtt_url = self.broker.start()

    def close(self) -> None:
        if self.broker is not None:
            self.broker.stop()
        if self.pg is not None:
            self.pg.stop(mode="immediate")
        if self.dbname is not None:
            with psycopg.connect(self.server, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)")
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("whistle serve exited; see its log")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"whistle serve did not answer on {url} within {timeout:.0f} s")


def sample(proc: psutil.Process) -> tuple[float, float]:
    """(RSS MB, CPU seconds) of the service and its children."""
    procs = [proc, *proc.children(recursive=True)]
    rss = sum(p.memory_info().rss for p in procs) / 2**20
    cpu = sum(sum(p.cpu_times()[:2]) for p in procs)
    return rss, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--elevators", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    servers = Servers()
    tmp = servers.dir
    port = free_port()
    prefix = f"soak-{uuid.uuid4().hex[:6]}/"
    token = "soak-admin-" + uuid.uuid4().hex + uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(WHISTLE_DATABASE_URL=servers.url, WHISTLE_MQTT_URL=servers.mqtt_url,
               WHISTLE_MQTT_TOPIC_PREFIX=prefix, WHISTLE_ADMIN_TOKEN=token,
               WHISTLE_API_PORT=str(port), WHISTLE_DATA_DIR=str(tmp / "data"),
               WHISTLE_LOG_LEVEL="warning", WHISTLE_MQTT_CLIENT_ID=f"soak-{prefix[5:11]}")
    log = (tmp / "serve.log").open("wb")
    serve = subprocess.Popen([sys.executable, "-m", "whistle", "serve"], env=env, stdout=log,
                             stderr=subprocess.STDOUT, cwd=ROOT)
    sim: subprocess.Popen[bytes] | None = None
    series: list[dict[str, float]] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, serve)
        fleet = Fleet(FleetConfig(elevators=args.elevators, seed=11, buildings="residential"))
        began = time.monotonic()
        with console.status(f"registering {args.elevators:,} elevators through the API"):
            register(url, token, fleet.registry())
        register_s = time.monotonic() - began
        console.print(f"registered {args.elevators:,} elevators in {register_s:.0f} s")
        sim = subprocess.Popen(
            [sys.executable, "-m", "simulators", "--elevators", str(args.elevators),
             "--seed", "11", "--buildings", "residential", "--mqtt", servers.mqtt_url,
             "--topic-prefix", prefix, "--no-progress", "--no-offline-on-exit"],
            env=env, stdout=subprocess.DEVNULL, stderr=(tmp / "sim.log").open("wb"), cwd=ROOT)
        service = psutil.Process(serve.pid)
        start = time.monotonic()
        _, cpu0 = sample(service)
        total_s = args.minutes * 60
        with Progress(TextColumn("soak"), BarColumn(), TextColumn("{task.description}"),
                      TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task("", total=total_s)
            while (elapsed := time.monotonic() - start) < total_s:
                time.sleep(min(60.0, total_s - elapsed))
                if serve.poll() is not None or sim.poll() is not None:
                    raise SystemExit("a process of the soak exited early; see " + str(tmp))
                rss, cpu = sample(service)
                minute = (time.monotonic() - start) / 60
                series.append({"minute": round(minute, 2), "rss_mb": round(rss, 1),
                               "cpu_s": round(cpu - cpu0, 1)})
                bar.update(task, completed=minute * 60,
                           description=f"RSS {rss:,.0f} MB, CPU {cpu - cpu0:,.0f} s")
        with psycopg.connect(servers.url) as conn:
            stored = int(conn.execute("SELECT count(*) FROM telemetry").fetchone()[0])  # type: ignore[index]
    finally:
        for p in (sim, serve):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()
        servers.close()

    def at(minute: float) -> dict[str, float] | None:
        reached = [s for s in series if s["minute"] >= minute - 0.5]
        return reached[0] if reached else None

    points = {m: at(m) for m in CHECKPOINTS_MIN}
    last = series[-1]
    per_minute_cpu = [(b["cpu_s"] - a["cpu_s"]) / (b["minute"] - a["minute"])
                      for a, b in itertools.pairwise(series)]
    result = {
        "elevators": args.elevators, "minutes": round(last["minute"], 1),
        "register_s": round(register_s, 1), "samples_stored": stored,
        "rss_mb": {f"{m}min": p["rss_mb"] for m, p in points.items() if p},
        "rss_mb_end": last["rss_mb"],
        "rss_growth_mb_per_min_after_10min": round(
            (last["rss_mb"] - series[min(9, len(series) - 1)]["rss_mb"])
            / max(1.0, last["minute"] - series[min(9, len(series) - 1)]["minute"]), 2),
        "cpu_s_per_min_first_and_last": [round(per_minute_cpu[0], 1),
                                         round(per_minute_cpu[-1], 1)] if per_minute_cpu else [],
        "series": series,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    merge_json(RESULTS / "scale.json", {
        "rss_mb_per_1k_elevators_after_1h" if last["minute"] >= 59 else
        f"rss_mb_per_1k_elevators_after_{round(last['minute'])}min":
            round(last["rss_mb"] / (args.elevators / 1000), 1),
        "soak_rss_mb": result["rss_mb"], "soak_elevators": args.elevators})
    console.print_json(json.dumps({k: v for k, v in result.items() if k != "series"}))


if __name__ == "__main__":
    main()
