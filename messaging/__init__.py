"""The service's MQTT side: a subscriber that decodes through the core's accept path and
acknowledges only when told (shared by the ingester and the standalone rules engine)."""

from messaging.subscriber import Inbound, Subscriber, negotiate_protocol

__all__ = ["Inbound", "Subscriber", "negotiate_protocol"]
