"""Migrations on the real PostgreSQL + TimescaleDB, both license paths."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import ADMIN_DSN, dsn_for
from vigie.db import detect_license, discover, migrate, status
from vigie.errors import DatabaseError, NotTimescaleError

pytestmark = pytest.mark.db

TABLES = [
    "clinics",
    "owners",
    "animals",
    "devices",
    "readings",
    "quarantine",
    "alerts",
    "drafts",
    "audit_log",
    "readings_hourly",
    "readings_daily",
    "retention",
    "schema_migrations",
]


@pytest.fixture
def empty_db() -> Iterator[str]:
    name = f"vigie_e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield dsn_for(name)
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_twice_is_a_noop(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        first = migrate(conn)
        assert [m.version for m in first] == [m.version for m in discover()]
        assert migrate(conn) == []
        rows = status(conn)
        assert all(r.applied_at is not None and not r.modified for r in rows)
        assert {r.license for r in rows} == {"apache"}


def test_readings_is_a_hypertable_and_every_table_answers(db: psycopg.Connection[tuple[object, ...]]) -> None:
    hyper = {r[0] for r in db.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
    assert "readings" in hyper
    interval = db.execute(
        "SELECT time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = 'readings'"
    ).fetchone()
    assert interval is not None
    assert str(interval[0]) == "1 day, 0:00:00"
    for table in TABLES:
        db.execute(f"SELECT * FROM {table} LIMIT 1").fetchall()


def test_license_is_detected_as_apache(db: psycopg.Connection[tuple[object, ...]]) -> None:
    assert detect_license(db) == "apache"


def test_plain_postgresql_is_refused_with_a_clear_message(empty_db: str) -> None:
    # the extension is available here, so simulate a server without it by hiding it from the check
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(
            "CREATE SCHEMA fake; CREATE VIEW fake.pg_available_extensions AS "
            "SELECT * FROM pg_catalog.pg_available_extensions WHERE name <> 'timescaledb'"
        )
        conn.execute("SET search_path = fake, pg_catalog, public")
        with pytest.raises(NotTimescaleError, match="needs TimescaleDB"):
            migrate(conn)


def test_changed_migration_is_refused(empty_db: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = discover()[0].file_for("apache")
    copy = tmp_path / src.name
    copy.write_text(src.read_text())
    from vigie.db import Migration

    mig = [Migration(1, "registry", {"any": copy})]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn, mig)
        copy.write_text(src.read_text() + "\n-- edited\n")
        with pytest.raises(DatabaseError, match="was changed after it was applied"):
            migrate(conn, mig)


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (dollar-quoted bodies kept whole)."""
    parts, buf, in_dollar = [], [], False
    for line in sql.splitlines():
        if line.strip().startswith("--") and not in_dollar:
            continue
        buf.append(line)
        if line.count("$$") % 2 == 1:
            in_dollar = not in_dollar
        if not in_dollar and line.rstrip().endswith(";"):
            parts.append("\n".join(buf).strip())
            buf = []
    if "".join(buf).strip():
        parts.append("\n".join(buf).strip())
    return parts


def test_timescale_license_sql_reaches_the_license_check(empty_db: str) -> None:
    """The TSL path's SQL runs on this Apache build up to the license check: no syntax or name error."""
    migs = discover()
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn, [m for m in migs if "timescale" not in m.files])
        tsl = [m for m in migs if "timescale" in m.files]
        assert tsl, "a migration must have a Timescale-licensed variant"
        outcomes: dict[str, int] = {"ok": 0, "license": 0}
        refusals: list[str] = []
        missing: list[str] = []
        for mig in tsl:
            for stmt in _statements(mig.file_for("timescale").read_text()):
                try:
                    with conn.transaction():
                        conn.execute(stmt.encode())
                    outcomes["ok"] += 1
                except psycopg.errors.FeatureNotSupported as exc:
                    refusals.append(str(exc))
                    outcomes["license"] += 1
                except psycopg.errors.UndefinedTable as exc:
                    # statements on a continuous aggregate that the license check refused to create
                    missing.append(str(exc))
        assert all(re.search(r"not supported under the current \"?apache\"? license", m) for m in refusals), refusals
        assert all("readings_hourly" in m or "readings_daily" in m for m in missing), missing
        # continuous aggregates, their policies, compression and retention policies are all TSL features
        assert outcomes["license"] >= 4, outcomes
        assert outcomes["ok"] >= 2, outcomes  # the retention table and vigie_maintain() are plain SQL


def test_apache_rollups_and_maintenance(db: psycopg.Connection[tuple[object, ...]]) -> None:
    db.execute("INSERT INTO clinics (id, name) VALUES ('c1', 'C1')")
    db.execute(
        "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id) "
        "SELECT now() - make_interval(mins => g), 'd1', 'a1', 'glucose', 100 + g, 'c1' FROM generate_series(0, 179) g"
    )
    db.execute("INSERT INTO rollup_dirty SELECT DISTINCT time_bucket('1 hour', time) FROM readings")
    hours, days, dropped = db.execute("SELECT * FROM vigie_maintain()").fetchone()  # type: ignore[misc]
    assert hours in (3, 4)
    assert days in (1, 2)
    assert dropped == 0
    n, total, lo, hi = db.execute("SELECT sum(n), sum(sum), min(min), max(max) FROM readings_hourly").fetchone()  # type: ignore[misc]
    assert (n, lo, hi) == (180, 100, 279)
    assert total == sum(100 + g for g in range(180))
    dn = db.execute("SELECT sum(n) FROM readings_daily").fetchone()
    assert dn == (180,)
    assert db.execute("SELECT count(*) FROM rollup_dirty").fetchone() == (0,)


def test_readings_natural_key_stores_a_resent_reading_once(db: psycopg.Connection[tuple[object, ...]]) -> None:
    ins = (
        "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id) "
        "VALUES ('2026-01-01T00:00:00Z', 'd', %s, 'glucose', 1, 'c') ON CONFLICT DO NOTHING"
    )
    for animal in ("a", "a", None, None):
        db.execute(ins, (animal,))
    assert db.execute("SELECT count(*) FROM readings").fetchone() == (2,)


def test_nan_is_refused_by_the_table(db: psycopg.Connection[tuple[object, ...]]) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO readings (time, device_id, metric, value, clinic_id) "
            "VALUES (now(), 'd', 'glucose', 'NaN', 'c')"
        )


def test_audit_log_is_append_only(db: psycopg.Connection[tuple[object, ...]]) -> None:
    db.execute("INSERT INTO audit_log (actor, action, object_type, object_id) VALUES ('vet', 'x', 'draft', '1')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("DELETE FROM audit_log")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("TRUNCATE audit_log")
