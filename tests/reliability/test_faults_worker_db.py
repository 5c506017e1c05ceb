"""Faults of the worker and of the database, with the real worker (`vigie ingest` in a subprocess).

Each test prints its figures: published (acknowledged by the broker), stored, lost (acknowledged but not
stored), duplicated (rows beyond one per device and seq), quarantined, recovery time, worker peak RSS.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.conftest import Broker, PrivatePostgres
from tests.ingest.conftest import WorkerProcess, private_database, wait_until
from tests.reliability.conftest import Figures, TcpProxy, elapsed, items_for, paced, run_partition, sampling, stored
from vigie.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt, pytest.mark.slow]
DEVICES = ["cgm-0", "cgm-1", "cgm-2"]
RSS_LIMIT_MB = 200.0


def fast_retry(proc: WorkerProcess) -> WorkerProcess:
    proc.env.update({"VIGIE_INGEST_DB_TIMEOUT_S": "2", "VIGIE_INGEST_RETRY_MAX_S": "0.5"})
    return proc


async def test_crash_between_commit_and_acknowledgement(settings: Settings, fleet: list[str], worker_log: Path) -> None:
    """F3: the worker dies right after a commit, before its PUBACKs: the batch comes back and is stored once."""
    first = fast_retry(WorkerProcess(settings, worker_log))
    first.env["VIGIE_INGEST_FAULT"] = "exit_after_commit"
    first.start()
    items = items_for(DEVICES, 1000, start=time.time() - 7200)
    publisher = asyncio.create_task(paced(settings, items, per_s=3000))
    assert first.proc is not None
    code = await asyncio.to_thread(first.proc.wait, 30)
    died = time.monotonic()
    second = fast_retry(WorkerProcess(settings, worker_log))  # same client id: resumes the session
    second.start()
    published = await publisher
    await wait_until(lambda: stored(settings.dsn) >= published, within=60)
    fig = Figures("F3 crash after commit, before PUBACK", published, recovery_s=elapsed(died))
    fig.extra["redelivered_readings"] = int(second.metric("vigie_ingest_readings_duplicate_total"))
    fig.extra["exit_code"] = code
    assert second.stop(signal.SIGTERM) == 0
    fig.measure(settings.dsn).report()
    assert code == 137
    assert fig.num("redelivered_readings") >= 1  # the committed batch did come back
    assert (fig.lost, fig.duplicated, fig.stored) == (0, 0, len(items))


async def test_database_restarted_mid_batch(
    private_pg: PrivatePostgres, broker: Broker, topic_root: str, worker_log: Path
) -> None:
    """F5: PostgreSQL restarted (immediate: a crash) while batches are being written."""
    dsn = private_database(private_pg)
    settings = Settings(
        database_url=SecretStr(dsn),
        mqtt_url=SecretStr(broker.url),
        topic_root=topic_root,
        ingest_client_id=f"f5-{time.time_ns()}",
    )
    proc = fast_retry(WorkerProcess(settings, worker_log))
    proc.start()
    assert proc.proc is not None
    items = items_for(DEVICES, 1500, start=time.time() - 7200)
    async with sampling(proc.proc.pid) as rss:
        publisher = asyncio.create_task(paced(settings, items, per_s=2000))
        await wait_until(lambda: stored(dsn) > 500)
        await asyncio.to_thread(private_pg.stop, "immediate")
        await asyncio.to_thread(private_pg.start)
        restarted = time.monotonic()
        published = await publisher
        await wait_until(lambda: stored(dsn) >= published, within=60)
        fig = Figures("F5 database restarted mid-batch", published, recovery_s=elapsed(restarted))
    fig.extra["retries"] = int(proc.metric("vigie_ingest_batches_retried_total"))
    fig.extra["rss_peak_mb"] = rss.peak_mb
    assert proc.stop(signal.SIGTERM) == 0
    fig.measure(dsn).report()
    assert fig.num("retries") >= 1
    assert (fig.lost, fig.duplicated, fig.stored) == (0, 0, len(items))


@pytest.mark.parametrize(
    ("mode", "duration_s"), [("blackhole", 6.0), ("reset", 3.0), ("slow", 6.0)], ids=["blackhole", "reset", "slow"]
)
async def test_worker_database_partition(
    settings: Settings, fleet: list[str], worker_log: Path, mode: str, duration_s: float
) -> None:
    """F10/F11: the worker's database link goes through a proxy that holds every byte (blackhole), resets every
    connection (reset) or adds 0.2 s to every chunk (slow), for a while, mid-stream."""
    host_port = "127.0.0.1:5432/"
    assert host_port in settings.dsn
    async with TcpProxy(5432) as proxy:
        local = settings.model_copy(
            update={
                "database_url": settings.database_url.__class__(
                    settings.dsn.replace(host_port, f"127.0.0.1:{proxy.port}/")
                )
            }
        )
        proc = WorkerProcess(local, worker_log)
        if mode != "slow":
            fast_retry(proc)
        run = await run_partition(proxy, proc, settings, mode, duration_s)
        assert proc.proc is not None
        assert proc.proc.poll() is None, f"the worker died ({proc.proc.returncode}): see its log"
        fig = Figures(
            f"F10/F11 worker-database {mode} {duration_s:g} s", run.published, recovery_s=elapsed(run.healed_at)
        )
        fig.extra["retries"] = int(await asyncio.to_thread(proc.metric, "vigie_ingest_batches_retried_total"))
        fig.extra["stored_during_fault"] = run.stored_during_fault
        fig.extra["rss_peak_mb"] = run.rss_peak_mb
        fig.extra["db_connections"] = proxy.connections
        code = await asyncio.to_thread(proc.stop, signal.SIGTERM)
    fig.measure(settings.dsn).report()
    assert code == 0
    assert (fig.lost, fig.duplicated, fig.stored) == (0, 0, run.sent)
    assert run.rss_peak_mb < RSS_LIMIT_MB
    if mode != "slow":
        assert fig.num("retries") >= 1
