"""Synchronous connections for one-shot commands (the services use async connections of their own)."""

from __future__ import annotations

import psycopg

from vigie.errors import DatabaseError


def connect(dsn: str, *, autocommit: bool = False, connect_timeout: int = 10) -> psycopg.Connection[tuple[object, ...]]:
    """Open a connection, turning driver errors into one readable line (without the password)."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=connect_timeout)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"cannot connect to the database: {first}") from exc
