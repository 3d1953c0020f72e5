"""The residents' side of Whistle (CONTRACT section 7): `pages` are the phone pages at the
root (/r/...), `api` the JSON API under /api/v1/public, both without a token."""

from api.public import pages, reports

page_router = pages.router
api_router = reports.router

__all__ = ["api_router", "page_router"]
