"""Rendering: the Jinja environment, the page context (who, which language, the CSRF token), HTML error pages.

Routes raise :class:`PageError` (an HTML error page in the user's language) or :class:`LoginRequired` (back to the
login form); :class:`WebRoute` turns them into responses and adds the security headers to every response.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api._accounts import Conn, Principal, Role, authenticate
from api._deps import AppSettings, Db
from api._errors import AuthError
from api.web import _i18n
from api.web._security import (
    CSRF_FIELD,
    LANG_COOKIE,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    csrf_for_session,
    same_origin,
    secure_headers,
    tokens_match,
)
from api.web._static import versions
from vigie.settings import Settings

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("api.web", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

VET_PAGES: frozenset[Role] = frozenset({"admin", "vet", "staff"})
VET_ACTIONS: frozenset[Role] = frozenset({"admin", "vet"})
OWNER_PAGES: frozenset[Role] = frozenset({"owner"})


class PageError(Exception):
    """An error shown as a page: ``status`` and a catalog key (with its parameters)."""

    def __init__(self, code: int, key: str, *, lang: str | None = None, **params: object) -> None:
        super().__init__(key)
        self.status = code
        self.key = key
        self.lang = lang
        self.params = params


class LoginRequired(Exception):  # noqa: N818 - a control-flow signal, not an error
    """No (valid) session: go to the login form, then come back to ``next``."""

    def __init__(self, next_path: str, *, expired: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


@dataclass
class Ctx:
    """One request of the web page: the caller (None before login), the language, the CSRF token."""

    request: Request
    conn: Conn
    settings: Settings
    user: Principal | None
    lang: str
    csrf: str
    session_token: str | None
    expired: bool = False
    extra_cookies: dict[str, str] = field(default_factory=dict)

    def t(self, key: str, **params: object) -> str:
        """A catalog string in the page's language."""
        return _i18n.translate(self.lang, key, **params)

    def require(self, roles: frozenset[Role]) -> Principal:
        """The caller if signed in with one of ``roles``; LoginRequired or a 403 page otherwise."""
        if self.user is None:
            path = self.request.url.path
            if self.request.url.query:
                path += "?" + self.request.url.query
            # after a form post whose session had ended, come back to the start page rather than to the post's URL
            raise LoginRequired(path if self.request.method == "GET" else "/", expired=self.expired)
        if self.user.role not in roles:
            raise PageError(403, "error.403", lang=self.lang)
        return self.user

    def fail(self, code: int, key: str, **params: object) -> PageError:
        """A :class:`PageError` in the page's language (to raise)."""
        return PageError(code, key, lang=self.lang, **params)

    def check_csrf(self, given: str) -> None:
        """403 unless the POST comes from this site with the right CSRF token."""
        if not same_origin(self.request, self.settings.api_public_url) or not tokens_match(self.csrf, given):
            raise PageError(403, "error.csrf", lang=self.lang)


def _accept_language(request: Request) -> str | None:
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in _i18n.LANGUAGES:
            return code
    return None


def get_ctx(request: Request, conn: Db, settings: AppSettings) -> Ctx:
    """The page context: the session cookie's user (if valid), the language, the CSRF token."""
    token = request.cookies.get(SESSION_COOKIE)
    user = None
    expired = False
    if token:
        try:
            user = authenticate(conn, token)
        except AuthError:
            token, expired = None, True
    chosen = request.cookies.get(LANG_COOKIE)
    lang = _i18n.language_of(
        chosen if chosen in _i18n.LANGUAGES else user.language if user is not None else _accept_language(request)
    )
    csrf = csrf_for_session(token) if user is not None and token else request.cookies.get(PRELOGIN_COOKIE, "")
    return Ctx(request, conn, settings, user, lang, csrf, token if user is not None else None, expired)


Page = Annotated[Ctx, Depends(get_ctx)]


def nav(ctx: Ctx) -> list[tuple[str, str, bool]]:
    """The navigation links of the caller's role: (url, label, current)."""
    if ctx.user is None:
        return []
    path = ctx.request.url.path
    items = (
        [("/messages", "nav.messages")]
        if ctx.user.role == "owner"
        else [("/triage", "nav.triage"), ("/drafts", "nav.drafts")]
    )
    return [(url, ctx.t(key), path == url or path.startswith(url + "/")) for url, key in items]


def render(ctx: Ctx, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the page helpers (t, num, when, age, day) and ``context``."""
    lang = ctx.lang
    now = datetime.now().astimezone()
    path = ctx.request.url.path + (("?" + ctx.request.url.query) if ctx.request.url.query else "")
    html = _env.get_template(template).render(
        lang=lang,
        user=ctx.user,
        csrf=ctx.csrf,
        csrf_field=CSRF_FIELD,
        here=path,
        nav=nav(ctx),
        t=ctx.t,
        num=lambda v, digits=1: _i18n.fmt_number(v, lang, digits),
        when=lambda v: _i18n.fmt_datetime(v, lang),
        day=lambda v: _i18n.fmt_date(v, lang),
        age=lambda v: _i18n.fmt_age(now - v if isinstance(v, datetime) else timedelta(0), lang),
        tz=str(_i18n.DISPLAY_TZ),
        assets=versions(),
        **context,
    )
    return HTMLResponse(html, status_code=status)


class WebRoute(APIRoute):
    """A route of the web page: PageError and LoginRequired become pages or redirects; security headers always."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler."""
        handler = super().get_route_handler()

        async def web_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                response = RedirectResponse(
                    f"/login?next={quote(exc.next_path, safe='/')}" + ("&expired=1" if exc.expired else ""),
                    status_code=303,
                )
            except PageError as exc:
                response = _bare_error(request, exc)
            secure_headers(response, cache=request.url.path.startswith("/static/"))
            return response

        return web_handler


def _bare_error(request: Request, exc: PageError) -> HTMLResponse:
    """An error page rendered without the database (the request's connection is gone by now)."""
    lang = exc.lang or _i18n.language_of(request.cookies.get(LANG_COOKIE) or _accept_language(request))
    html = _env.get_template("error.html").render(
        lang=lang,
        user=None,
        csrf="",
        csrf_field=CSRF_FIELD,
        here="/",
        nav=[],
        t=lambda key, **p: _i18n.translate(lang, key, **p),
        tz=str(_i18n.DISPLAY_TZ),
        assets=versions(),
        message=_i18n.translate(lang, exc.key, **exc.params),
        status_code=exc.status,
    )
    return HTMLResponse(html, status_code=exc.status)
