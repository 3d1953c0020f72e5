"""Prometheus metrics of the ingester (process-wide, registered once)."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("whistle_ingest_messages", "MQTT messages committed, by topic kind", ["kind"])
SAMPLES = Counter("whistle_ingest_samples", "Telemetry samples stored (new rows)")
DUPLICATES = Counter("whistle_ingest_duplicate_samples",
                     "Samples delivered again and not stored a second time")
REJECTED = Counter("whistle_ingest_rejected", "Messages refused, by reason", ["reason"])
REJECTS_NOT_STORED = Counter(
    "whistle_ingest_rejects_not_stored",
    "Rejects counted but not stored: past the per-sender budget of a minute", ["reason"])
BATCHES = Counter("whistle_ingest_batches", "Transactions committed by the ingester")
BATCH_SECONDS = Histogram("whistle_ingest_batch_seconds", "Time to store and commit a batch",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
PENDING = Gauge("whistle_ingest_pending_messages",
                "Messages received and not yet committed (not acknowledged)")
DB_UP = Gauge("whistle_ingest_database_up", "1 while the ingester can write to PostgreSQL")
MQTT_UP = Gauge("whistle_ingest_mqtt_connected", "1 while the ingester is connected")
DB_ERRORS = Counter("whistle_ingest_database_errors", "Failed attempts to write a batch")
HANDOVER_ERRORS = Counter("whistle_ingest_handover_errors",
                          "Committed batches the in-process rules engine failed to take")
