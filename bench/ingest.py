"""`make bench`: Whistle's ingester against the broker's own limit, a bare paho subscriber
and the Node-RED peer.

In one run, on this machine, interleaved per repetition:
  (a) physical limit: `mosquitto_sub` (libmosquitto, C) receiving the messages from the
      same broker at QoS 1 and writing nothing but each arrival time (`-F %U`): what the
      publisher and the broker deliver to a subscriber that does nothing;
  (b) bare paho subscriber (reference): a paho client counting the messages, nothing else;
  (c) `whistle ingest` storing them (validation, dedup index, ack after commit);
  (d) the Node-RED peer of ../shared/peers/node-red (`run.sh N BATCH`);
for 1-sample messages and for 50-sample array messages, QoS 1, a publisher window of 100.
The publisher is the same for (a) to (c): `python -m bench.load`, a paho client in a
process of its own, like the peer's bench.py (the same code and bytes), so that a consumer
on one core does not slow the load it is offered through the bench's own process; and the
bench's Mosquitto is configured as the peer's run.sh configures its own (`--broker peer`,
the default), so that all four are offered the same load. `--broker whistle` uses Whistle's
embedded broker configuration instead (TCP_NODELAY, persistence, deep queues).
Figures are medians over the repetitions and are reported as ratios measured in the
same run, because this machine is shared and noisy. Writes bench/results/ingest.json.
`--profile DIR` also records each Whistle run with py-spy (collapsed stacks in DIR, and
the top functions printed); the profiler slows what it samples, so such a run's figures go
to DIR/ingest.json, never to the results file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench import flame
from bench.load import PublisherProcess
from bench.services import ELEVATORS, Services, host_cpu, peak_rss_mb, proc_cpu, tree_cpu
from core import logs
from storage import telemetry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ingest.json"
# ../shared/peers/node-red of the checkout (or of its parent, for a git worktree)
PEER = next((d / "shared" / "peers" / "node-red" for d in ROOT.parents
             if (d / "shared" / "peers" / "node-red").is_dir()),
            ROOT.parent / "shared" / "peers" / "node-red")
WINDOW = 100
POLL_S = 0.25  # the peer harness's --poll default
console = Console(stderr=True)


@dataclass(frozen=True)
class Load:
    """N samples, BATCH per message, from t0_ms: the same bytes for every consumer."""

    n: int
    batch: int
    t0_ms: int

    @property
    def messages(self) -> int:
        return -(-self.n // self.batch)

    def publisher(self, port: int) -> PublisherProcess:
        """A connected publisher process (its own process, as the peer's), not yet started."""
        return PublisherProcess(port, self.n, self.batch, ELEVATORS, self.t0_ms)


def run_limit(svc: Services, load: Load, n: int) -> dict[str, Any] | None:
    """mosquitto_sub, printing nothing but arrival times: messages/s from the first publish
    to the last arrival; None (with a note) where it is not installed."""
    exe = shutil.which("mosquitto_sub")
    if exe is None:
        console.print("[yellow]physical limit skipped: mosquitto_sub not found")
        return None
    cid = f"limit-{time.time_ns()}"
    # MQTT 5 like the ingester: its Receive Maximum (libmosquitto's 65535) sets the window,
    # not the broker's max_inflight_messages for MQTT 3.1.1 clients (20 in --broker peer)
    base = [exe, "-h", "127.0.0.1", "-p", str(svc.mqtt_port), "-V", "mqttv5", "-c",
            "-x", "600", "-i", cid, "-q", "1", "-t", "lift/+/telemetry"]
    # A persistent session first (-E: exit once subscribed), so nothing published before
    # the counting client is connected is lost: the broker queues it for the session.
    subprocess.run([*base, "-E"], check=True, timeout=30, stdout=subprocess.DEVNULL)
    # It prints only each message's arrival time (-F %U), so the clock stops at the last
    # arrival, not at its exit (libmosquitto's loop may take a while to notice the end).
    stamps = svc.dir / f"{cid}.txt"
    out = stamps.open("wb")
    sub = subprocess.Popen([*base, "-C", str(load.messages), "-F", "%U"], stdout=out)
    ended: dict[str, Any] = {}

    def reap() -> None:
        _pid, status, usage = os.wait4(sub.pid, 0)
        ended.update(t=time.time(), status=status, cpu_s=usage.ru_utime + usage.ru_stime,
                     rss=usage.ru_maxrss / 1024)

    reaper = threading.Thread(target=reap, daemon=True)
    reaper.start()
    pub = load.publisher(svc.mqtt_port)  # (mosquitto_sub connects meanwhile; if not, the
    pub.go()                             # session holds the messages for it)
    t0, pub_s = pub.wait()
    reaper.join(60)
    if not ended or ended["status"] != 0:
        sub.kill()
        console.print("[yellow]physical limit: mosquitto_sub did not receive everything")
        return None
    sub.returncode = 0  # reaped by wait4 above
    out.close()
    lines = stamps.read_text().split()
    stamps.unlink()
    seconds = (float(lines[-1]) if len(lines) == load.messages else ended["t"]) - t0
    return {"msgs_per_s": load.messages / seconds, "samples_per_s": n / seconds,
            "seconds": seconds, "cpu_s": ended["cpu_s"], "publish_s": pub_s,
            "cpu_us_per_sample": ended["cpu_s"] / n * 1e6, "peak_rss_mb": ended["rss"]}


def run_reference(svc: Services, load: Load, n: int) -> dict[str, Any]:
    """The bare paho subscriber: messages/s from the first publish to the last arrival."""
    sub = subprocess.Popen([sys.executable, "-m", "bench.bare_subscriber", "--port",
                            str(svc.mqtt_port), "--n", str(load.messages)],
                           stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert sub.stdout is not None
    assert sub.stdout.readline().strip() == "ready"
    pub = load.publisher(svc.mqtt_port)
    pub.go()
    t0, pub_s = pub.wait()
    line = json.loads(sub.stdout.readline())
    sub.wait(30)
    seconds = line["last"] - t0
    return {"msgs_per_s": load.messages / seconds, "samples_per_s": n / seconds,
            "seconds": seconds, "cpu_s": line["cpu_s"], "publish_s": pub_s,
            "cpu_us_per_sample": line["cpu_s"] / n * 1e6,
            "peak_rss_mb": line["peak_rss_mb"]}


def run_whistle(svc: Services, load: Load, n: int, tmp: Path,
                profile: Path | None = None, ingesters: int = 1) -> dict[str, Any]:
    """`whistle ingest` with its defaults: samples/s from first publish to the last commit.
    With several ingesters they share one MQTT 5 subscription; CPU is their sum."""
    with psycopg.connect(svc.url, autocommit=True) as conn:
        conn.execute("TRUNCATE telemetry, elevator_state, ingest_rejects, rules_feed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(WHISTLE_DATABASE_URL=svc.url, WHISTLE_MQTT_URL=svc.mqtt_url,
               WHISTLE_DATA_DIR=str(tmp),
               WHISTLE_ADMIN_TOKEN="bench-" + "b" * 32, WHISTLE_LOG_FORMAT="json",
               WHISTLE_MQTT_SESSION_EXPIRY_S="60")
    if ingesters > 1:
        env.update(WHISTLE_MQTT_SHARE_GROUP=f"bench{time.time_ns()}", WHISTLE_MQTT_PROTOCOL="5")
    procs, logs_, outs = [], [], []
    for k in range(ingesters):
        log = tmp / f"ingest{k}.log"
        outs.append(log.open("wb"))
        logs_.append(log)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "whistle", "ingest"],
            env=env | {"WHISTLE_MQTT_CLIENT_ID": f"bench-{time.time_ns()}-{k}"},
            stdout=outs[-1], stderr=subprocess.STDOUT, cwd=ROOT))
    deadline = time.monotonic() + 60
    for proc, log in zip(procs, logs_, strict=True):
        while "MQTT subscribed" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench: whistle ingest did not start:\n{log.read_text()}")
            time.sleep(0.05)
    spy = start_profiler(procs[0].pid, profile) if profile else None
    pub = load.publisher(svc.mqtt_port)

    def cpu() -> float:
        return sum(proc_cpu(p.pid) for p in procs)

    cpu0, host0, pg0 = cpu(), host_cpu(), tree_cpu(svc.pg.pgdata)
    pub.go()
    rows, last_change, last_rows, query_s = 0, time.monotonic(), -1, 0.0
    with psycopg.connect(svc.url, autocommit=True) as conn:
        while rows < n and time.monotonic() - last_change < 10:
            # polled as the peer's harness polls (bench.py --poll): every 0.25 s, stretched
            # to 10x the count's own duration, so the count costs the server under test at
            # most a tenth of a core (every 50 ms it took a third of PostgreSQL's CPU)
            time.sleep(max(POLL_S, 10 * query_s))
            q0 = time.monotonic()
            rows = telemetry.count(conn)
            query_s = time.monotonic() - q0
            if rows != last_rows:
                last_rows, last_change = rows, time.monotonic()
        # PostgreSQL's CPU is that of every server process but this polling connection's
        cpu1, host1 = cpu(), host_cpu()
        pg1 = tree_cpu(svc.pg.pgdata) - proc_cpu(conn.info.backend_pid)
        # The stopwatch (commit time of the last row) is the benchmark's own, not storage's.
        end = conn.execute("SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) "
                           "FROM telemetry").fetchone()[0]
        distinct = conn.execute("SELECT count(DISTINCT (elevator_pk, ts, seq)) FROM telemetry"
                                ).fetchone()[0]
    rss = max(peak_rss_mb(p.pid) for p in procs)
    t0, pub_s = pub.wait()
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(60)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc, out in zip(procs, outs, strict=True):
        proc.wait(30)
        out.close()
    seconds = float(end) - t0
    return {"msgs_per_s": load.messages / seconds, "samples_per_s": rows / seconds,
            "seconds": seconds, "rows": rows, "duplicates": rows - distinct,
            "cpu_s": cpu1 - cpu0, "cpu_us_per_sample": (cpu1 - cpu0) / max(rows, 1) * 1e6,
            "peak_rss_mb": rss, "publish_s": pub_s, "ingesters": ingesters,
            "postgres_cpu_us_per_sample": (pg1 - pg0) / max(rows, 1) * 1e6,
            "host_cpu_busy": (host1[0] - host0[0]) / max(1, host1[1] - host0[1])}


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling pid's threads into collapsed stacks: only stacks holding the GIL
    (Python at work; waits in select, locks, sleeps and PostgreSQL round trips release it,
    and py-spy's own idle detection does not see them on this VM)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    spy = subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--gil", "--rate",
                            "250", "--output", str(out)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached
    return spy


def run_peer(n: int, batch: int, peer_dir: Path) -> dict[str, Any] | None:
    """The Node-RED peer's own harness; None (with a note) where it cannot run."""
    if not (peer_dir / "run.sh").exists() or shutil.which("node") is None:
        console.print(f"[yellow]peer skipped: {peer_dir}/run.sh or node not found")
        return None
    env = dict(os.environ, BENCH_ARGS=f"--outstanding {WINDOW}")
    r = subprocess.run(["bash", str(peer_dir / "run.sh"), str(n), str(batch)], env=env,
                       capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        console.print(f"[yellow]peer failed ({r.returncode}): {r.stderr[-800:]}")
        return None
    out: dict[str, Any] = json.loads(lines[-1])
    out["cpu_us_per_sample"] = (out["peer_cpu_s"] or 0) / max(out["rows"], 1) * 1e6
    return out


def median(runs: list[dict[str, Any]], key: str) -> float:
    """Median of one figure over the runs."""
    return float(statistics.median(r[key] for r in runs))


def main() -> None:
    """Run the matrix and write bench/results/ingest.json."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n1", type=int, default=50_000, help="samples, 1 per message")
    ap.add_argument("--n50", type=int, default=200_000, help="samples, 50 per message")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-peer", action="store_true", help="skip the Node-RED peer")
    ap.add_argument("--peer-dir", type=Path, default=PEER)
    ap.add_argument("--only", choices=["whistle"], help="run Whistle alone (with --profile)")
    ap.add_argument("--broker", choices=["peer", "whistle"], default="peer",
                    help="configure the bench's Mosquitto as the peer's run.sh does (the same "
                    "offered load as the peer's) or as Whistle's embedded broker")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="record the Whistle runs with py-spy into DIR (figures to DIR)")
    a = ap.parse_args()
    logs.configure("warning")
    configs = [(a.n1, 1), (a.n50, 50)]
    runs: dict[str, list[dict[str, Any]]] = {}
    if a.profile:
        a.profile.mkdir(parents=True, exist_ok=True)
    others = [] if a.only else [("limit", run_limit), ("reference", run_reference)]
    svc = Services(a.broker)
    try:
        with Progress(console=console) as progress:
            per = 1 + len(others) + (0 if a.no_peer or a.only else 1)
            task = progress.add_task("benchmark", total=a.repeats * len(configs) * per)
            for rep in range(a.repeats):
                for n, batch in configs:
                    load = Load(n, batch, int(time.time() * 1000) - n * 1000)
                    label = f"{n}x{batch}"
                    for name, run in others:
                        progress.update(task, description=f"{label} {name} #{rep + 1}")
                        got = run(svc, load, n)
                        if got:
                            runs.setdefault(f"{name}-{batch}", []).append(got)
                        progress.advance(task)
                    progress.update(task, description=f"{label} whistle #{rep + 1}")
                    spy = a.profile / f"whistle-{batch}-{rep + 1}.txt" if a.profile else None
                    svc.fresh_database()  # as the peer's run.sh does for each of its runs
                    with tempfile.TemporaryDirectory() as tmp:
                        runs.setdefault(f"whistle-{batch}", []).append(
                            run_whistle(svc, load, n, Path(tmp), spy))
                    progress.advance(task)
                    if not a.no_peer and not a.only:
                        progress.update(task, description=f"{label} node-red #{rep + 1}")
                        peer = run_peer(n, batch, a.peer_dir)
                        if peer:
                            runs.setdefault(f"peer-{batch}", []).append(peer)
                        progress.advance(task)
    finally:
        svc.close()
    report(runs, a)
    if a.profile:
        for batch in (1, 50):
            files = sorted(a.profile.glob(f"whistle-{batch}-*.txt"))
            print(f"\n# py-spy, whistle ingest, {batch}-sample messages "
                  f"({len(files)} runs): share of CPU samples")
            print(flame.summary(flame.load(files)))


def _ratio(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str) -> float | None:
    return round(median(a, key) / median(b, key), 3) if a and b else None


def report(runs: dict[str, list[dict[str, Any]]], a: argparse.Namespace) -> None:
    """Print the table and write the JSON file."""
    w1, w50 = runs["whistle-1"], runs["whistle-50"]
    r1, r50 = runs.get("reference-1", []), runs.get("reference-50", [])
    l1, l50 = runs.get("limit-1", []), runs.get("limit-50", [])
    p1, p50 = runs.get("peer-1", []), runs.get("peer-50", [])
    result: dict[str, Any] = {
        "ingest_msgs_per_s": round(median(w1, "msgs_per_s")),
        "batch_samples_per_s": round(median(w50, "samples_per_s")),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in w1 + w50), 1),
        "ingest_cpu_us_per_sample": round(median(w1, "cpu_us_per_sample"), 1),
        "batch_cpu_us_per_sample": round(median(w50, "cpu_us_per_sample"), 2),
        "postgres_cpu_us_per_sample": round(median(w1, "postgres_cpu_us_per_sample"), 1),
        "batch_postgres_cpu_us_per_sample": round(
            median(w50, "postgres_cpu_us_per_sample"), 2),
        "duplicates": sum(r["duplicates"] for r in w1 + w50),
    }
    if r1 and r50:  # the bare paho subscriber: a reference, no ceiling
        result.update({
            "reference_msgs_per_s": round(median(r1, "msgs_per_s")),
            "reference_batch_samples_per_s": round(median(r50, "samples_per_s")),
            "ratio": _ratio(w1, r1, "msgs_per_s"),
            "whistle_vs_reference_batch_samples": _ratio(w50, r50, "samples_per_s"),
        })
    if l1 and l50:  # mosquitto_sub doing nothing: what the publisher and broker deliver
        result.update({
            "limit_msgs_per_s": round(median(l1, "msgs_per_s")),
            "limit_batch_samples_per_s": round(median(l50, "samples_per_s")),
            "limit_cpu_us_per_sample": round(median(l1, "cpu_us_per_sample"), 1),
            "whistle_vs_limit": _ratio(w1, l1, "msgs_per_s"),
            "whistle_vs_limit_batch_samples": _ratio(w50, l50, "samples_per_s"),
        })
    if p1 and p50:
        result.update({
            "peer_samples_per_s": round(median(p1, "samples_per_s")),
            "peer_batch_samples_per_s": round(median(p50, "samples_per_s")),
            "whistle_vs_peer_samples": _ratio(w1, p1, "samples_per_s"),
            "whistle_vs_peer_batch_samples": _ratio(w50, p50, "samples_per_s"),
            "peer_cpu_us_per_sample": round(median(p1, "cpu_us_per_sample"), 1),
            "peer_batch_cpu_us_per_sample": round(median(p50, "cpu_us_per_sample"), 2),
            "whistle_vs_peer_cpu_per_sample": _ratio(w1, p1, "cpu_us_per_sample"),
            "whistle_vs_peer_batch_cpu_per_sample": _ratio(w50, p50, "cpu_us_per_sample"),
        })
    result["config"] = {"n1": a.n1, "n50": a.n50, "repeats": a.repeats, "window": WINDOW,
                        "elevators": ELEVATORS, "qos": 1, "broker": a.broker,
                        "publisher": "python -m bench.load, a process of its own"}
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                         "python": platform.python_version(),
                         "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    result["runs"] = runs
    out = a.profile / "ingest.json" if a.profile else RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    table = Table(title=f"Ingest benchmark (medians of {a.repeats}, QoS 1, window {WINDOW})")
    for col in ("run", "per msg", "msgs/s", "samples/s", "CPU µs/sample", "RSS MB",
                "vs limit"):
        table.add_column(col, justify="right")
    limit = {1: median(l1, "msgs_per_s") if l1 else None,
             50: median(l50, "msgs_per_s") if l50 else None}
    names = {"limit": "physical limit", "reference": "bare paho (reference)",
             "whistle": "Whistle", "peer": "Node-RED peer"}
    for batch in (1, 50):
        for kind, title in names.items():
            rs = runs.get(f"{kind}-{batch}")
            if not rs:
                continue
            msgs = median(rs, "msgs_per_s") if "msgs_per_s" in rs[0] else \
                median(rs, "samples_per_s") / batch
            lim = limit[batch]
            table.add_row(title, str(batch), f"{msgs:,.0f}",
                          f"{median(rs, 'samples_per_s'):,.0f}",
                          f"{median(rs, 'cpu_us_per_sample'):.2f}",
                          f"{median(rs, 'peak_rss_mb'):.0f}",
                          f"{msgs / lim:.2f}" if lim else "-")
    console.print(table)
    console.print("physical limit: mosquitto_sub (C) printing arrival times only; bare paho: "
                  "a paho client that only counts")
    summary = {k: v for k, v in result.items() if k not in ("runs",)}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
