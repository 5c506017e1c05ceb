"""End to end with the real ingest worker: a simulated stream is stored without quarantine (malformed payloads
aside), and replaying its recording reproduces exactly the same stored readings."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg

from simulators._engine import Engine
from simulators._faults import Faults
from simulators._publish import Publisher
from simulators._record import read_recording, record, replay
from simulators._register import register_fleet
from vigie.settings import Settings

from .test_mqtt import small_scenario

SNAPSHOT = "SELECT time, device_id, animal_id, metric, value FROM readings ORDER BY time, device_id, animal_id, metric"


def scalar(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


async def at_least(dsn: str, sql: str, n: int, within: float = 30) -> None:
    """Wait until ``sql`` counts ``n`` rows (the state lives in the database: poll it, bounded)."""
    async with asyncio.timeout(within):
        while scalar(dsn, sql) < n:  # noqa: ASYNC110 - no event crosses the database
            await asyncio.sleep(0.05)


async def stored(dsn: str, n: int) -> None:
    """Wait until the readings table holds ``n`` rows."""
    await at_least(dsn, "SELECT count(*) FROM readings", n)


async def test_stream_is_stored_and_replay_reproduces_the_stored_readings(settings: Settings, tmp_path: Path) -> None:
    from ingest import IngestWorker
    from vigie.catalog import load_catalog

    now = time.time()
    engine = Engine(small_scenario(), seed=8, start=now - 6 * 3600, end=now)
    with psycopg.connect(settings.dsn) as conn:
        assert register_fleet(conn, engine.fleet)["added"] > 0
    faults = Faults(duplicates=0.2, malformed=0.15, out_of_order=0.1)  # ~100 messages: surely some of each
    expected = len(Publisher(settings, engine, speed=None, faults=faults)._messages(now - 6 * 3600, now + 1))
    worker = IngestWorker(settings, load_catalog(settings.config_dir))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="test.ingest")
    try:
        async with asyncio.timeout(20):
            await worker.ready.wait()
        path = tmp_path / "stream.jsonl"
        ready = asyncio.Event()
        rec = asyncio.create_task(record(settings, path, count=expected, ready=ready))
        async with asyncio.timeout(10):
            await ready.wait()
        counts = await Publisher(settings, engine, speed=None, faults=faults).run()
        assert counts.messages == expected
        assert counts.malformed >= 1
        assert counts.duplicates >= 1
        async with asyncio.timeout(30):
            await rec
        await stored(settings.dsn, counts.readings)
        assert scalar(settings.dsn, "SELECT count(*) FROM readings") == counts.readings  # duplicates stored once
        await at_least(settings.dsn, "SELECT count(*) FROM quarantine", 1)  # the malformed payloads
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            reasons = {str(r[0]) for r in conn.execute("SELECT DISTINCT reason FROM quarantine")}
            # only the malformed payloads' reasons (a SenML record without unit on a herd device lacks its animal too)
            malformed_reasons = {
                "invalid_json",
                "bad_format",
                "missing_unit",
                "missing_animal",
                "bad_time",
                "non_finite",
                "unknown_unit",
            }
            assert reasons <= malformed_reasons
            first = conn.execute(SNAPSHOT).fetchall()
            conn.execute("DELETE FROM readings")
        assert await replay(settings, read_recording(path), speed=None) == expected
        await stored(settings.dsn, counts.readings)
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            assert conn.execute(SNAPSHOT).fetchall() == first
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await task
