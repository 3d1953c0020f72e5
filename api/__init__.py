"""The HTTP API of the contract (/api/v1), its live stream and the dashboard."""

from api.app import create_app

__all__ = ["create_app"]
