"""Every SQL statement of Whistle, and the migrations. One module per table family;
:mod:`storage.alerts.changes` is the only code that changes an alert."""

__all__ = ["alerts", "copybuf", "db", "errors", "intake", "outbox", "records", "registry",
           "reports", "rulestate", "scope", "telemetry", "timescale", "webhooks"]
