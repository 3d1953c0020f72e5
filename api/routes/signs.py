"""The sign in the car (CONTRACT section 7): a printable page or an SVG with the QR code of
the elevator's report URL, and replacing the code when a sign was abused or torn off."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard.web import SECURITY_HEADERS, templates
from api.deps import ConnDep, PrincipalDep, SettingsDep, require
from api.public import service
from core.domain import OrgKind
from storage import registry

router = APIRouter(tags=["elevators"])

QR_MM = 80  # the QR code's side on the printed sign


def report_url(request: Request, settings: Any, code: str) -> str:
    """What the sign's QR code says: the public base URL, /r/, the code."""
    return f"{service.base_url(request, settings)}/r/{code}"


def qr_svg(url: str, *, scale: float) -> tuple[str, int]:
    """The QR code of a URL as an inline <svg> (segno) and its side in modules."""
    qr = segno.make(url, error="m", micro=False)
    side = int(qr.symbol_size(scale=1, border=2)[0])
    return qr.svg_inline(scale=scale, border=2, dark="#000", light="#fff",
                         title=url), side


@router.get("/elevators/{elevator_id}/sign", response_class=Response)
def sign(elevator_id: str, request: Request, conn: ConnDep, principal: PrincipalDep,
         settings: SettingsDep,
         format: Annotated[Literal["html", "svg"], Query()] = "html") -> Response:
    """The printable sign (A5) of an elevator, or the same as SVG (?format=svg)."""
    row = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                offline_after_s=settings.offline_after_s)
    url = report_url(request, settings, row["report_code"])
    if format == "svg":
        svg, side = qr_svg(url, scale=1)
        body = templates.get_template("public/sign.svg.html").render(
            e=row, report_url=url, qr_svg=svg, qr_mm=QR_MM, qr_x=74 - QR_MM / 2,
            qr_scale=round(QR_MM / side, 4))
        return Response(body, media_type="image/svg+xml",
                        headers={"Cache-Control": "no-store",
                                 "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "default-src 'none'; "
                                                            "style-src 'unsafe-inline'"})
    svg, _side = qr_svg(url, scale=8)
    body = templates.get_template("public/sign.html").render(e=row, report_url=url,
                                                             qr_svg=svg)
    return HTMLResponse(body, headers=SECURITY_HEADERS)


@router.post("/elevators/{elevator_id}/report-code")
def replace_report_code(elevator_id: str, conn: ConnDep, principal: PrincipalDep,
                        settings: SettingsDep) -> dict[str, str]:
    """A new report code (print a new sign): the old code answers 404 from now on."""
    row = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                offline_after_s=settings.offline_after_s)
    # A property organization that sees the elevator is its current one.
    require(principal, OrgKind.PROPERTY)
    return {"report_code": registry.replace_report_code(conn, elevator_pk=row["pk"])}
