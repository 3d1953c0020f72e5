"""What every dashboard page shares: templates, the signed-in caller, HTML error pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Cookie, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api import deps
from api.deps import ConnDep, SettingsDep
from core.chain import LEVEL_NAMES
from core.domain import OrgKind, Principal
from storage.errors import Conflict, Invalid, NotFound

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# Pages load nothing from elsewhere (the machines have no internet), run no inline script,
# and are never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

STATUS_LABELS = {
    "normal": ("✓", "Normal"), "warning": ("!", "Warning"), "fault": ("✖", "Fault"),
    "offline": ("⌁", "Offline"), "out_of_service": ("⊘", "Out of service"),
    "unknown": ("?", "Unknown"),
}
STATUS_ORDER = ("fault", "warning", "offline", "out_of_service", "unknown", "normal")


class SignInRequired(Exception):
    """No valid sign-in cookie: the page redirects to /signin and comes back after."""

    def __init__(self, next_path: str, message: str | None = None) -> None:
        super().__init__(message or "sign in")
        self.next_path = next_path
        self.message = message


def _next_path(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


def page_principal(request: Request, conn: ConnDep, settings: SettingsDep,
                   whistle_token: Annotated[str | None, Cookie()] = None) -> Principal:
    """The signed-in organization, validated exactly as the API validates a token."""
    if not whistle_token:
        raise SignInRequired(_next_path(request))
    try:
        return deps.principal_for_token(conn, settings, whistle_token)
    except HTTPException:
        raise SignInRequired(_next_path(request), "Your token is no longer valid; "
                             "sign in again.") from None


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def fmt_time(value: Any) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM:SS UTC' (the browser shows local time)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def iso(value: Any) -> str:
    """RFC 3339 of a datetime (or the string itself)."""
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def fmt_duration(seconds: Any) -> str:
    """Seconds as '42 s', '7 min 5 s', '3 h 2 min', '2 d 4 h'."""
    if seconds is None:
        return "—"
    s = round(float(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def age_s(value: datetime | None) -> float | None:
    """Seconds since a time."""
    return None if value is None else (datetime.now(UTC) - value).total_seconds()


def num(value: Any, digits: int = 1, unit: str = "") -> str:
    """A number with fixed digits and a unit, or '—' for nothing (or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:.{digits}f}" + (f" {unit}" if unit else "")


def label(value: Any) -> str:
    """'trapped_passenger' as 'trapped passenger'."""
    return str(value or "").replace("_", " ")


templates.env.filters.update(time=fmt_time, iso=iso, duration=fmt_duration, label=label,
                             num=num)
templates.env.globals.update(STATUS_LABELS=STATUS_LABELS, LEVEL_NAMES=LEVEL_NAMES,
                             age_s=age_s)


def roles(principal: Principal) -> dict[str, bool]:
    """What the signed-in organization may do on the pages."""
    admin = principal.is_admin
    return {
        "can_inspect": admin or principal.kind == OrgKind.SUPERVISION,
        "can_report": admin or principal.kind == OrgKind.SUPERVISION,
        "can_maintain": admin or principal.kind in (OrgKind.MAINTENANCE, OrgKind.PROPERTY),
    }


def render(request: Request, template: str, principal: Principal | None, *,
           status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the signed-in organization and its roles in the context."""
    ctx = {"principal": principal, **(roles(principal) if principal else {}), **context}
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code,
                                          headers=SECURITY_HEADERS)
    return response


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """An HTML error page (the pages answer like the API: 404 across scopes, 403, 422)."""
    titles = {401: "Sign-in needed", 403: "Not allowed", 404: "Not found",
              409: "Conflict", 422: "Invalid request"}
    return render(request, "error.html", None, status_code=status_code,
                  title=titles.get(status_code, "Error"), message=message)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{field or 'request'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


class PageRoute(APIRoute):
    """A route whose refusals are HTML pages (and a missing sign-in a redirect)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler: map the API's exceptions to pages."""
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                target = "/signin?next=" + quote(safe_next(exc.next_path), safe="/")
                if exc.message:
                    target += "&expired=1"
                response = RedirectResponse(target, status_code=303)
                if exc.message:
                    response.delete_cookie(deps.TOKEN_COOKIE, path="/")
                return response
            except NotFound as exc:
                return error_page(request, 404, str(exc))
            except Invalid as exc:
                return error_page(request, 422, str(exc))
            except Conflict as exc:
                return error_page(request, 409, str(exc))
            except RequestValidationError as exc:
                return error_page(request, 422, _validation_message(exc))
            except HTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))

        return page
