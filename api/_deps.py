"""FastAPI dependencies: a pooled connection per request (one transaction), the caller, role checks, tenancy.

Tenancy rule for every route: a row of another clinic is *not found* (404), never *forbidden*, so ids of other
clinics cannot be probed. ``forbid`` (403) is only for a role that may not do something in its own clinic.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from api._accounts import Conn, Principal, Role, authenticate
from api._errors import AuthError
from vigie.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="an API token (`vigie tokens create`) or a login token")


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def get_conn(request: Request) -> Iterator[Conn]:
    """One pooled connection per request; its transaction commits when the route returns, rolls back on error."""
    pool: ConnectionPool[Any] = request.app.state.pool
    with pool.connection() as conn:
        yield conn


# scope="function": the transaction commits before the response is sent (FastAPI's default, "request", would commit
# after it, so a client could act on an answer whose change is not yet visible: log in, then be refused its token)
Db = Annotated[Conn, Depends(get_conn, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]


def get_principal(conn: Db, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """The authenticated caller (Bearer token only: the web page has its own cookie session)."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    try:
        return authenticate(conn, creds.credentials)
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), {"WWW-Authenticate": "Bearer"}) from None


Caller = Annotated[Principal, Depends(get_principal)]

CLINIC_READERS: frozenset[Role] = frozenset({"admin", "vet", "staff"})
VETS: frozenset[Role] = frozenset({"admin", "vet"})


def forbid_unless(caller: Principal, roles: frozenset[Role]) -> None:
    """403 unless the caller has one of ``roles``."""
    if caller.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {caller.role} account may not do this")


def not_found(what: str, id_: object) -> HTTPException:
    """The 404 of an id that does not exist or belongs to another clinic (the two are not told apart)."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no {what} {id_}")


def clinic_filter(caller: Principal) -> str | None:
    """The clinic a query must be limited to (None: an admin sees every clinic)."""
    return None if caller.role == "admin" else caller.clinic_id


def client_address(request: Request) -> str:
    """The peer's address (Vigie listens on loopback or behind a proxy the operator configures)."""
    return request.client.host if request.client else "unknown"
