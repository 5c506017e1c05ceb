"""Users, tokens and logins in the database (sync psycopg, in the caller's transaction).

Used by the CLI (``vigie users add``, ``vigie tokens create``) and by the API's login and authentication.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import errors as pg_errors

from api._errors import AuthError
from api._secrets import hash_password, new_token, token_digest, verify_password
from vigie.errors import RegistryError
from vigie.registry import check_id

Conn = psycopg.Connection[tuple[Any, ...]]
Role = Literal["admin", "vet", "staff", "owner", "device"]
ROLES: tuple[Role, ...] = ("admin", "vet", "staff", "owner", "device")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user of one clinic (or an admin), with the token that authenticated them."""

    user_id: str
    role: Role
    clinic_id: str | None
    owner_id: str | None
    device_id: str | None
    display_name: str
    language: str
    token_id: int

    @property
    def name(self) -> str:
        """What the audit log and the drafts record as the actor."""
        return self.display_name or self.user_id


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as shown once to its holder."""

    token: str
    user_id: str
    role: Role
    expires_at: datetime


def add_user(
    conn: Conn,
    user_id: str,
    *,
    role: Role,
    clinic: str | None = None,
    owner: str | None = None,
    device: str | None = None,
    password: str | None = None,
    display_name: str = "",
    language: str | None = None,
) -> None:
    """Create a user; the clinic of an owner or device account comes from the registry."""
    check_id("user", user_id)
    if role not in ROLES:
        raise RegistryError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if language not in (None, "fr", "en"):
        raise RegistryError("language must be fr or en")
    if password is not None and len(password) < 10:
        raise RegistryError("a password needs at least 10 characters")
    if role == "owner":
        row = conn.execute("SELECT clinic_id FROM owners WHERE id = %s", (owner,)).fetchone()
        if owner is None or row is None:
            raise RegistryError(f"an owner account needs an existing --owner (got {owner!r})")
        clinic = str(row[0])
    if role == "device":
        row = conn.execute("SELECT clinic_id FROM devices WHERE id = %s", (device,)).fetchone()
        if device is None or row is None:
            raise RegistryError(f"a device account needs an existing --device (got {device!r})")
        clinic = str(row[0])
    if role == "admin" and clinic is not None:
        raise RegistryError("an admin belongs to no clinic")
    if role != "admin" and (
        clinic is None or conn.execute("SELECT 1 FROM clinics WHERE id = %s", (clinic,)).fetchone() is None
    ):
        raise RegistryError(f"a {role} account needs an existing --clinic (got {clinic!r})")
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO users (id, role, clinic_id, owner_id, device_id, display_name, language, password_hash)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    user_id,
                    role,
                    clinic,
                    owner if role == "owner" else None,
                    device if role == "device" else None,
                    display_name,
                    language,
                    None if password is None else hash_password(password),
                ),
            )
    except pg_errors.UniqueViolation:
        raise RegistryError(f"user {user_id!r} already exists") from None


def issue_token(
    conn: Conn, user_id: str, *, ttl: timedelta, kind: Literal["api", "session"] = "api", name: str = ""
) -> IssuedToken:
    """A new token for an enabled user, valid for ``ttl``; only its digest is stored."""
    row = conn.execute("SELECT role, disabled FROM users WHERE id = %s", (user_id,)).fetchone()
    if row is None:
        raise RegistryError(f"no user {user_id!r}")
    if row[1]:
        raise RegistryError(f"user {user_id!r} is disabled")
    if ttl <= timedelta(0):
        raise RegistryError("a token's lifetime must be positive")
    token = new_token()
    expires = datetime.now(UTC) + ttl
    conn.execute(
        "INSERT INTO api_tokens (user_id, token_hash, kind, name, expires_at) VALUES (%s, %s, %s, %s, %s)",
        (user_id, token_digest(token), kind, name, expires),
    )
    return IssuedToken(token=token, user_id=user_id, role=row[0], expires_at=expires)


def revoke_token(conn: Conn, token: str) -> bool:
    """Revoke a token by its secret; False if it was unknown or already revoked."""
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL", (token_digest(token),)
    )
    return cur.rowcount == 1


def authenticate(conn: Conn, token: str) -> Principal:
    """The principal a token stands for; AuthError if it is unknown, revoked, expired or its user disabled."""
    row = conn.execute(
        """
        SELECT u.id, u.role, u.clinic_id, u.owner_id, u.device_id, u.display_name,
               coalesce(u.language, o.language, c.language, 'en'), t.id, t.last_used_at < now() - interval '1 minute'
        FROM api_tokens t
        JOIN users u ON u.id = t.user_id
        LEFT JOIN clinics c ON c.id = u.clinic_id
        LEFT JOIN owners o ON o.id = u.owner_id
        WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > now() AND NOT u.disabled
        """,
        (token_digest(token),),
    ).fetchone()
    if row is None:
        raise AuthError("unknown, revoked or expired token")
    if row[8] is not False:  # NULL (never used) or more than a minute ago: one write a minute at most
        conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s", (row[7],))
    return Principal(
        user_id=row[0],
        role=row[1],
        clinic_id=row[2],
        owner_id=row[3],
        device_id=row[4],
        display_name=row[5],
        language=row[6],
        token_id=row[7],
    )


class RateLimitedError(AuthError):
    """Too many failed logins recently; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed logins; try again later")
        self.retry_after = retry_after


def login(
    conn: Conn, username: str, password: str, *, address: str, ttl: timedelta, max_failures: int, window: timedelta
) -> IssuedToken:
    """Check a password and issue a session token.

    Failed attempts are recorded and limited per login name (``max_failures`` in ``window``) and per client address
    (four times as many, so that one office behind one address is not locked out by one person). A limited login is
    refused before the password is checked, so guessing goes no faster. Unknown names cost as much as known ones.
    """
    if "\x00" in username or "\x00" in address or len(username) > 64:
        raise AuthError("wrong user name or password")  # no such user can exist (and PostgreSQL text holds no NUL)
    since = datetime.now(UTC) - window
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM login_failures WHERE username = %s AND at > %s),"
        "       (SELECT count(*) FROM login_failures WHERE address = %s AND at > %s)",
        (username, since, address, since),
    ).fetchone()
    if counts is not None and (counts[0] >= max_failures or counts[1] >= 4 * max_failures):
        raise RateLimitedError(int(window.total_seconds()))
    row = conn.execute("SELECT id, password_hash, disabled FROM users WHERE id = %s", (username,)).fetchone()
    ok = verify_password(password, None if row is None else row[1])
    if row is None or not ok or row[2]:
        conn.execute("INSERT INTO login_failures (username, address) VALUES (%s, %s)", (username, address))
        conn.execute("DELETE FROM login_failures WHERE at < now() - interval '1 day'")
        raise AuthError("wrong user name or password")
    conn.execute("DELETE FROM login_failures WHERE username = %s", (username,))
    return issue_token(conn, username, ttl=ttl, kind="session", name=f"login from {address}")
