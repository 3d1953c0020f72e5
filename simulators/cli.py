"""``whistle simulate``: run a simulated elevator fleet against the wire contract."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from simulators.buildings import BUILDING_KINDS, MIXED
from simulators.durations import format_duration, parse_duration
from simulators.faultspec import Scenario, parse_faults
from simulators.fleet import Fleet, FleetConfig
from simulators.groundtruth import GroundTruthWriter
from simulators.publisher import Publisher, PublishError
from simulators.runner import RunStats, replay, run_fast, run_realtime

DEFAULT_MQTT = "mqtt://127.0.0.1:1883"


def _start_ms(text: str | None, *, fast: bool, duration_s: float | None) -> int:
    """Epoch ms of --start: epoch ms, an ISO time, or (default) now / now minus duration."""
    now = int(time.time() * 1000)
    if text is None:
        return now - int((duration_s or 0) * 1000) if fast else now
    if text.isdigit():
        return int(text)
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()
    return int(stamp.timestamp() * 1000)


def _pick(cli: Any, scenario: Scenario, key: str, default: Any) -> Any:
    if cli is not None:
        return cli
    return scenario.fleet.get(key, default)


def _local_offset_h() -> float:
    return time.localtime().tm_gmtoff / 3600.0


def simulate(
    elevators: Annotated[int | None, typer.Option(
        "--elevators", "-n", help="Number of elevators (default 10).")] = None,
    rate: Annotated[float | None, typer.Option(
        "--rate", help="Samples per second per elevator (default 1).")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Seed: the same seed gives the same fleet, traffic and faults.")] = None,
    duration: Annotated[str | None, typer.Option(
        "--duration", "-d",
        help="How long, in event time: 3600, 90s, 10m, 2h, 1h30m. Default: until Ctrl-C "
             "(required with --fast).")] = None,
    faults: Annotated[str | None, typer.Option(
        "--faults", "-f",
        help="Faults to inject: KIND=RATE or KIND@TIME, optionally :ELEVATOR and "
             "[param=value,...], comma-separated; RATE per elevator-hour like 0.5/h or 2/d; "
             "TIME after the start like 90s or 10m; KIND 'all' means every alert kind. "
             "Example: 'all=0.02/h,trapped_passenger@2m:E0003[where=at_landing]'. "
             "Or the path of a scenario .toml file.")] = None,
    register_url: Annotated[str | None, typer.Option(
        "--register", help="API base URL (http://127.0.0.1:8000): create orgs, sites and "
                           "elevators there first.")] = None,
    token: Annotated[str | None, typer.Option(
        "--token", help="Admin token for --register (default: $WHISTLE_ADMIN_TOKEN).")] = None,
    mqtt_url: Annotated[str | None, typer.Option(
        "--mqtt", help="Broker (default: $WHISTLE_MQTT_URL, else mqtt://127.0.0.1:1883).")
    ] = None,
    topic_prefix: Annotated[str, typer.Option(
        "--topic-prefix", help="Prepended to every topic, e.g. 't-abc/'.")] = "",
    batch: Annotated[int | None, typer.Option(
        "--batch", help="Samples per telemetry message (1-1000, default 1).")] = None,
    fast: Annotated[bool, typer.Option(
        "--fast", help="Do not wait: generate event time as fast as the CPU allows.")] = False,
    start: Annotated[str | None, typer.Option(
        "--start", help="Event time of the first sample: epoch ms or ISO 8601. Default: now, "
                        "or now minus the duration with --fast.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="With --fast: write JSON lines {ts, topic, retain, payload} here "
                      "instead of publishing.")] = None,
    ground_truth: Annotated[Path | None, typer.Option(
        "--ground-truth", help="Write the injected faults here (JSON lines).")] = None,
    buildings: Annotated[str | None, typer.Option(
        "--buildings", help=f"One of {', '.join(BUILDING_KINDS)} (default mixed).")] = None,
    id_prefix: Annotated[str | None, typer.Option(
        "--id-prefix", help="Elevator ids are this plus a number (default E).")] = None,
    tz_offset: Annotated[float | None, typer.Option(
        "--tz-offset", help="Hours east of UTC of the buildings' local time, for the daily "
                            "traffic pattern (default: this machine's).")] = None,
    traffic_scale: Annotated[float | None, typer.Option(
        "--traffic-scale", help="Multiply passenger traffic (default 1).")] = None,
    accel_hz: Annotated[float, typer.Option(
        "--accel-hz", help="Rate of the accel.z windows (default 100).")] = 100.0,
    accel_idle: Annotated[bool, typer.Option(
        "--accel-idle", help="Also send accel windows while the car is at rest.")] = False,
    connections: Annotated[str, typer.Option(
        "--connections",
        help="'auto' (one per elevator up to 200 elevators, else shared), 'per-elevator', "
             "or a number of shared connections.")] = "auto",
    offline_on_exit: Annotated[bool, typer.Option(
        "--offline-on-exit/--no-offline-on-exit",
        help="Publish every elevator's state 'offline' (retained) when stopping.")] = True,
    replay_file: Annotated[Path | None, typer.Option(
        "--replay", help="Publish a recording made with --fast --out (as fast as possible, "
                         "or at its own pace without --fast).")] = None,
    progress: Annotated[bool, typer.Option(
        "--progress/--no-progress", help="Show progress (on by default).")] = True,
    credentials: Annotated[Path | None, typer.Option(
        "--credentials", help="Per-device broker logins: a JSON object {elevator id: "
                              "password}, or a list of the {username, password} answers of "
                              "POST /elevators/{id}/credentials. Each elevator then connects "
                              "as itself.")] = None,
) -> None:
    """Simulate an elevator fleet: telemetry over MQTT (or to a file) with injected faults.

    Every elevator publishes lift/{id}/telemetry (QoS 1) and a retained lift/{id}/state
    with its own last will. Faults are recorded in --ground-truth as JSON lines
    {elevator_id, kind, start_ms, end_ms, params}. inspection_overdue and
    maintenance_overdue are calendar rules and are not injected.
    """
    console = Console(stderr=True)
    mqtt = mqtt_url or os.environ.get("WHISTLE_MQTT_URL") or DEFAULT_MQTT
    if replay_file is not None:
        pub = Publisher(mqtt, [], dedicated=False)
        pub.start()
        stats = replay(replay_file, pub, realtime=not fast)
        pub.close(offline=False)
        _summary(console, stats, None)
        return
    try:
        scenario = parse_faults(faults)
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from exc
    dur_text = _pick(duration, scenario, "duration", None)
    duration_s = parse_duration(dur_text) if dur_text is not None else None
    if fast and duration_s is None:
        raise typer.BadParameter("--fast needs a --duration", param_hint="--duration")
    if out is not None and not fast:
        raise typer.BadParameter("--out needs --fast", param_hint="--out")
    config = FleetConfig(
        elevators=int(_pick(elevators, scenario, "elevators", 10)),
        rate_hz=float(_pick(rate, scenario, "rate", 1.0)),
        seed=int(_pick(seed, scenario, "seed", 0)),
        buildings=str(_pick(buildings, scenario, "buildings", MIXED)),
        faults=scenario.plan,
        start_ts_ms=_start_ms(_pick(start, scenario, "start", None), fast=fast,
                              duration_s=duration_s),
        duration_s=duration_s,
        batch=int(_pick(batch, scenario, "batch", 1)),
        accel_hz=accel_hz, accel_idle=accel_idle,
        id_prefix=str(_pick(id_prefix, scenario, "id_prefix", "E")),
        tz_offset_h=float(_pick(tz_offset, scenario, "tz_offset", _local_offset_h())),
        traffic_scale=float(_pick(traffic_scale, scenario, "traffic_scale", 1.0)),
    )
    try:
        fleet = Fleet(config)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if register_url:
        admin = token or os.environ.get("WHISTLE_ADMIN_TOKEN")
        if not admin:
            raise typer.BadParameter("--register needs --token or WHISTLE_ADMIN_TOKEN")
        # httpx is needed only here: keep plain simulation free of it
        from simulators.registration import RegistrationError, register

        try:
            reg = register(register_url, admin, fleet.registry())
        except (RegistrationError, OSError) as exc:
            console.print(f"[red]registration failed:[/red] {exc}")
            raise typer.Exit(2) from exc
        console.print(f"registered {len(reg.created)} elevators "
                      f"({len(reg.existing)} already there) at {len(reg.site_ids)} sites")
    truth = GroundTruthWriter(ground_truth) if ground_truth else None
    publisher = None
    if out is None:
        per = None if connections == "auto" else connections == "per-elevator"
        shared = int(connections) if connections.isdigit() else 2
        try:
            publisher = Publisher(mqtt, fleet.ids, topic_prefix=topic_prefix, dedicated=per,
                                  shared=shared, credentials=_credentials(credentials))
            publisher.start()
        except (PublishError, ValueError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    mode = "fast" if fast else "real time"
    console.print(f"{len(fleet.cars)} elevators at {len(fleet.layout.sites)} sites, "
                  f"{config.rate_hz:g} Hz, {mode}, "
                  f"{format_duration(duration_s) if duration_s else 'until Ctrl-C'}"
                  f"{' to ' + str(out) if out else ' to ' + mqtt}")
    stats = RunStats()
    try:
        if fast:
            if out is not None:
                with out.open("wb") as f:
                    stats = run_fast(fleet, out=f, topic_prefix=topic_prefix, truth=truth,
                                     progress=progress)
            else:
                stats = run_fast(fleet, publisher=publisher, truth=truth, progress=progress)
        else:
            assert publisher is not None
            stats = run_realtime(fleet, publisher, truth=truth, progress=progress)
    except KeyboardInterrupt:
        console.print("stopping")
    except PublishError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    finally:
        fleet.close()
        if truth is not None:
            truth.write_new(fleet.ground_truth)
            truth.close()
        if publisher is not None:
            try:
                publisher.close(offline=offline_on_exit)
            except PublishError as exc:
                console.print(f"[yellow]{exc}[/yellow]")
    _summary(console, stats, fleet)


def _summary(console: Console, stats: RunStats, fleet: Fleet | None) -> None:
    truth = f", {len(fleet.ground_truth)} ground-truth records" if fleet else ""
    console.print(f"{stats.messages:,} messages ({stats.samples:,} samples) in "
                  f"{stats.wall_s:.1f} s wall, {stats.cpu_s:.1f} s CPU{truth}")


def main() -> None:
    """Run the simulate command on its own (python -m simulators)."""
    app = typer.Typer(add_completion=False)
    app.command("simulate")(simulate)
    args = sys.argv[1:]
    app(args=args[1:] if args[:1] == ["simulate"] else args)  # a one-command app has no name


def _credentials(path: Path | None) -> dict[str, str] | None:
    """elevator id -> password from a --credentials file."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--credentials") from exc
    if isinstance(data, list):
        data = {str(d.get("username")): d.get("password") for d in data if isinstance(d, dict)}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise typer.BadParameter(f"{path}: expected {{elevator id: password}} or a list of "
                                 "{username, password}", param_hint="--credentials")
    return {str(k): v for k, v in data.items()}
