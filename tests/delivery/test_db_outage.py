"""The delivery worker through a database outage: it starts while the database is down, survives a restart
(both its connection and its LISTEN connection), and sends each message once afterwards."""

from __future__ import annotations

import asyncio
import logging
import uuid

import psycopg
import pytest

from rules._vet import approve
from tests.conftest import PrivatePostgres
from tests.delivery.conftest import SmtpServer, outbox, running, until
from vigie.db import migrate
from vigie.settings import Settings


def _fresh_db(pg: PrivatePostgres) -> str:
    name = f"dlv_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = pg.dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO clinics (id, name, language) VALUES ('c1', 'Clinique du Parc', 'fr')")
        conn.execute(
            "INSERT INTO owners (id, clinic_id, name, email) VALUES ('o1', 'c1', 'Claire', 'claire@example.org')"
        )
        conn.execute(
            "INSERT INTO animals (id, clinic_id, owner_id, name, species) VALUES ('rex', 'c1', 'o1', 'Rex', 'dog')"
        )
    return dsn


def _approve_new(dsn: str, text: str) -> None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "INSERT INTO drafts (clinic_id, animal_id, language, body) VALUES ('c1', 'rex', 'fr', %s) RETURNING id",
            (text,),
        ).fetchone()
        assert row is not None
        approve(conn, int(row[0]), "Dr Lefèvre")


async def test_worker_rides_out_a_database_outage(
    private_pg: PrivatePostgres, dsettings: Settings, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="api._delivery")
    dsn = _fresh_db(private_pg)
    # polling every 60 s: within the test, only the LISTEN connection (reconnected) can wake the worker
    settings = dsettings.model_copy(
        update={"database_url": dsettings.database_url.__class__(dsn), "delivery_poll_s": 60.0}
    )
    _approve_new(dsn, "avant la panne")
    await asyncio.to_thread(private_pg.stop, "fast")
    try:
        async with running(settings) as worker:
            # the worker starts with the database down: it retries, it does not exit
            await until(lambda: "database unreachable" in caplog.text, what="the worker's retry")
            assert not worker.done()
            await asyncio.to_thread(private_pg.start)
            await until(lambda: outbox(dsn)[0]["status"] == "sent", timeout=60, what="the first message sent")
            # a restart while it runs: both its connections die; an approval after it still goes out at once
            await asyncio.to_thread(private_pg.stop, "fast")
            await asyncio.to_thread(private_pg.start)
            _approve_new(dsn, "après la panne")
            await until(
                lambda: [r["status"] for r in outbox(dsn)] == ["sent", "sent"], timeout=30, what="the second message"
            )
            assert not worker.done()
    finally:
        if private_pg.data.exists():
            await asyncio.to_thread(_ensure_started, private_pg)
    assert sorted(m.email.get_content().split("\n")[0] for m in smtp.messages) == ["après la panne", "avant la panne"]
    assert all(r["attempts"] == 1 for r in outbox(dsn))


def _refused(pg: PrivatePostgres) -> bool:
    try:
        with psycopg.connect(pg.dsn(), connect_timeout=2):
            return False
    except psycopg.OperationalError:
        return True


def _ensure_started(pg: PrivatePostgres) -> None:
    try:
        with psycopg.connect(pg.dsn(), connect_timeout=2):
            return
    except psycopg.OperationalError:
        pg.start()
