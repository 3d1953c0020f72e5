"""The `whistle` command: the composition root that wires the packages together.

Each command builds the settings once, starts what it needs (embedded database and
broker when none are configured) and passes the settings down. Imports of the heavy
packages happen inside the commands, so `whistle --help` stays quick.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from pydantic import ValidationError

from core import logs
from core.settings import Settings

app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
    help="Whistle: elevator safety monitoring. Settings come from WHISTLE_* variables.")
log = structlog.get_logger("whistle")


def load_settings() -> Settings:
    """The settings, or exit with one line per wrong variable (no traceback)."""
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = "WHISTLE_" + "_".join(str(p) for p in err["loc"]).upper()
            message = str(err["msg"]).removeprefix("Value error, ")
            if not message.startswith("WHISTLE_"):
                message = f"{name}: {message}"
            typer.echo(f"whistle: {message}", err=True)
        raise SystemExit(2) from None


def _settings() -> Settings:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    return settings


@contextmanager
def _stop_on_signal() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM (restores the old handlers afterwards)."""
    stop = threading.Event()

    def handler(_signum: int, _frame: Any) -> None:
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _serve_metrics(settings: Settings) -> None:
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.api_host)
        log.info("metrics served", url=f"http://{settings.api_host}:{settings.metrics_port}/")


def _run(ingest: bool, rules: bool, api: bool) -> None:
    """Run the parts asked for until SIGINT or SIGTERM."""
    from whistle.assembly import Whistle
    from whistle.runtime import services, settle_gc

    with services(_settings(), broker=ingest or rules) as settings, \
            _stop_on_signal() as stop:
        if not api:
            _serve_metrics(settings)
        with Whistle(settings, ingest=ingest, rules=rules, api=api) as whistle:
            settle_gc()
            while whistle.alive and not stop.wait(0.5):
                pass


@app.command()
def ingest() -> None:
    """Run the MQTT ingester alone (several may share the subscription)."""
    _run(ingest=True, rules=False, api=False)


@app.command()
def rules() -> None:
    """Run the rules engine alone (alerts, escalation, notifications)."""
    _run(ingest=False, rules=True, api=False)


@app.command()
def api() -> None:
    """Run the HTTP API and dashboard alone."""
    _run(ingest=False, rules=False, api=True)


@app.command()
def serve() -> None:
    """Run ingester, rules engine and API in one process."""
    _run(ingest=True, rules=True, api=True)


@app.command()
def migrate() -> None:
    """Apply pending database migrations and exit."""
    from whistle.runtime import services

    with services(_settings(), broker=False):
        pass


@app.command()
def housekeeping() -> None:
    """Apply every retention rule once (telemetry, rejects, connection events, webhook
    deliveries) and exit; the running service does this hourly by itself."""
    from datetime import UTC, datetime

    from rich.progress import Progress

    from storage import housekeeping as retention
    from storage.db import connect
    from whistle.runtime import services

    with services(_settings(), broker=False) as ready, \
            connect(ready.database_url or "", autocommit=True) as conn, Progress() as bar:
        tasks: dict[str, Any] = {}

        def progress(table: str, n: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=None)
            bar.update(tasks[table], advance=n)

        swept = retention.sweep(conn, now=datetime.now(UTC), progress=progress,
                                telemetry_days=ready.telemetry_retention_days,
                                rollup_days=ready.rollup_retention_days,
                                log_days=ready.log_retention_days)
    if swept is None:
        typer.echo("another process is applying retention right now; nothing done")
        return
    for table, n in swept.rows.items():
        typer.echo(f"{table}: {n:,} {retention.UNITS.get(table, 'rows deleted')}")


@app.command("broker-config")
def broker_config(
    out: Annotated[Path, typer.Option(
        "--out", help="where to write the plugin's file (mode 600)")],
) -> None:
    """Write Mosquitto's dynamic-security file from the database: the service's account
    (from WHISTLE_MQTT_URL) as administrator and every device login. Point the plugin's
    plugin_opt_config_file at it and restart the broker to restore one that lost its
    configuration; Whistle keeps the logins' hashes in the broker's own format."""
    import json

    import psycopg

    from core.devicehash import DeviceHash
    from messaging.dynsec import plugin_config
    from storage import devices
    from whistle.runtime import services

    settings = _settings()
    broker = settings.broker if settings.mqtt_url else None
    if broker is None or not broker.username or not broker.password:
        raise typer.BadParameter("WHISTLE_MQTT_URL must name the service's account: "
                                 "mqtt://user:password@host:port")
    with services(settings, broker=False) as ready, \
            psycopg.connect(ready.database_url or "", autocommit=True) as conn:
        logins = devices.all_hashes(conn)
    config = plugin_config(DeviceHash.of(broker.username, broker.password), logins,
                           settings.mqtt_topic_prefix)
    out.touch(mode=0o600)
    out.write_text(json.dumps(config, indent=1))
    typer.echo(f"{out}: the service's account and {len(logins)} device logins")
@app.command("import")
def import_file(path: Annotated[str, typer.Argument(
        help="a CSV or JSON file of organizations, sites and elevators (README, "
             "\"Registering a city\")")]) -> None:
    """Register a whole file of organizations, sites and elevators in one transaction;
    nothing is written if any row is wrong (each problem is printed with its line)."""
    from pathlib import Path

    from rich.progress import Progress

    from api import imports
    from storage import bulk
    from storage.db import connect
    from storage.errors import Conflict
    from whistle.runtime import services

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"whistle: cannot read {path}: {exc}", err=True)
        raise SystemExit(2) from None
    try:
        plan = imports.parse(text, json_format=imports.is_json(path, text))
        with services(_settings(), broker=False) as ready, \
                connect(ready.database_url or "", autocommit=True) as conn, Progress() as bar:
            tasks: dict[str, Any] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(f"{stage} elevators", total=total)
                bar.update(tasks[stage], completed=done)

            done = bulk.import_registry(conn, plan, recorded_by="admin:whistle import",
                                        progress=progress)
    except bulk.Refused as exc:
        for p in exc.problems:
            typer.echo(f"{path}:{p.line}: {p.field}: {p.message}", err=True)
        typer.echo(f"whistle: {len(exc.problems)} problem(s); nothing was imported", err=True)
        raise SystemExit(1) from None
    except Conflict as exc:
        typer.echo(f"whistle: {exc}", err=True)
        raise SystemExit(1) from None
    typer.echo(f"imported {done.orgs:,} organizations, {done.sites:,} sites and "
               f"{done.elevators:,} elevators")


@app.command("admin-token")
def admin_token() -> None:
    """Print the admin token (the generated one if WHISTLE_ADMIN_TOKEN is unset)."""
    from whistle.runtime import load_or_create_admin_token

    settings = load_settings()
    typer.echo(settings.admin_token or load_or_create_admin_token(settings.data_dir))


def _register_optional(argv: list[str]) -> None:
    """Commands whose options are defined by other packages (the simulator, the evaluation).

    Their modules pull in scipy and the whole simulator, seconds of start-up that every
    other command should not pay: they are imported only when asked for (or for --help).
    """
    wanted = argv[1] if len(argv) > 1 else "--help"
    if wanted in ("simulate", "--help", "-h"):
        from simulators.cli import simulate

        app.command("simulate")(simulate)
    if wanted in ("evaluate", "--help", "-h"):
        from evaluation import evaluate_command

        app.command("evaluate")(evaluate_command)


def main() -> None:
    """Console entry point."""
    _register_optional(sys.argv)
    app()


@app.command()
def demo(
    elevators: Annotated[int, typer.Option(help="simulated elevators besides the tower")] = 12,
    seed: Annotated[int, typer.Option(help="seed of the simulated fleet")] = 7,
    lang: Annotated[str | None, typer.Option(
        help="zh-CN: the fleet and its organizations with Chinese names (Xi'an, 雁塔区); "
             "en: English names; default: WHISTLE_DEFAULT_LANG")] = None,
) -> None:
    """Embedded database and broker, a simulated fleet with faults, and the dashboard."""
    from whistle.demo import run_demo

    if lang not in (None, "zh-CN", "en"):
        raise typer.BadParameter("--lang is zh-CN or en")
    run_demo(_settings(), elevators=elevators, seed=seed, lang=lang)
