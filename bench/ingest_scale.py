"""`make bench-scale-out`: one against two `whistle ingest` processes on one MQTT 5 shared
subscription, same broker, same database, same publisher process, interleaved, medians,
with 1-sample messages (bound by the one publisher: each ingester is half idle) and
50-sample messages (bound by the ingesters: each is busy).

On 2 cores that also run the publisher, the broker and PostgreSQL, the point is that the
CPU per sample does not grow with a second ingester (the work splits, nothing is done
twice), not that throughput doubles. Writes ``ingest_1`` and ``ingest_2`` (1-sample) and
``ingest_1_batch50`` and ``ingest_2_batch50`` into bench/results/scale.json (keeping the
other benchmarks' keys).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from bench.ingest import Load, run_whistle
from bench.services import Services
from core import logs

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
console = Console(stderr=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="samples of a 1-sample run")
    ap.add_argument("--n50", type=int, default=400_000, help="samples of a 50-sample run")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    logs.configure("warning")
    shapes = ((1, a.n), (50, a.n50))  # publisher-bound, and ingest-bound
    runs: dict[tuple[int, int], list[dict[str, Any]]] = {
        (b, k): [] for b, _ in shapes for k in (1, 2)}
    svc = Services("whistle")
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("scale-out", total=a.repeats * len(runs))
            for rep in range(a.repeats):
                for batch, n in shapes:
                    for k in (1, 2):
                        progress.update(task, description=f"{batch}-sample, {k} ingester(s) "
                                        f"#{rep + 1}")
                        load = Load(n, batch, int(time.time() * 1000) - n * 1000)
                        with tempfile.TemporaryDirectory() as tmp:
                            runs[batch, k].append(
                                run_whistle(svc, load, n, Path(tmp), ingesters=k))
                        progress.advance(task)
    finally:
        svc.close()
    out: dict[str, Any] = {}
    for (batch, k), rs in runs.items():
        out[f"ingest_{k}" if batch == 1 else f"ingest_{k}_batch{batch}"] = {
            "samples_per_s": round(statistics.median(r["samples_per_s"] for r in rs)),
            "cpu_us_per_sample": round(statistics.median(r["cpu_us_per_sample"] for r in rs), 1),
            "postgres_cpu_us_per_sample": round(
                statistics.median(r["postgres_cpu_us_per_sample"] for r in rs), 1),
            "duplicates": sum(r["duplicates"] for r in rs),
            "rows": [r["rows"] for r in rs], "samples_per_message": batch}
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.update(out)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    console.print_json(json.dumps(out))


if __name__ == "__main__":
    main()
