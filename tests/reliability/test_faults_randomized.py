"""Each fault again and again, at points drawn from a seeded random stream (issue #9: repeated randomized runs).

The single-run tests in test_faults_broker.py and test_faults_worker_db.py hit each fault once at a fixed point;
here every iteration draws its message count, publishing rate, the moment the fault hits (the share of the stream
already stored, or the moment the worker is killed) and the fault's duration. Each iteration prints its figures and
each test ends with the min / median / max of every figure over its iterations. Iterations of one test share the
worker where the fault leaves it running (a worker that lives through 20 partitions in a row) and are told apart
by their sequence numbers (`SEQ_STRIDE`). Seed: VIGIE_FAULT_SEED (printed); counts: the `iterations()` defaults,
scaled by VIGIE_FAULT_ITERATIONS_SCALE.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from tests.conftest import Broker, PrivatePostgres, start_mosquitto
from tests.ingest.conftest import (
    VIGIE,
    WorkerProcess,
    count,
    glucose_message,
    private_database,
    publish,
    wait_until,
)
from tests.reliability.conftest import (
    SEQ_STRIDE,
    Figures,
    Series,
    TcpProxy,
    elapsed,
    in_range,
    iterations,
    paced,
    rng_for,
    sampling,
    seq_items,
    t0_for_iterations,
)
from tests.reliability.test_faults_broker import poison, resilient_publish
from vigie.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt, pytest.mark.slow]
DEVICES = ["cgm-0", "cgm-1", "cgm-2"]
RSS_LIMIT_MB = 200.0


def fast_retry(proc: WorkerProcess) -> WorkerProcess:
    proc.env.update({"VIGIE_INGEST_DB_TIMEOUT_S": "2", "VIGIE_INGEST_RETRY_MAX_S": "0.5"})
    return proc


def start_without_waiting(proc: WorkerProcess) -> subprocess.Popen[bytes]:
    """Start ``vigie ingest`` without waiting for its metrics port: a worker armed to die after its first commit
    may be gone before it listens (it takes a waiting backlog within milliseconds)."""
    with proc.log.open("ab") as out:
        proc.proc = subprocess.Popen([VIGIE, "ingest"], env=proc.env, stdout=out, stderr=out)
    return proc.proc


def quarantined(dsn: str) -> int:
    return count(dsn, "SELECT count(*) FROM quarantine")


def last_quarantine_id(dsn: str) -> int:
    return count(dsn, "SELECT max(id) FROM quarantine")


class Stream:
    """One iteration's messages, published in the background at the drawn rate."""

    def __init__(self, settings: Settings, rng: random.Random, it: int, n_range: tuple[int, int]) -> None:
        self.base = it * SEQ_STRIDE
        self.n = rng.randint(*n_range)
        self.rate = rng.uniform(1000.0, 3000.0)
        self.items = seq_items(DEVICES, self.n, self.base, t0=t0_for_iterations())
        self.settings = settings
        self.task: asyncio.Task[int] | None = None
        self.done_at = 0.0

    def start(self, skip: int = 0) -> None:
        """Publish the messages from ``skip`` on (the first ``skip`` were published already, and acknowledged)."""

        async def run() -> int:
            sent = await paced(self.settings, self.items[skip:], per_s=self.rate)
            self.done_at = time.monotonic()
            return skip + sent

        self.task = asyncio.create_task(run())

    def stored(self) -> int:
        return in_range(self.settings.dsn, self.base)

    async def reach(self, share: float) -> None:
        """Wait until ``share`` of the stream is stored."""
        await wait_until(lambda: self.stored() >= share * len(self.items), within=60)

    async def finish(self, alive: WorkerProcess | None = None) -> tuple[int, float]:
        """Wait for the publisher and until every message is stored; returns (published, when all were stored).
        Stops early if ``alive``'s process dies (the caller asserts that it did not)."""
        assert self.task is not None
        published = await self.task
        proc = alive.proc if alive else None
        await wait_until(lambda: self.stored() >= published or (proc is not None and proc.poll() is not None), 60)
        return published, time.monotonic()

    def figures(self, name: str, published: int, recovery_s: float) -> Figures:
        fig = Figures(name, published, recovery_s=recovery_s)
        fig.stored = in_range(self.settings.dsn, self.base)
        fig.distinct = in_range(self.settings.dsn, self.base, distinct=True)
        fig.extra["n"] = len(self.items)
        fig.extra["rate_msg_s"] = round(self.rate)
        return fig


# --- F1: worker SIGKILL at a random point ---------------------------------------------------------


@pytest.mark.timeout(900)
async def test_worker_sigkill_at_random_points(settings: Settings, fleet: list[str], worker_log: Path) -> None:
    """F1 x 20: the worker is SIGKILLed once a drawn share (5-95 %) of a drawn stream is stored, and restarted
    (same client id: the session and its unacknowledged messages come back). The restarted worker serves the
    next iteration too."""
    rng, series = rng_for("F1"), Series("F1 worker SIGKILL, random kill point")
    proc = WorkerProcess(settings, worker_log)
    await asyncio.to_thread(proc.start)
    for it in range(iterations(20)):
        stream = Stream(settings, rng, it, (200, 700))
        kill_at = rng.uniform(0.05, 0.95)
        stream.start()
        await stream.reach(kill_at)
        assert proc.proc is not None
        proc.proc.kill()
        await asyncio.to_thread(proc.proc.wait, 10)
        killed = time.monotonic()
        proc = WorkerProcess(settings, worker_log)
        await asyncio.to_thread(proc.start)
        published, done = await stream.finish(proc)
        fig = stream.figures(f"F1 #{it}", published, done - max(killed, stream.done_at))
        fig.extra["kill_at_share"] = round(kill_at, 2)
        series.add(fig)
        assert (fig.lost, fig.duplicated, fig.stored) == (0, 0, len(stream.items))
    assert await asyncio.to_thread(proc.stop, signal.SIGTERM) == 0
    series.report()


# --- F3: death between commit and acknowledgement, after a random backlog -------------------------


@pytest.mark.timeout(900)
async def test_crash_between_commit_and_ack_random_backlog(
    settings: Settings, fleet: list[str], worker_log: Path
) -> None:
    """F3 x 10: a drawn backlog (1 to all but one message of a drawn stream) waits in the worker's session; a
    worker armed with `exit_after_commit` takes it, commits its first batch and dies before the PUBACKs; the next
    worker resumes the session while the rest of the stream is published. The committed batch comes back and is
    stored once."""
    rng, series = rng_for("F3"), Series("F3 exit after commit before PUBACK, random backlog")
    first = WorkerProcess(settings, worker_log)  # creates the persistent session, then leaves
    await asyncio.to_thread(first.start)
    assert await asyncio.to_thread(first.stop, signal.SIGTERM) == 0
    for it in range(iterations(10)):
        stream = Stream(settings, rng, it, (200, 700))
        backlog = rng.randint(1, len(stream.items) - 1)
        assert await publish(settings, stream.items[:backlog]) == backlog
        faulty = fast_retry(WorkerProcess(settings, worker_log))
        faulty.env["VIGIE_INGEST_FAULT"] = "exit_after_commit"
        dying = start_without_waiting(faulty)
        stream.start(skip=backlog)
        try:
            code = await asyncio.to_thread(dying.wait, 30)
        finally:
            if dying.poll() is None:
                dying.kill()
                dying.wait(10)
        died = time.monotonic()
        second = fast_retry(WorkerProcess(settings, worker_log))
        await asyncio.to_thread(second.start)
        published, _ = await stream.finish(second)

        def handled(second: WorkerProcess = second) -> float:  # the dying worker acked nothing: all come back
            return second.metric("vigie_ingest_readings_stored_total") + second.metric(
                "vigie_ingest_readings_duplicate_total"
            )

        await wait_until(lambda: handled() >= published, within=60)  # noqa: B023 - awaited here
        done = time.monotonic()
        redelivered = await asyncio.to_thread(second.metric, "vigie_ingest_readings_duplicate_total")
        assert await asyncio.to_thread(second.stop, signal.SIGTERM) == 0
        fig = stream.figures(f"F3 #{it}", published, done - max(died, stream.done_at))
        fig.extra["backlog"] = backlog
        fig.extra["redelivered"] = int(redelivered)
        series.add(fig)
        assert code == 137
        assert fig.num("redelivered") >= 1
        assert (fig.lost, fig.duplicated, fig.stored) == (0, 0, len(stream.items))
    series.report()


# --- F9 / F10 / F11: partitions of random timing ----------------------------------------------------

DURATION_S = {"blackhole": (0.5, 4.0), "reset": (0.2, 2.0), "slow": (0.5, 3.0)}
# Every partition runs 20 times (the worker-broker reset used to cost 10 s per iteration, a reconnect reset during
# the MQTT handshake waiting for the whole CONNECT_TIMEOUT_S; fixed in ingest/_mqtt.py, it now recovers in ~1 s).
PARTITION_ITERATIONS: dict[tuple[str, str], int] = {}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", ["blackhole", "reset", "slow"])
@pytest.mark.parametrize("link", ["broker", "database"])
async def test_partitions_at_random_points(
    settings: Settings, fleet: list[str], worker_log: Path, link: str, mode: str
) -> None:
    """F9 (worker-broker) and F10/F11 (worker-database) x 20: one worker lives through every
    partition, each of a drawn duration (blackhole 0.5-4 s, reset 0.2-2 s, slow 0.5-3 s at 10-80 ms per chunk),
    hitting once a drawn share (10-80 %) of a drawn stream (600-2,400 messages at 1,000-3,000/s) is stored. The
    database link uses a 2 s timeout, so the longer blackholes also go through the timeout path."""
    name = f"{'F9 worker-broker' if link == 'broker' else 'F10/F11 worker-database'} {mode}"
    rng, series = rng_for(f"{link}-{mode}"), Series(f"{name}, random timing")
    target = settings.mqtt.port if link == "broker" else 5432
    async with TcpProxy(target) as proxy:
        if link == "broker":
            local = settings.model_copy(update={"mqtt_url": SecretStr(f"mqtt://127.0.0.1:{proxy.port}")})
        else:
            dsn = settings.dsn.replace("127.0.0.1:5432/", f"127.0.0.1:{proxy.port}/")
            local = settings.model_copy(update={"database_url": SecretStr(dsn)})
        proc = WorkerProcess(local, worker_log)
        if link == "database" and mode != "slow":
            fast_retry(proc)
        await asyncio.to_thread(proc.start)
        assert proc.proc is not None
        async with sampling(proc.proc.pid) as rss:
            for it in range(iterations(PARTITION_ITERATIONS.get((link, mode), 20))):
                stream = Stream(settings, rng, it, (200, 800))
                hit_at, duration = rng.uniform(0.1, 0.8), rng.uniform(*DURATION_S[mode])
                latency = rng.uniform(0.01, 0.08) if mode == "slow" else 0.0
                retries = await asyncio.to_thread(proc.metric, "vigie_ingest_batches_retried_total")
                connections = proxy.connections
                stream.start()
                await stream.reach(hit_at)
                before = stream.stored()
                proxy.set("pass" if mode == "slow" else mode, latency_s=latency)
                await asyncio.sleep(duration)  # the fault's own duration
                during = stream.stored() - before
                proxy.set("pass")
                healed = time.monotonic()
                published, done = await stream.finish(proc)
                assert proc.proc.poll() is None, f"the worker died ({proc.proc.returncode}): see its log"
                fig = stream.figures(f"{name} #{it}", published, done - max(healed, stream.done_at))
                fig.extra |= {"hit_at_share": round(hit_at, 2), "fault_s": round(duration, 2)}
                if mode == "slow":
                    fig.extra["latency_ms"] = round(latency * 1000)
                fig.extra["stored_during_fault"] = during
                fig.extra["retries"] = int(
                    await asyncio.to_thread(proc.metric, "vigie_ingest_batches_retried_total") - retries
                )
                fig.extra["new_connections"] = proxy.connections - connections
                series.add(fig)
                assert (fig.lost, fig.duplicated, fig.stored) == (0, 0, len(stream.items))
                if mode == "reset":  # the fault did hit: the worker had to connect again
                    assert fig.num("new_connections") >= 1
        code = await asyncio.to_thread(proc.stop, signal.SIGTERM)
    series.report(rss_peak_mb=rss.peak_mb)
    assert code == 0
    assert rss.peak_mb < RSS_LIMIT_MB


# --- F13: poison messages, random mixes --------------------------------------------------------------

KINDS = ["invalid_json", "non_finite", "missing_unit", "oversize", "wrong_type", "unknown_device", "bad_format"]


@pytest.mark.timeout(600)
async def test_poison_random_mixes(settings: Settings, fleet: list[str], worker_log: Path) -> None:
    """F13 x 20: a drawn number (0-6) of poison messages of each kind, shuffled into a drawn stream of good ones
    (300-1,500); every good message stored, every poison one quarantined with its reason, the stream never
    blocked."""
    rng, series = rng_for("F13"), Series("F13 poison, random mixes")
    proc = WorkerProcess(settings, worker_log)
    await asyncio.to_thread(proc.start)
    now = time.time()
    for it in range(iterations(20)):
        stream = Stream(settings, rng, it, (100, 500))
        wanted = {k: rng.randint(0, 6) for k in KINDS}
        bad = [poison(k, it * 10 + j, now) for k, n in wanted.items() for j in range(n)]
        mixed = stream.items + bad
        rng.shuffle(mixed)
        q0, q_id = quarantined(settings.dsn), last_quarantine_id(settings.dsn)
        started = time.monotonic()
        await publish(settings, mixed)
        await wait_until(
            lambda: stream.stored() >= len(stream.items) and quarantined(settings.dsn) - q0 >= len(bad)  # noqa: B023
        )
        fig = stream.figures(f"F13 #{it}", len(stream.items), elapsed(started))
        with psycopg.connect(settings.dsn) as conn:
            rows = conn.execute(
                "SELECT reason, count(*) FROM quarantine WHERE id > %s GROUP BY reason", (q_id,)
            ).fetchall()
        fig.quarantined = quarantined(settings.dsn) - q0
        fig.extra["poison"] = len(bad)
        series.add(fig)
        assert (fig.lost, fig.duplicated, fig.stored) == (0, 0, len(stream.items))
        assert fig.quarantined == len(bad)
        assert {str(r): int(n) for r, n in rows} == {k: n for k, n in wanted.items() if n}
    assert await asyncio.to_thread(proc.stop, signal.SIGTERM) == 0
    series.report()


# --- F5: database restarted at random points ---------------------------------------------------------


@pytest.mark.timeout(900)
async def test_database_restarts_at_random_points(
    private_pg: PrivatePostgres, broker: Broker, topic_root: str, worker_log: Path
) -> None:
    """F5 x 10 (a restart costs 1-2 s of pg_ctl, so fewer iterations than the cheap faults): PostgreSQL is stopped
    (`immediate`, a crash, or `fast`, drawn) and started again once a drawn share of a drawn stream is stored;
    one worker lives through every restart."""
    dsn = private_database(private_pg)
    settings = Settings(
        database_url=SecretStr(dsn),
        mqtt_url=SecretStr(broker.url),
        topic_root=topic_root,
        ingest_client_id=f"f5r-{time.time_ns()}",
    )
    rng, series = rng_for("F5"), Series("F5 database restarted, random points")
    proc = fast_retry(WorkerProcess(settings, worker_log))
    await asyncio.to_thread(proc.start)
    assert proc.proc is not None
    async with sampling(proc.proc.pid) as rss:
        for it in range(iterations(10)):
            stream = Stream(settings, rng, it, (300, 800))
            hit_at, mode = rng.uniform(0.1, 0.8), rng.choice(["immediate", "fast"])
            retries = await asyncio.to_thread(proc.metric, "vigie_ingest_batches_retried_total")
            stream.start()
            await stream.reach(hit_at)
            await asyncio.to_thread(private_pg.stop, mode)
            await asyncio.to_thread(private_pg.start)
            restarted = time.monotonic()
            published, done = await stream.finish(proc)
            assert proc.proc.poll() is None, f"the worker died ({proc.proc.returncode}): see its log"
            fig = stream.figures(f"F5 #{it} ({mode})", published, done - max(restarted, stream.done_at))
            fig.extra["hit_at_share"] = round(hit_at, 2)
            fig.extra["retries"] = int(
                await asyncio.to_thread(proc.metric, "vigie_ingest_batches_retried_total") - retries
            )
            series.add(fig)
            assert (fig.lost, fig.duplicated, fig.stored) == (0, 0, len(stream.items))
    assert await asyncio.to_thread(proc.stop, signal.SIGTERM) == 0
    series.report(rss_peak_mb=rss.peak_mb)
    assert rss.peak_mb < RSS_LIMIT_MB


# --- F8: broker SIGKILL at random points --------------------------------------------------------------


@pytest.mark.timeout(900)
async def test_broker_sigkill_at_random_points(
    settings: Settings, fleet: list[str], worker_log: Path, tmp_path: Path
) -> None:
    """F8 x 8 (each costs the worker's reconnect backoff, several seconds): the broker (persistence, autosave
    every second) is SIGKILLed once a drawn share of a drawn stream is stored and restarted from its file; the
    loss is measured against its bound, rate x autosave_interval."""
    persist = f"persistence true\npersistence_location {tmp_path}/\nautosave_interval 1\n"
    b = start_mosquitto(tmp_path, extra=persist)
    local = settings.model_copy(update={"mqtt_url": SecretStr(b.url)})
    rng, series = rng_for("F8"), Series("F8 broker SIGKILL, random points")
    proc = WorkerProcess(local, worker_log)
    await asyncio.to_thread(proc.start)
    # A session younger than the last snapshot is not in the file: a SIGKILL then loses the worker's subscription,
    # and everything published until it reconnects finds no subscriber (seen in the first draft of this test).
    # A long-running worker is always in the snapshot; wait for one that was written after it subscribed.
    subscribed, snapshot = time.time(), tmp_path / "mosquitto.db"
    await wait_until(lambda: snapshot.exists() and snapshot.stat().st_mtime > subscribed, within=10)
    try:
        for it in range(iterations(8)):
            stream = Stream(local, rng, it, (300, 800))
            hit_at = rng.uniform(0.1, 0.8)
            publisher = asyncio.create_task(resilient_publish(b, settings.topic_root, stream.items, per_s=stream.rate))
            await stream.reach(hit_at)
            b.process.kill()
            await asyncio.to_thread(b.process.wait, 10)
            killed = time.monotonic()
            b = start_mosquitto(tmp_path, port=b.port, extra=persist)
            acked, reconnects = await publisher
            # the barrier: a sentinel queued behind everything that survived (one FIFO per session at the broker)
            sentinel = stream.base + SEQ_STRIDE - 1
            await publish(local, [("cgm-0/telemetry", glucose_message(sentinel, t0_for_iterations() + sentinel))])
            await wait_until(lambda: count(local.dsn, "SELECT count(*) FROM readings WHERE seq = %s", (sentinel,)) == 1)  # noqa: B023
            settled = time.monotonic()
            with psycopg.connect(local.dsn, autocommit=True) as conn:
                conn.execute("DELETE FROM readings WHERE seq = %s", (sentinel,))
            fig = stream.figures(f"F8 #{it}", acked, settled - killed)
            fig.extra |= {"hit_at_share": round(hit_at, 2), "device_reconnects": reconnects}
            fig.extra["bound"] = round(stream.rate)
            series.add(fig)
            assert fig.duplicated == 0
            assert 0 <= fig.lost <= stream.rate * 1  # the documented bound: rate x autosave_interval
    finally:
        code = await asyncio.to_thread(proc.stop, signal.SIGTERM)
        b.process.terminate()
        b.process.wait(timeout=10)
    series.report()
    assert code == 0
