"""Session cookie, CSRF protection and response headers of the web page.

- The session is the opaque token :func:`api._accounts.login` issues, kept in an ``HttpOnly``, ``SameSite=Strict``
  cookie (``Secure`` when the page is served over https), revoked at logout.
- Every POST needs both: an ``Origin`` (or, without it, a ``Referer``) of this host when the browser sends one, and a
  CSRF token in the form. Signed in, the token is derived from the session token (``sha256("csrf:" + token)``), so a
  page of another site can neither read nor compute it. Before login (the login and language forms), it is a random
  value in a cookie that the form must repeat (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "vigie_session"
PRELOGIN_COOKIE = "vigie_csrf"
LANG_COOKIE = "vigie_lang"
UNIT_COOKIE = "vigie_unit"
CSRF_FIELD = "csrf_token"

# scripts and styles only from Vigie itself; the chart data is a JSON block (not executed); plotly sets inline styles
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def is_https(request: Request, public_url: str) -> bool:
    """True when the browser reaches the page over https (directly, or per the configured public URL)."""
    return request.url.scheme == "https" or public_url.startswith("https://")


def csrf_for_session(session_token: str) -> str:
    """The CSRF token of a session (derived: nothing to store)."""
    return hashlib.sha256(f"csrf:{session_token}".encode()).hexdigest()


def new_prelogin_token() -> str:
    """A random token for the forms shown before login."""
    return secrets.token_urlsafe(24)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; False when either is missing."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def same_origin(request: Request, public_url: str) -> bool:
    """False when the browser says the request comes from another origin (``Origin``, else ``Referer``).

    A request with neither header (an old browser, a privacy setting) is left to the CSRF token.
    """
    origin = request.headers.get("origin")
    source = origin if origin is not None else request.headers.get("referer")
    if source is None:
        return True
    if source == "null":  # sandboxed frames and some cross-origin redirects
        return False
    parts = urlsplit(source)
    allowed = {request.headers.get("host", ""), request.url.netloc}
    if public_url:
        allowed.add(urlsplit(public_url).netloc)
    return bool(parts.netloc) and parts.netloc in allowed and parts.scheme in {"http", "https"}


def set_cookie(response: Response, request: Request, public_url: str, name: str, value: str, max_age: int) -> None:
    """Set one of the page's cookies: HttpOnly, SameSite=Strict, Path=/, Secure over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_https(request, public_url),
    )


def clear_cookie(response: Response, request: Request, public_url: str, name: str) -> None:
    """Remove one of the page's cookies (same attributes as when set)."""
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=is_https(request, public_url))


def secure_headers(response: Response, *, cache: bool = False) -> None:
    """Headers every page carries: CSP, no sniffing, no framing, referrer kept to this origin, no caching of pages."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not cache:
        response.headers.setdefault("Cache-Control", "no-store")


def safe_next(value: str | None, default: str) -> str:
    """A local path to go back to after login or a language change (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
