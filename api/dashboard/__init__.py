"""The web dashboard: server-rendered pages over the same storage and scoping as the API.

`router` serves the pages at the root of the app (/, /signin, /alerts, /cases, /cases/{id},
/elevators/{id}, /supervision, /orgs, /orgs/{id}, /orgs/{id}/roster); `static_files()` serves
/static (styles,
scripts and the vendored uPlot charting library: nothing is loaded from elsewhere).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from api.dashboard import cases, elevator, fleet, orgs, queue, rosters, signin, supervision
from api.dashboard.web import HERE

STATIC_DIR = HERE / "static"

router = APIRouter()
for _module in (signin, fleet, queue, cases, elevator, supervision, rosters, orgs):
    router.include_router(_module.router)


def static_files() -> StaticFiles:
    """The app that serves /static."""
    return StaticFiles(directory=STATIC_DIR)
