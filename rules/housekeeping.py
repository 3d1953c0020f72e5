"""The running service applies retention at least hourly (CONTRACT section 10), on a
thread of its own so a long sweep never delays detection; a second thread moves the
per-minute telemetry rollup forward every few seconds (storage.rollup)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import structlog

from core.settings import Settings
from storage import housekeeping, rollup
from storage.db import connect

log = structlog.get_logger(__name__)


class Housekeeper:
    """Sweeps at start and then every ``settings.housekeeping_every_s``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.swept = threading.Event()  # set after each completed sweep (tests wait on it)
        self.last: housekeeping.Swept | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="whistle-housekeeping",
                                        daemon=True)
        self._roller = threading.Thread(target=self._roll, name="whistle-rollup", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._roller.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._roller.join(10)

    def _roll(self) -> None:
        assert self.settings.database_url is not None
        conn: psycopg.Connection | None = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(self.settings.database_url, autocommit=True)
                rollup.advance(conn, now=datetime.now(UTC))
            except psycopg.Error as exc:
                log.warning("telemetry rollup failed; retrying", error=str(exc))
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(rollup.ROLL_EVERY_S)
        if conn is not None:
            conn.close()

    def sweep_once(self) -> housekeeping.Swept | None:
        """One sweep now (None: another process is sweeping)."""
        assert self.settings.database_url is not None
        with connect(self.settings.database_url, autocommit=True) as conn:
            return housekeeping.sweep(
                conn, now=datetime.now(UTC),
                telemetry_days=self.settings.telemetry_retention_days,
                rollup_days=self.settings.rollup_retention_days,
                log_days=self.settings.log_retention_days)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                swept = self.sweep_once()
                if swept is not None:
                    self.last = swept
                    self.swept.set()
                    if swept.total:
                        log.info("retention applied", **swept.rows)
            except psycopg.Error as exc:
                log.warning("retention sweep failed; retrying at the next interval",
                            error=str(exc))
            self._stop.wait(self.settings.housekeeping_every_s)
