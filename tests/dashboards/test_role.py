"""The migration's ``vigie_grafana_reader`` role: a login user granted it runs every dashboard query and can
change nothing, nor read what dashboards do not need (device credentials, quarantined payloads, drafts)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.dashboards.test_queries import DASHBOARDS, grafana_for

pytestmark = pytest.mark.db

Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def grafana_user(farm: Conn, farm_dsn: str) -> Iterator[Conn]:
    """A connection as a fresh login user that is only a member of vigie_grafana_reader."""
    user = f"grafana_t_{uuid.uuid4().hex[:8]}"
    farm.execute(f"CREATE ROLE {user} LOGIN IN ROLE vigie_grafana_reader")
    params = conninfo_to_dict(farm_dsn)
    params["user"] = user
    try:
        with psycopg.connect(make_conninfo(**params), autocommit=True) as conn:  # type: ignore[arg-type]
            yield conn
    finally:
        farm.execute(f"DROP ROLE {user}")


def test_role_exists_without_login(farm: Conn) -> None:
    row = farm.execute(
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'vigie_grafana_reader'"
    ).fetchone()
    assert row == (False, False, False, False)


def test_reader_runs_every_dashboard_query(grafana_user: Conn) -> None:
    ran = 0
    for uid, dashboard in DASHBOARDS.items():
        for nq in dashboard.queries():
            g = grafana_for(grafana_user, dashboard, timedelta(hours=1), nq)
            rows = grafana_user.execute(g.expand(nq.query.sql).encode()).fetchall()
            assert rows, f"{uid}: {nq.name} returned nothing as the Grafana user"
            ran += 1
    assert ran >= 40


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO readings (time, device_id, metric, value, clinic_id) VALUES (now(), 'd', 'glucose', 1, 'vet-lyon')",
        "UPDATE alerts SET status = 'resolved'",
        "DELETE FROM animals",
        "UPDATE devices SET enabled = false",
        "INSERT INTO clinics (id, name) VALUES ('x', 'x')",
        "TRUNCATE quarantine",
        "INSERT INTO readings_hourly SELECT * FROM readings_hourly LIMIT 1",
        "DELETE FROM readings_daily",
        "SELECT credentials_hash FROM devices",
        "SELECT * FROM devices",
        "SELECT payload FROM quarantine",
        "SELECT email FROM owners",
        "SELECT * FROM drafts",
        "SELECT * FROM audit_log",
        "SELECT vigie_maintain()",
        "CREATE TABLE public.grafana_was_here (x int)",
    ],
)
def test_reader_cannot_write_or_read_beyond_dashboards(grafana_user: Conn, sql: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        grafana_user.execute(sql)


def test_migration_is_safe_when_the_role_already_exists(farm: Conn) -> None:
    """0005 applied again (another database of the same cluster, where the role exists) changes nothing."""
    from vigie.db import discover

    mig = next(m for m in discover() if m.name == "grafana_role")
    farm.execute(mig.file_for("apache").read_bytes())  # the same grants again: a no-op
    assert farm.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'vigie_grafana_reader'").fetchone() == (1,)
