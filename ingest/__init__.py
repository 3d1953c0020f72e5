"""The ingester: MQTT telemetry and state into PostgreSQL, acknowledged after commit."""

from ingest.service import Ingester

__all__ = ["Ingester"]
