"""What every dashboard page shares: templates, the signed-in caller, HTML error pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Cookie, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api import deps, i18n
from api.dashboard import labels
from api.deps import ConnDep, SettingsDep
from api.i18n import N_
from core.domain import OrgKind, Principal
from storage import access
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

# Icons and (translated when shown) words of each status.
STATUS_ICONS = {"normal": "✓", "warning": "!", "fault": "✖", "offline": "⌁",
                "out_of_service": "⊘", "unknown": "?"}
STATUS_LABELS = {s: (icon, labels.VOCABULARY["status"][s]) for s, icon in STATUS_ICONS.items()}
ERROR_TITLES = {401: N_("Sign-in needed"), 403: N_("Not allowed"), 404: N_("Not found"),
                409: N_("Conflict"), 422: N_("Invalid request")}
TOKEN_EXPIRED = N_("Your sign-in is no longer valid; sign in again.")
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
                   whistle_token: Annotated[str | None, Cookie()] = None,
                   whistle_session: Annotated[str | None, Cookie()] = None) -> Principal:
    """The signed-in person (a session) or organization (a token), validated exactly as
    the API validates them, at every page."""
    if whistle_session:
        person = access.principal_for_session(conn, session=whistle_session)
        if person is None:
            raise SignInRequired(_next_path(request), TOKEN_EXPIRED)
        return person
    if not whistle_token:
        raise SignInRequired(_next_path(request))
    try:
        return deps.principal_for_token(conn, settings, whistle_token)
    except HTTPException:
        raise SignInRequired(_next_path(request), TOKEN_EXPIRED) from None


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def iso(value: Any) -> str:
    """RFC 3339 of a datetime (or the string itself)."""
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def age_s(value: datetime | None) -> float | None:
    """Seconds since a time."""
    return None if value is None else (datetime.now(UTC) - value).total_seconds()


def _label(value: Any, vocabulary: str = "kind") -> str:
    return labels.label(value, vocabulary, i18n.current())


templates.env.add_extension("jinja2.ext.i18n")
templates.env.policies["ext.i18n.trimmed"] = True
# The translations are those of the request being rendered (a context variable set by
# render()), so concurrent requests in two languages never see each other's.
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True)
templates.env.filters.update(
    time=lambda v: i18n.current().time(v), iso=iso,
    duration=lambda v: i18n.current().duration(v), label=_label,
    num=lambda v, digits=1, unit="": i18n.current().num(v, digits, unit))
templates.env.globals.update(STATUS_LABELS=STATUS_LABELS, age_s=age_s)


def lang_links(request: Request, current: str) -> list[dict[str, Any]]:
    """The language switch: this page in each language (``?lang=`` replaced)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != i18n.LANG_PARAM]
    return [{"code": code, "name": name, "current": code == current,
             "href": request.url.path + "?" + urlencode([*query, (i18n.LANG_PARAM, code)])}
            for code, name in i18n.LANGUAGE_NAMES.items()]


def page_lang(request: Request) -> tuple[i18n.Lang, bool]:
    """The language and zone of a page, and whether ``?lang=`` picked the language."""
    settings = request.app.state.settings
    code, picked = i18n.choose(request, settings.default_lang)
    return i18n.Lang(code, i18n.zone(settings.timezone)), picked


def roles(principal: Principal) -> dict[str, bool]:
    """What the signed-in organization may do on the pages."""
    admin = principal.is_admin
    return {
        "can_inspect": admin or principal.kind == OrgKind.SUPERVISION,
        "can_report": admin or principal.kind == OrgKind.SUPERVISION,
        "can_maintain": admin or principal.kind in (OrgKind.MAINTENANCE, OrgKind.PROPERTY),
        "can_see_orgs": admin or principal.kind == OrgKind.SUPERVISION or principal.manager,
    }


def render(request: Request, template: str, principal: Principal | None, *,
           status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the signed-in organization and its roles in the context."""
    lang, picked = page_lang(request)
    i18n.use(lang)
    ctx = {"principal": principal, **(roles(principal) if principal else {}),
           "lang": lang, "lang_links": lang_links(request, lang.code),
           "script_strings": labels.script_strings(lang), **context}
    response = templates.TemplateResponse(
        request, template, ctx, status_code=status_code,
        headers={**SECURITY_HEADERS, "Content-Language": lang.code,
                 "Vary": "Accept-Language, Cookie"})
    if picked:
        i18n.remember(response, lang.code, secure=request.url.scheme == "https")
    return response


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """An HTML error page (the pages answer like the API: 404 across scopes, 403, 422)."""
    return render(request, "error.html", None, status_code=status_code,
                  title=ERROR_TITLES.get(status_code, N_("Error")), message=message)


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
                    response.delete_cookie(deps.SESSION_COOKIE, path="/")
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
