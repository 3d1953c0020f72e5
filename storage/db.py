"""Connections to PostgreSQL and the schema migrations that every entry point applies first."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

log = structlog.get_logger(__name__)

MIN_SERVER_VERSION = 150000  # UNIQUE ... NULLS NOT DISTINCT
MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseTooOld(RuntimeError):
    """The server predates PostgreSQL 15."""


def connect(url: str, *, autocommit: bool = False, timeout: float = 10.0) -> psycopg.Connection:
    """One connection with Whistle's session settings."""
    return psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, int(timeout)),
                           application_name="whistle")


def wait_for(url: str, *, timeout: float = 30.0) -> None:
    """Block until the server accepts connections, or raise the last error after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(url, autocommit=True, timeout=2) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def migrate(url: str, target: str = "head") -> str:
    """Apply every pending migration (serialised across processes), or those up to
    ``target`` (tests of a migration's data); return the head revision."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    with connect(url, autocommit=True) as conn:
        version = conn.info.server_version
        if version < MIN_SERVER_VERSION:
            raise DatabaseTooOld(
                f"PostgreSQL {version // 10000} found; Whistle needs PostgreSQL 15 or newer")
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, target)
    finally:
        engine.dispose()
    head = ScriptDirectory.from_config(cfg).get_current_head() or ""
    from datetime import UTC, datetime

    from storage import partitions

    with connect(url, autocommit=True) as conn:  # every start: the next days' partitions
        created = partitions.ensure_ahead(conn, datetime.now(UTC))
    if created:
        log.info("telemetry partitions created", partitions=created)
    log.info("database migrated", revision=head)
    return head


def apply_retention(url: str, *, telemetry_days: int) -> None:
    """Apply the configured retention to what keeps it as a policy (TimescaleDB)."""
    from storage import timescale

    with connect(url, autocommit=True) as conn:
        timescale.apply_retention(conn, telemetry_days)


def sqlalchemy_url(url: str) -> str:
    """The same URL for SQLAlchemy's psycopg 3 dialect (used by Alembic only)."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def make_pool(url: str, *, min_size: int = 1, max_size: int = 8, name: str = "whistle",
              autocommit: bool = False,
              statement_timeout_s: float | None = None) -> ConnectionPool:
    """A connection pool whose connections return rows as dicts.

    statement_timeout_s: PostgreSQL cancels any statement of these connections that runs
    longer (psycopg raises QueryCanceled); the connection stays usable.

    With autocommit, every storage function's own `conn.transaction()` is a real
    transaction that is committed when the function returns, before any response.
    """
    kwargs: dict[str, Any] = {"row_factory": dict_row, "application_name": f"whistle-{name}",
                              "autocommit": autocommit}
    if statement_timeout_s is not None:
        kwargs["options"] = f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))}"
    pool = ConnectionPool(
        url, min_size=min_size, max_size=max_size, name=name, open=False, kwargs=kwargs,
        reconnect_timeout=3600)
    pool.open(wait=True, timeout=30)
    return pool


@contextmanager
def transaction(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """A pooled connection inside one transaction, committed on success."""
    with pool.connection() as conn, conn.transaction():
        yield conn
