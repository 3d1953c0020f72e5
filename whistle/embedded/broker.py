"""A private MQTT broker in a data folder: Mosquitto if installed, else amqtt (pure Python)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Literal

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
                 kind: BrokerKind | None = None) -> None:
        self.dir = data_dir / "mqtt"
        self.statefile = self.dir / "broker.json"
        self.requested_port = port
        mosquitto = find_mosquitto()
        self.kind: BrokerKind = kind or ("mosquitto" if mosquitto else "amqtt")
        if self.kind == "mosquitto" and not mosquitto:
            raise EmbeddedBrokerError("mosquitto was requested but is not installed")
        self.mosquitto = mosquitto
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """mqtt://127.0.0.1:PORT of the running broker."""
        if self.port is None:
            raise EmbeddedBrokerError("the embedded broker is not running")
        return f"mqtt://127.0.0.1:{self.port}"

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
                                              "pid": self.proc.pid}))
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
        conf.write_text(template.format(port=port, dir=self.dir, user=user))
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
