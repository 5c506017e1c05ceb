"""``/api/v1/auth``: log in (a session token), log out (revoke it), who am I."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import Field

from api._accounts import RateLimitedError, login, revoke_token
from api._deps import AppSettings, Caller, Db, client_address
from api._errors import AuthError
from api._models import Body, Out

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(Body):
    # no NUL: it is recorded in login_failures, and PostgreSQL text cannot hold it (a 500 found by schemathesis)
    username: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class TokenOut(Out):
    token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_at: datetime
    role: str


class MeOut(Out):
    user_id: str
    role: str
    clinic_id: str | None
    owner_id: str | None
    device_id: str | None
    display_name: str
    language: str


@router.post(
    "/login",
    responses={401: {"description": "wrong user name or password"}, 429: {"description": "too many failed logins"}},
)
def post_login(body: LoginIn, request: Request, conn: Db, settings: AppSettings) -> TokenOut:
    """Exchange a user name and password for a session token (Bearer), valid ``api_session_ttl_s`` seconds."""
    try:
        issued = login(
            conn,
            body.username,
            body.password,
            address=client_address(request),
            ttl=timedelta(seconds=settings.api_session_ttl_s),
            max_failures=settings.api_login_max_failures,
            window=timedelta(seconds=settings.api_login_window_s),
        )
    except RateLimitedError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(exc), {"Retry-After": str(exc.retry_after)}
        ) from None
    except AuthError as exc:
        # the failure must be recorded even though the request fails: commit it before raising
        conn.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    return TokenOut(token=issued.token, expires_at=issued.expires_at, role=issued.role)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def post_logout(caller: Caller, request: Request, conn: Db) -> None:
    """Revoke the token this request was made with."""
    header = request.headers.get("authorization", "")
    revoke_token(conn, header.partition(" ")[2].strip())
    del caller


@router.get("/me")
def get_me(caller: Caller) -> MeOut:
    """The caller's identity and role."""
    return MeOut(
        user_id=caller.user_id,
        role=caller.role,
        clinic_id=caller.clinic_id,
        owner_id=caller.owner_id,
        device_id=caller.device_id,
        display_name=caller.display_name,
        language=caller.language,
    )
