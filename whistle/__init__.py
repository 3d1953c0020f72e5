"""The composition of the service, above everything else: the `whistle` command, the
assembly of ingester, rules and API, the demo and the embedded database and broker."""

__all__ = ["assembly", "cli", "demo", "embedded", "runtime"]
