"""The bare paho subscriber (reference): a paho client that only counts messages (run as its
own process). It is no ceiling: Node-RED or Whistle can be faster than stock paho.

It subscribes like the ingester (same protocol, QoS 1, persistent session), prints
"ready" once subscribed, then one JSON line when it has received --n messages: the wall
clock of the first and the last, and its CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def main() -> None:
    """Count messages on lift/+/telemetry until --n arrived."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--protocol", choices=["5", "3.1.1"], default="5")
    a = ap.parse_args()
    v5 = a.protocol == "5"
    state = {"count": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: object, _u: object, _m: mqtt.MQTTMessage) -> None:
        now = time.time()
        if state["count"] == 0:
            state["first"] = now
        state["count"] += 1
        state["last"] = now
        if state["count"] >= a.n:
            done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bare-{time.time_ns()}",
                    protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                    **({} if v5 else {"clean_session": False}))
    c.on_message = on_message
    c.on_subscribe = lambda *_a: subscribed.set()
    kwargs: dict[str, object] = {}
    if v5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        props.ReceiveMaximum = 4096
        kwargs = {"clean_start": False, "properties": props}
    c.connect("127.0.0.1", a.port, 30, **kwargs)  # type: ignore[arg-type]
    c.subscribe("lift/+/telemetry", 1)
    c.loop_start()
    subscribed.wait(10)
    print("ready", flush=True)
    done.wait(900)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"count": state["count"], "first": state["first"], "last": state["last"],
                      "cpu_s": usage.ru_utime + usage.ru_stime,
                      "peak_rss_mb": usage.ru_maxrss / 1024}), flush=True)
    c.disconnect()
    c.loop_stop()
    sys.exit(0 if state["count"] >= a.n else 1)


if __name__ == "__main__":
    main()
