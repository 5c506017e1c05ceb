"""Versioned schema migrations.

Files live in ``vigie/db/migrations``: ``NNNN_name.sql`` for every database, or a pair
``NNNN_name.apache.sql`` / ``NNNN_name.timescale.sql`` chosen by ``SHOW timescaledb.license``.
Each applied migration is recorded in ``schema_migrations`` with the variant and a checksum; applying
twice is a no-op. An advisory lock serialises concurrent runs.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from vigie.errors import DatabaseError, NotTimescaleError

logger = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(apache|timescale))?\.sql$")
_LOCK_KEY = 0x56494749  # "VIGI"
LICENSES = ("apache", "timescale")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version, with one file for every license or one file per license."""

    version: int
    name: str
    files: dict[str, Path]  # license ("any", "apache", "timescale") → file

    def file_for(self, license_: str) -> Path:
        """The file to apply under ``license_``."""
        return self.files.get(license_) or self.files["any"]

    def checksum(self, license_: str) -> str:
        """sha256 of the file applied under ``license_``."""
        return hashlib.sha256(self.file_for(license_).read_bytes()).hexdigest()


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """A migration and whether (and how) it is applied."""

    version: int
    name: str
    applied_at: datetime | None
    license: str | None
    modified: bool


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in ``directory``, in version order."""
    found: dict[int, tuple[str, dict[str, Path]]] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise DatabaseError(f"badly named migration file {path.name}")
        version, name, variant = int(match[1]), match[2], match[3] or "any"
        entry = found.setdefault(version, (name, {}))
        if entry[0] != name:
            raise DatabaseError(f"migration {version:04d} has two names: {entry[0]} and {name}")
        entry[1][variant] = path
    migrations = []
    for version, (name, files) in sorted(found.items()):
        if "any" not in files and set(files) != set(LICENSES):
            raise DatabaseError(f"migration {version:04d}_{name} needs both .apache.sql and .timescale.sql")
        migrations.append(Migration(version, name, files))
    return migrations


def detect_license(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """Create the timescaledb extension if needed and return its license (``apache`` or ``timescale``)."""
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if row is None:
        raise NotTimescaleError(
            "this PostgreSQL has no TimescaleDB extension: Vigie needs TimescaleDB (run scripts/setup)"
        )
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        raise NotTimescaleError(f"cannot enable TimescaleDB: {str(exc).strip().splitlines()[0]}") from exc
    lic = conn.execute("SHOW timescaledb.license").fetchone()
    value = str(lic[0]) if lic else ""
    if value not in LICENSES:
        raise NotTimescaleError(f"unexpected timescaledb.license {value!r}")
    return value


def _ensure_table(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    integer PRIMARY KEY,
               name       text NOT NULL,
               license    text NOT NULL,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def _applied(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, tuple[str, str, datetime]]:
    rows = conn.execute("SELECT version, license, checksum, applied_at FROM schema_migrations").fetchall()
    return {int(str(v)): (str(lic), str(c), at) for v, lic, c, at in rows}  # type: ignore[misc]


def migrate(
    conn: psycopg.Connection[tuple[object, ...]],
    migrations: list[Migration] | None = None,
    *,
    license_: str | None = None,
) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; return those applied.

    ``conn`` must be in autocommit mode. ``license_`` overrides the detected license (tests only).
    """
    if not conn.autocommit:
        raise DatabaseError("migrate needs an autocommit connection")
    migrations = discover() if migrations is None else migrations
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        lic = license_ or detect_license(conn)
        _ensure_table(conn)
        applied = _applied(conn)
        done: list[Migration] = []
        for mig in migrations:
            if mig.version in applied:
                lic_then, checksum, _ = applied[mig.version]
                if mig.checksum(lic_then) != checksum:
                    raise DatabaseError(
                        f"migration {mig.version:04d}_{mig.name} was changed after it was applied; "
                        "write a new migration instead"
                    )
                continue
            sql = mig.file_for(lic).read_text(encoding="utf-8")
            try:
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, license, checksum) VALUES (%s, %s, %s, %s)",
                        (mig.version, mig.name, lic, mig.checksum(lic)),
                    )
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0]
                raise DatabaseError(f"migration {mig.version:04d}_{mig.name} failed: {first}") from exc
            logger.info("applied migration %04d_%s (%s)", mig.version, mig.name, lic)
            done.append(mig)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def status(conn: psycopg.Connection[tuple[object, ...]]) -> list[MigrationStatus]:
    """Every known migration with its applied state."""
    exists = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    applied = _applied(conn) if exists and exists[0] is not None else {}
    out = []
    for mig in discover():
        if mig.version in applied:
            lic, checksum, at = applied[mig.version]
            out.append(MigrationStatus(mig.version, mig.name, at, lic, mig.checksum(lic) != checksum))
        else:
            out.append(MigrationStatus(mig.version, mig.name, None, None, modified=False))
    return out
