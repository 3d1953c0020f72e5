"""The broker's device logins kept in step with the database (WHISTLE_MQTT_DEVICE_AUTH=on).

The API tells the broker of every issue and revocation as it happens; this reconciliation,
at start and every ``WHISTLE_MQTT_DEVICE_RECONCILE_S``, catches what was missed (a
revocation while the broker was down, a broker that lost its configuration):
- a device login on the broker that the database no longer holds is deleted;
- a device whose role is missing gets it back;
- a device the broker has lost entirely cannot be restored through the plugin's API (it
  only takes clear passwords, and Whistle keeps none): it is counted, logged with the
  remedy (`whistle devices broker-config` writes the plugin's file from the database, or
  new credentials), and the embedded broker is restored from the database when it starts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psycopg
import structlog
from prometheus_client import Counter, Gauge

from core.settings import Settings
from messaging import dynsec
from storage import devices

log = structlog.get_logger(__name__)

MISSING = Gauge("whistle_device_logins_missing_on_broker",
                "Devices with credentials that the broker does not know (last reconciliation)")
REMOVED = Counter("whistle_device_logins_removed",
                  "Device logins deleted from the broker because Whistle revoked them")
FAILED = Counter("whistle_device_reconcile_failures", "Reconciliations that failed")


@dataclass
class Reconciled:
    """What one reconciliation did."""

    removed: list[str] = field(default_factory=list)
    roles_restored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def reconcile(conn: psycopg.Connection, ds: dynsec.Dynsec, prefix: str) -> Reconciled:
    """Bring the broker in step with the database. The broker is read first: a login
    issued meanwhile is at worst reported missing, never deleted."""
    clients = ds.clients()
    roles = ds.device_roles()
    wanted = {d.username for d in devices.all_hashes(conn)}
    on_broker = {u: r for u, r in clients.items()
                 if u in wanted or any(x.startswith(dynsec.ROLE_PREFIX) for x in r)}
    done = Reconciled()
    for username in sorted(set(on_broker) - wanted):
        ds.delete_device(username)
        done.removed.append(username)
    for username in sorted(wanted & set(on_broker)):
        role = dynsec.device_role(username)
        if role not in roles or role not in on_broker[username]:
            ds.put_device_role(username, prefix)
            done.roles_restored.append(username)
    done.missing = sorted(wanted - set(on_broker))
    REMOVED.inc(len(done.removed))
    MISSING.set(len(done.missing))
    if done.removed or done.roles_restored:
        log.info("broker device logins reconciled", removed=len(done.removed),
                 roles_restored=len(done.roles_restored))
    if done.missing:
        log.error("the broker has lost device logins that Whistle cannot restore through its "
                  "API; restore its dynamic-security file from `whistle devices "
                  "broker-config` or issue new credentials", missing=len(done.missing),
                  first=done.missing[:5])
    return done


class DeviceLogins:
    """A thread running :func:`reconcile` at start and then periodically."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="whistle-device-logins",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def once(self) -> Reconciled | None:
        """One reconciliation; None (logged) if the broker or database cannot be reached."""
        assert self.settings.database_url is not None
        try:
            with psycopg.connect(self.settings.database_url, autocommit=True) as conn, \
                    dynsec.connect(self.settings.broker) as ds:
                return reconcile(conn, ds, self.settings.mqtt_topic_prefix)
        except (dynsec.DynsecError, psycopg.Error) as exc:
            FAILED.inc()
            log.warning("device logins not reconciled; trying again later", error=str(exc))
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.once()
            self._stop.wait(self.settings.mqtt_device_reconcile_s)
