"""Mosquitto's dynamic-security plugin, driven over MQTT (``$CONTROL/dynamic-security/v1``).

Whistle keeps one role per device, ``whistle-device-<id>``, allowing it to publish on its
own ``lift/<id>/telemetry`` and ``lift/<id>/state`` and nothing else (Mosquitto 2.0's
plugin does not substitute ``%u`` in ACLs, hence a role per device), and one client per
device whose username is the elevator id. The service's own account is the plugin's
administrator. A command and its answer travel on the service's connection; an answer
with an ``error`` raises :class:`DynsecError` (except the ones a repeated command expects,
such as deleting what is already gone).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.broker import BrokerAddress
from core.devicehash import DeviceHash
from messaging.connection import configure

TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE = f"{TOPIC}/response"
ROLE_PREFIX = "whistle-device-"
SERVICE_ROLE = "whistle-service"
TIMEOUT_S = 10.0
# Answers that mean "already as wanted" for the idempotent steps of put/delete.
HARMLESS = ("Client not found", "Role not found", "Client already exists",
            "Role already exists")


class DynsecError(RuntimeError):
    """The broker refused a command, or did not answer; the message says which."""


def device_role(elevator_id: str) -> str:
    """The role of one device."""
    return f"{ROLE_PREFIX}{elevator_id}"


def device_acls(elevator_id: str, prefix: str = "") -> list[dict[str, Any]]:
    """What a device may do: publish its telemetry and state, nothing else."""
    return [{"acltype": "publishClientSend", "topic": f"{prefix}lift/{elevator_id}/{leaf}",
             "allow": True} for leaf in ("telemetry", "state")]


def service_acls() -> list[dict[str, Any]]:
    """The service: administers the plugin, reads the broker's $SYS topics, reads and
    publishes every topic."""
    return [{"acltype": t, "topic": topic, "allow": True}
            for topic in ("$CONTROL/dynamic-security/#", "$SYS/#", "#")
            for t in ("publishClientSend", "publishClientReceive", "subscribePattern",
                      "unsubscribePattern")]


DEFAULT_ACL_ACCESS = {"publishClientSend": False, "publishClientReceive": True,
                      "subscribe": False, "unsubscribe": True}


class Dynsec:
    """One connection to the plugin; use :func:`connect`."""

    def __init__(self, client: mqtt.Client) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._arrived = threading.Condition()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            return
        with self._arrived:
            for r in responses:
                corr = str(r.get("correlationData", ""))
                self._answers.setdefault(corr.split(":")[0], []).append(r)
            self._arrived.notify_all()

    def run(self, commands: list[dict[str, Any]], *, harmless: tuple[str, ...] = ()
            ) -> list[dict[str, Any]]:
        """Send commands in one message; their answers, in order. Raises DynsecError for
        an answer with an error that is not harmless."""
        tag = uuid.uuid4().hex
        sent = [{**c, "correlationData": f"{tag}:{k}"} for k, c in enumerate(commands)]
        with self._lock:
            info = self._client.publish(TOPIC, json.dumps({"commands": sent}), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise DynsecError(f"could not send to the broker ({mqtt.error_string(info.rc)})")
            with self._arrived:
                if not self._arrived.wait_for(
                        lambda: len(self._answers.get(tag, ())) >= len(sent), TIMEOUT_S):
                    raise DynsecError("the broker's dynamic-security plugin did not answer "
                                      f"within {TIMEOUT_S:.0f} s (is it loaded, and is the "
                                      "service's account its administrator?)")
                answers = sorted(self._answers.pop(tag),
                                 key=lambda r: int(str(r["correlationData"]).split(":")[1]))
        for cmd, answer in zip(commands, answers, strict=True):
            error = answer.get("error")
            if error and error not in harmless:
                raise DynsecError(f"the broker refused {cmd['command']}: {error}")
        return answers

    # --- what Whistle asks for ------------------------------------------------------------

    def put_device(self, elevator_id: str, password: str, prefix: str = "") -> None:
        """Create or replace the device's client and role; an old connection is cut. The
        client goes first, so the role is deleted with nobody holding it."""
        role = device_role(elevator_id)
        self.run([{"command": "deleteClient", "username": elevator_id},
                  {"command": "deleteRole", "rolename": role},
                  {"command": "createRole", "rolename": role,
                   "acls": device_acls(elevator_id, prefix)},
                  {"command": "createClient", "username": elevator_id, "password": password,
                   "textname": f"Whistle device {elevator_id}",
                   "roles": [{"rolename": role}]}], harmless=HARMLESS)

    def delete_device(self, elevator_id: str) -> None:
        """Remove the device's client (its connection is cut) and role."""
        self.run([{"command": "deleteClient", "username": elevator_id},
                  {"command": "deleteRole", "rolename": device_role(elevator_id)}],
                 harmless=HARMLESS)

    def put_device_role(self, elevator_id: str, prefix: str = "") -> None:
        """Create the device's role if it is missing and give it to its client. (A role is
        deleted only once no client holds it: Mosquitto 2.0.11 crashes on a later
        listClients when a role is deleted under a client.)"""
        role = device_role(elevator_id)
        self.run([{"command": "createRole", "rolename": role,
                   "acls": device_acls(elevator_id, prefix)},
                  {"command": "addClientRole", "username": elevator_id, "rolename": role}],
                 harmless=HARMLESS)

    def clients(self) -> dict[str, set[str]]:
        """Every client of the plugin: username -> its role names."""
        [answer] = self.run([{"command": "listClients", "verbose": True}])
        return {str(c["username"]): {str(r.get("rolename")) for r in c.get("roles", [])}
                for c in answer.get("data", {}).get("clients", [])}

    def device_clients(self) -> dict[str, set[str]]:
        """Clients holding a Whistle device role: username -> their role names."""
        return {u: r for u, r in self.clients().items()
                if any(x.startswith(ROLE_PREFIX) for x in r)}

    def device_roles(self) -> set[str]:
        """Names of the Whistle device roles the broker holds."""
        [answer] = self.run([{"command": "listRoles", "verbose": False}])
        return {str(r) for r in answer.get("data", {}).get("roles", [])
                if str(r).startswith(ROLE_PREFIX)}


@contextmanager
def connect(broker: BrokerAddress) -> Iterator[Dynsec]:
    """A connection to the broker's plugin with the service's account."""
    client = configure(mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"whistle-dynsec-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv5), broker)
    ds = Dynsec(client)
    ready = threading.Event()
    failure: list[str] = []

    def on_subscribe(*_a: Any) -> None:
        ready.set()

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            failure.append(str(reason))
            ready.set()
            return
        c.subscribe(RESPONSE, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = ds._on_message
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except OSError as exc:
        raise DynsecError(f"cannot reach the broker at {broker.display()}: {exc}") from exc
    client.loop_start()
    try:
        if not ready.wait(TIMEOUT_S):
            raise DynsecError(f"the broker at {broker.display()} did not accept the service's "
                              "connection in time")
        if failure:
            raise DynsecError(f"the broker at {broker.display()} refused the service's login "
                              f"({failure[0]})")
        yield ds
    finally:
        client.disconnect()
        client.loop_stop()


def plugin_config(service: DeviceHash, devices: list[DeviceHash], prefix: str = ""
                  ) -> dict[str, Any]:
    """The plugin's whole configuration file: the service as administrator, every device
    with its role (what an embedded broker starts from, and what an operator can restore an
    external one from)."""
    return {
        "clients": [{**service.dynsec_client(), "textname": "Whistle service",
                     "roles": [{"rolename": SERVICE_ROLE}]}]
        + [{**d.dynsec_client(), "textname": f"Whistle device {d.username}",
            "roles": [{"rolename": device_role(d.username)}]} for d in devices],
        "roles": [{"rolename": SERVICE_ROLE, "acls": service_acls()}]
        + [{"rolename": device_role(d.username), "acls": device_acls(d.username, prefix)}
           for d in devices],
        "groups": [],
        "defaultACLAccess": DEFAULT_ACL_ACCESS,
    }
