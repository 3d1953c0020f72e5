"""Log-in and TLS for every paho client of the service (subscriber, alert publisher, probe)."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt

from core.broker import BrokerAddress


def configure(client: mqtt.Client, broker: BrokerAddress) -> mqtt.Client:
    """Set the username, password and TLS context of broker on a client not yet connected."""
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        context = ssl.create_default_context(
            cafile=str(broker.ca_file) if broker.ca_file else None)
        if broker.client_cert is not None:
            context.load_cert_chain(str(broker.client_cert),
                                    str(broker.client_key) if broker.client_key else None)
        client.tls_set_context(context)
    return client
