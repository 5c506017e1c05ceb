"""The database goes away mid-stream and comes back: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import Broker, PrivatePostgres
from tests.ingest.conftest import WorkerProcess, cgm_ids, count, glucose_message, private_database, publish, wait_until
from vigie.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt, pytest.mark.slow]


def outage_settings(
    private_pg: PrivatePostgres, broker: Broker, topic_root: str, name: str, **extra: float
) -> Settings:
    """Settings for a worker on a fresh database of the private server (the one these tests stop and start)."""
    return Settings(
        database_url=private_database(private_pg),  # type: ignore[arg-type]
        mqtt_url=broker.url,  # type: ignore[arg-type]
        topic_root=topic_root,
        ingest_client_id=f"{name}-{int(time.time())}",
        **extra,  # type: ignore[arg-type]
    )


async def test_database_stopped_mid_stream_loses_nothing(
    private_pg: PrivatePostgres, broker: Broker, topic_root: str, worker_log: Path
) -> None:
    settings = outage_settings(private_pg, broker, topic_root, "outage", ingest_retry_max_s=0.5)
    dsn, devices = settings.dsn, cgm_ids()
    proc = WorkerProcess(settings, worker_log)
    proc.start()
    now = time.time()
    items = [(f"{d}/telemetry", glucose_message(i, now - 7200 + i, 90 + i % 100)) for i in range(1500) for d in devices]

    async def paced() -> int:  # about 1,500 messages a second, so the outage falls mid-stream
        sent = 0
        for start in range(0, len(items), 150):
            sent += await publish(settings, items[start : start + 150])
            await asyncio.sleep(0.1)
        return sent

    publisher = asyncio.create_task(paced())
    await wait_until(lambda: proc.metric("vigie_ingest_readings_stored_total") > 0)
    outage_started = time.monotonic()
    private_pg.stop("immediate")  # a crash, as far as clients can tell
    await asyncio.sleep(3.0)  # the outage itself
    private_pg.start()
    published = await publisher
    await wait_until(lambda: count(dsn, "SELECT count(*) FROM readings") >= published, within=90)
    recovery_s = time.monotonic() - outage_started
    retried = proc.metric("vigie_ingest_batches_retried_total")
    assert proc.stop(signal.SIGTERM) == 0
    stored = count(dsn, "SELECT count(*) FROM readings")
    distinct = count(dsn, "SELECT count(DISTINCT (device_id, seq)) FROM readings")
    print(
        f"\nDB outage 3 s: published={published} stored={stored} lost={published - distinct} "
        f"dup={stored - distinct} retries={retried:.0f} recovered_in={recovery_s:.1f}s"
    )
    assert retried > 0  # the outage did hit a write
    assert stored == distinct == published == len(items)


async def test_database_down_when_the_registry_refresh_is_due(
    private_pg: PrivatePostgres, broker: Broker, topic_root: str, worker_log: Path
) -> None:
    """The registry read goes through the same retries as the writes: the worker waits, it does not crash."""
    settings = outage_settings(private_pg, broker, topic_root, "outage-reg")
    dsn, devices = settings.dsn, cgm_ids()
    proc = WorkerProcess(settings, worker_log)
    proc.start()
    down = False
    try:
        private_pg.stop("immediate")
        down = True
        await asyncio.sleep(2.5)  # the registry copy (refreshed every 2 s) is now due while the database is down
        now = time.time()
        sent = await publish(
            settings, [(f"{devices[0]}/telemetry", glucose_message(i, now - 60 + i)) for i in range(20)]
        )
        await wait_until(lambda: proc.metric("vigie_ingest_batches_retried_total") > 0)
        assert proc.proc is not None
        assert proc.proc.poll() is None  # still running, waiting for the database
        private_pg.start()
        down = False
        await wait_until(lambda: count(dsn, "SELECT count(*) FROM readings") >= sent, within=60)
    finally:
        if down:
            private_pg.start()
        code = proc.stop(signal.SIGTERM)
    assert code == 0
    assert count(dsn, "SELECT count(DISTINCT seq) FROM readings") == sent
