"""A private MQTT broker in a data folder: Mosquitto if installed, else amqtt (pure Python)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import structlog

from whistle.embedded.ports import free_port, port_is_free, wait_listening

log = structlog.get_logger(__name__)

BrokerKind = Literal["mosquitto", "amqtt"]


class EmbeddedBrokerError(RuntimeError):
    """The private broker could not be started; the message says why."""


def find_mosquitto() -> str | None:
    """Path of a mosquitto binary on PATH or in /usr/sbin, if any."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


DYNSEC_PLUGINS = ("/usr/lib/*/mosquitto_dynamic_security.so",
                  "/usr/lib/mosquitto/mosquitto_dynamic_security.so",
                  "/usr/local/lib/mosquitto_dynamic_security.so",
                  "/usr/lib64/mosquitto_dynamic_security.so")
SERVICE_USER = "whistle"


def find_dynsec_plugin() -> str | None:
    """Path of Mosquitto's dynamic-security plugin (Debian ships it with mosquitto)."""
    for pattern in DYNSEC_PLUGINS:
        if found := sorted(glob.glob(pattern)):
            return found[0]
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedBroker:
    """An MQTT broker kept in ``<data_dir>/mqtt``; Mosquitto persists its queue there."""

    def __init__(self, data_dir: Path, *, port: int | None = None,
                 kind: BrokerKind | None = None, device_auth: bool = False,
                 dynsec_config: Callable[[str], dict[str, Any]] | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        """device_auth: Mosquitto with its dynamic-security plugin; no anonymous client,
        the service logs in as ``whistle``. dynsec_config(service_password) gives the
        plugin's configuration to start from (written when the broker starts fresh).
        tls: (certificate, key) in PEM: the listener speaks TLS (``mqtts://``)."""
        self.dir = data_dir / "mqtt"
        self.statefile = self.dir / "broker.json"
        self.requested_port = port
        mosquitto = find_mosquitto()
        self.kind: BrokerKind = kind or ("mosquitto" if mosquitto else "amqtt")
        if self.kind == "mosquitto" and not mosquitto:
            raise EmbeddedBrokerError("mosquitto was requested but is not installed")
        self.device_auth = device_auth
        self.plugin = find_dynsec_plugin() if device_auth else None
        if device_auth and (self.kind != "mosquitto" or self.plugin is None):
            raise EmbeddedBrokerError(
                "WHISTLE_MQTT_DEVICE_AUTH=on needs Mosquitto and its dynamic-security plugin "
                "(mosquitto_dynamic_security.so, in Debian's mosquitto package)")
        self.dynsec_config = dynsec_config
        self.tls = tls
        if tls is not None and self.kind != "mosquitto":
            raise EmbeddedBrokerError("a TLS listener needs Mosquitto")
        self.mosquitto = mosquitto
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """mqtt://127.0.0.1:PORT of the running broker (with the service's login when
        devices log in)."""
        if self.port is None:
            raise EmbeddedBrokerError("the embedded broker is not running")
        login = f"{SERVICE_USER}:{self.service_password()}@" if self.device_auth else ""
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{login}127.0.0.1:{self.port}"

    def service_password(self) -> str:
        """The service's broker password, kept in the data folder (mode 600)."""
        path = self.dir / "service_password"
        if path.exists():
            return path.read_text().strip()
        self.dir.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        path.touch(mode=0o600)
        path.write_text(password + "\n")
        return password

    def _state(self) -> dict[str, object] | None:
        try:
            state: dict[str, object] = json.loads(self.statefile.read_text())
            return state
        except (OSError, ValueError):
            return None

    def running_port(self) -> int | None:
        """The port of a broker already running from this folder, if any."""
        state = self._state()
        if not state or state.get("kind") != self.kind:
            return None
        if bool(state.get("device_auth")) != self.device_auth:
            self.stop()  # started with the other mode: start again as asked
            return None
        pid, port = int(str(state.get("pid", 0))), int(str(state.get("port", 0)))
        if pid and _pid_alive(pid) and wait_listening(port, 0.5):
            return port
        return None

    def start(self) -> str:
        """Start the broker (or attach to the one already running here); return its URL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if (port := self.running_port()) is not None:
            self.port = port
            log.info("embedded MQTT broker already running", kind=self.kind, port=port)
            return self.url
        state = self._state() or {}
        previous = int(str(state.get("port", 0)))
        port = self.requested_port or (previous if previous and port_is_free(previous)
                                        else free_port())
        if self.kind == "mosquitto":
            cmd = self._mosquitto_command(port)
        else:
            cmd = self._amqtt_command(port)
        logfile = (self.dir / "broker.out").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        logfile.close()
        if not wait_listening(port, 20):
            self.proc.kill()
            raise EmbeddedBrokerError(
                f"the embedded {self.kind} broker did not listen on {port}; see {self.dir}")
        self.port = port
        self.statefile.write_text(json.dumps({"kind": self.kind, "port": port,
                                              "pid": self.proc.pid,
                                              "device_auth": self.device_auth}))
        log.info("embedded MQTT broker started", kind=self.kind, port=port,
                 note="amqtt speaks MQTT 3.1.1 only" if self.kind == "amqtt" else None)
        return self.url

    def _mosquitto_command(self, port: int) -> list[str]:
        assert self.mosquitto is not None
        # Mosquitto started as root switches to the "mosquitto" user, which may not be able
        # to reach a folder under root's home or a private temp dir; the embedded broker
        # runs as whoever runs Whistle, like the rest of the process.
        user = pwd.getpwuid(os.geteuid()).pw_name
        template = resources.files("whistle.embedded").joinpath("mosquitto.conf").read_text()
        conf = self.dir / "mosquitto.conf"
        extra = ""  # the plugin and the listener's certificate, if any
        if self.device_auth:
            dynsec = self.dir / "dynamic-security.json"
            config = (self.dynsec_config(self.service_password()) if self.dynsec_config
                      else None)
            if config is not None or not dynsec.exists():
                dynsec.touch(mode=0o600)
                dynsec.write_text(json.dumps(config or {}, indent=1))
            extra = f"plugin {self.plugin}\nplugin_opt_config_file {dynsec}\n"
        if self.tls is not None:
            extra += f"certfile {self.tls[0]}\nkeyfile {self.tls[1]}\n"
        conf.write_text(template.format(port=port, dir=self.dir, user=user, extra=extra,
                                        anonymous="false" if self.device_auth else "true"))
        return [self.mosquitto, "-c", str(conf)]

    def _amqtt_command(self, port: int) -> list[str]:
        template = resources.files("whistle.embedded").joinpath("amqtt.yaml").read_text()
        conf = self.dir / "amqtt.yaml"
        conf.write_text(template.format(port=port))
        return [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the broker (also one started by an earlier process from this folder)."""
        state = self._state() or {}
        pid = self.proc.pid if self.proc else int(str(state.get("pid", 0)))
        if not pid or not _pid_alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None:
                if self.proc.poll() is not None:
                    break
            elif not _pid_alive(pid):
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if self.proc is not None:
                self.proc.wait(5)
        self.proc = None
        log.info("embedded MQTT broker stopped", kind=self.kind)

    def close(self) -> None:
        """Stop the broker if this process started it."""
        if self.proc is not None:
            self.stop()
