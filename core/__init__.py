"""The shared core: the contract's vocabulary (domain), the wire codec and accept path,
the chain of responsibility, settings and logging. Imports nothing else of Whistle and
does no I/O."""

__all__ = ["accept", "chain", "codec", "domain", "logs", "settings", "stream"]
