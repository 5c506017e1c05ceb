"""The ingest worker: MQTT messages in, committed readings out, acknowledgements after commit.

One asyncio TaskGroup per process:

- ``ingest.batcher``: takes the messages received so far when the batch is full or has lingered, parses them and
  hands the batch to the writer (one batch waits at most, so parsing the next batch overlaps writing this one).
- ``ingest.writer``: one transaction per batch, then the batch's acknowledgements in arrival order. One
  transaction at a time, so acknowledgements stay ordered.
- ``ingest.mqtt-keepalive``: paho's housekeeping (pings).
- ``ingest.broker-watch``: reconnects after a lost connection (the persistent session brings back every message
  that was not acknowledged).
- ``ingest.metrics``: ``GET /metrics`` in Prometheus text format.

Backpressure: the broker hands out at most Receive Maximum unacknowledged messages, so memory is bounded at
any input rate; the rest waits in the broker's queue for this session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar

import psycopg

from ingest._fastpath import FastPath, Route
from ingest._metrics import IngestMetrics, serve_metrics
from ingest._mqtt import MqttLink
from ingest._parse import Limits, Parsed, RegistryView, Rejection, parse_message
from ingest._received import Delivery
from ingest._registry import RegistryCache
from ingest._topics import TELEMETRY, subscriptions
from ingest._writer import Batch, BatchWriter, QuarantineItem, WriteResult
from ingest.errors import StoreError
from vigie.catalog import MetricCatalog
from vigie.settings import Settings

logger = logging.getLogger(__name__)
T = TypeVar("T")
DRAIN_TIMEOUT_S = 20.0  # on SIGTERM, how long the last batch may keep retrying a failing database
LAST_SEEN_RESOLUTION_S = 5.0  # a device's last-seen time is written at most this often


@dataclass(slots=True)
class _Slow:
    """A message the fast path handed back: status, foreign topic, or telemetry for the careful parser."""

    route: Route
    payload: bytes
    received_at: float
    parsed: Parsed | None  # None for status or foreign topics


@dataclass(slots=True)
class _Work:
    """The messages of one batch (as received), the batch to write, and what is needed to split it."""

    deliveries: list[Delivery]
    count: int  # messages
    batch: Batch
    view: RegistryView  # the registry snapshot of the fast path
    slow: dict[tuple[int, int], _Slow]  # (delivery, index) → the careful path's outcome


class IngestWorker:
    """Owns its database connection and MQTT session for the duration of :meth:`run`."""

    def __init__(self, settings: Settings, catalog: MetricCatalog, metrics: IngestMetrics | None = None) -> None:
        self._settings = settings
        self._catalog = catalog
        self.metrics = metrics or IngestMetrics()
        self._limits = Limits(
            settings.ingest_max_payload_bytes,
            settings.ingest_future_tolerance_s,
            settings.ingest_past_horizon_days * 86400.0,
        )
        self._registry = RegistryCache()
        self._pending: list[Delivery] = []
        self._pending_count = 0
        self._fast = FastPath(catalog, self._limits, settings.topic_root)
        self._wake = asyncio.Event()
        self._max_msgs = max(1, min(settings.ingest_batch_max_rows, int(settings.ingest_receive_maximum * 0.7)))
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None  # the writer's
        # the registry is read by the batcher while the writer's transaction may be open: its own connection
        self._registry_conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._batches: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=1)
        self._gave_up = False
        self._writer: BatchWriter | None = None
        self._rollups = False
        self._seen_written: dict[str, float] = {}
        self._root = settings.topic_root
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        # test-only fault injection (tests/reliability): `exit_after_commit` dies between commit and PUBACK
        self._fault = os.environ.get("VIGIE_INGEST_FAULT", "")
        mqtt = settings.mqtt
        self._link = MqttLink(
            host=mqtt.host,
            port=mqtt.port,
            client_id=settings.ingest_client_id,
            username=mqtt.username,
            password=mqtt.password,
            topics=subscriptions(settings.topic_root, settings.ingest_shared_group),
            on_delivery=self._on_delivery,
            session_expiry_s=settings.ingest_session_expiry_s,
            receive_maximum=settings.ingest_receive_maximum,
        )

    # --- receive ----------------------------------------------------------------------------------

    def _on_delivery(self, delivery: Delivery) -> None:
        self._pending.append(delivery)
        n = len(delivery)
        self._pending_count += n
        self.metrics.messages_received += n
        if self._pending_count >= self._max_msgs:
            self._wake.set()

    # --- database ---------------------------------------------------------------------------------

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        try:
            return await psycopg.AsyncConnection.connect(
                self._settings.dsn,
                connect_timeout=5,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
                tcp_user_timeout=10000,
                options="-c statement_timeout=30000",
            )
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot connect to the database: {first}") from exc

    async def _open_db(self) -> BatchWriter:
        """The writer's connection (opened on first use and after a failure)."""
        if self._writer is None:
            conn = await self._connect()
            self._conn = conn
            self._rollups = await BatchWriter.has_rollup_table(conn)
            self._writer = BatchWriter(conn, rollups=self._rollups)
        return self._writer

    async def _close_db(self) -> None:
        conn, self._conn, self._writer = self._conn, None, None
        if conn is not None:
            with suppress(Exception):
                await conn.close()

    async def _close_registry_db(self) -> None:
        conn, self._registry_conn = self._registry_conn, None
        if conn is not None:
            with suppress(Exception):
                await conn.close()

    # --- batching ---------------------------------------------------------------------------------

    async def _refresh_registry(self, stop: asyncio.Event, *, force: bool) -> bool:
        """Read the registry again when due (or forced); False if shutdown gave up on a failing database."""
        if not (force or self._registry.stale()):
            return True

        async def load() -> bool:
            if self._registry_conn is None:
                self._registry_conn = await self._connect()
            await self._registry.load(self._registry_conn)
            return True

        return await self._retrying(load, stop, "registry read", self._close_registry_db) is not None

    def _parse(self, route: Route, payload: bytes, received_at: float, view: RegistryView) -> Parsed | None:
        """The careful path: None for a status or foreign topic."""
        if route.device_id is None:
            logger.warning("ignoring a message on %s", route.topic[:200])
            return None
        if route.kind != TELEMETRY:
            return None
        return parse_message(
            route.device_id,
            payload,
            now=received_at,
            registry=view,
            catalog=self._catalog,
            limits=self._limits,
        )

    async def _build(self, deliveries: list[Delivery], count: int, stop: asyncio.Event) -> _Work | None:
        if not await self._refresh_registry(stop, force=False):
            return None
        view = self._registry.view
        batch = Batch()
        seen: dict[str, float] = {}
        slow: dict[tuple[int, int], _Slow] = {}
        fast = self._fast
        for k, d in enumerate(deliveries):
            for i in fast.take(d.topics, d.payloads, d.received_at, view, batch.rows, seen, batch.hours):
                route, payload = fast.route(d.topics[i]), d.payloads[i]
                slow[k, i] = _Slow(route, payload, d.received_at, self._parse(route, payload, d.received_at, view))
        # an unknown device or animal may have been registered after the registry was read: read it again once
        retry = [
            s
            for s in slow.values()
            if s.parsed is not None and s.parsed.retry_on_refresh and self._registry.predates(s.received_at)
        ]
        if retry:
            if not await self._refresh_registry(stop, force=True):
                return None
            for s in retry:
                s.parsed = self._parse(s.route, s.payload, s.received_at, self._registry.view)
        for s in slow.values():
            self._assemble(s, batch, seen)
        batch.seen = self._seen_due(seen)
        return _Work(deliveries, count, batch, view, slow)

    def _seen_due(self, seen: dict[str, float]) -> dict[str, float]:
        """The devices whose last-seen time is due for writing (at most every LAST_SEEN_RESOLUTION_S)."""
        written = self._seen_written
        return {d: at for d, at in seen.items() if at - written.get(d, 0.0) >= LAST_SEEN_RESOLUTION_S}

    def _assemble(self, s: _Slow, batch: Batch, seen: dict[str, float]) -> None:
        """Add a message of the careful path to ``batch``."""
        p, route = s.parsed, s.route
        if p is None:
            self._status(s, batch)
            return
        if p.rows:
            batch.rows.extend(p.rows)
            batch.hours.update([row[0].timestamp() // 3600 for row in p.rows])
        for rej in p.rejections:
            batch.quarantine.append(QuarantineItem(s.received_at, route.topic, route.device_id, p.clinic_id, rej))
        device_id = route.device_id
        if device_id is not None and device_id in self._registry.view.devices:
            seen[device_id] = max(s.received_at, seen.get(device_id, s.received_at))

    def _status(self, s: _Slow, batch: Batch) -> None:
        device_id = s.route.device_id
        if device_id is None:
            return
        state = s.payload.strip().lower()
        if state in (b"online", b"offline"):
            batch.availability.append((device_id, state.decode(), s.received_at))
        else:
            logger.warning("ignoring status %r of device %s", s.payload[:40], device_id)

    # --- commit -----------------------------------------------------------------------------------

    async def _write(self, batch: Batch, stop: asyncio.Event) -> WriteResult | None:
        """Write ``batch``, retrying database outages; None if shutdown gave up."""

        async def write() -> WriteResult:
            writer = await self._open_db()
            return await writer.write(batch)

        return await self._retrying(write, stop, "database write", self._close_db)

    async def _retrying(
        self,
        operation: Callable[[], Awaitable[T]],
        stop: asyncio.Event,
        what: str,
        reset: Callable[[], Awaitable[None]],
    ) -> T | None:
        """Run ``operation`` until it succeeds, retrying database outages with capped, jittered backoff.

        Returns None only at shutdown, once the database has failed for DRAIN_TIMEOUT_S: the batch then stays
        unacknowledged on the broker. Errors other than outages (a batch the database refuses) propagate.
        """
        attempt, first_failure = 0, 0.0
        while True:
            try:
                async with asyncio.timeout(self._settings.ingest_db_timeout_s):
                    return await operation()
            except (psycopg.OperationalError, StoreError, TimeoutError, OSError) as exc:
                attempt += 1
                first_failure = first_failure or time.monotonic()
                self.metrics.batches_retried += 1
                await reset()
                if stop.is_set() and time.monotonic() - first_failure > DRAIN_TIMEOUT_S:
                    logger.exception("giving up at shutdown (what was received stays unacknowledged on the broker)")
                    return None
                delay = min(self._settings.ingest_retry_max_s, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)  # noqa: S311
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                logger.warning("%s failed (%s); retry %d in %.2f s", what, reason, attempt, delay)
                await asyncio.sleep(delay)

    async def _commit(self, work: _Work, stop: asyncio.Event) -> bool:
        started = time.monotonic()
        try:
            result = await self._write(work.batch, stop)
        except psycopg.Error as exc:  # the batch itself was refused: find the message at fault
            logger.warning("a batch was refused (%s): writing its messages one by one", type(exc).__name__)
            await self._close_db()
            result = await self._write_one_by_one(work, stop)
        if result is None:
            return False
        self.metrics.commit_seconds.observe(time.monotonic() - started)
        self.metrics.batches_committed += 1
        self.metrics.batch_messages.observe(work.count)
        self.metrics.readings_stored += result.stored
        self.metrics.readings_duplicate += result.duplicates
        for q in work.batch.quarantine:
            self.metrics.quarantined[q.rejection.reason] += 1
        for device_id, at in work.batch.seen.items():
            self._seen_written[device_id] = at
        if self._fault == "exit_after_commit":
            os._exit(137)
        self.metrics.acks_sent += self._link.ack_deliveries(work.deliveries)
        return True

    async def _write_one_by_one(self, work: _Work, stop: asyncio.Event) -> WriteResult | None:
        stored = duplicates = quarantined = 0
        for k, d in enumerate(work.deliveries):
            for i in range(len(d)):
                result = await self._write_one(work, k, i, stop)
                if result is None:
                    return None
                stored, duplicates, quarantined = (
                    stored + result.stored,
                    duplicates + result.duplicates,
                    quarantined + result.quarantined,
                )
        return WriteResult(stored, duplicates, quarantined, idempotent_path=True)

    async def _write_one(self, work: _Work, k: int, i: int, stop: asyncio.Event) -> WriteResult | None:
        """Write message ``i`` of delivery ``k`` alone; if the database refuses it, quarantine it as db_rejected."""
        d = work.deliveries[k]
        s = work.slow.get((k, i))
        if s is None:  # a message of the fast path: the careful path gives the same rows (tests/ingest)
            route = self._fast.route(d.topics[i])
            s = _Slow(route, d.payloads[i], d.received_at, self._parse(route, d.payloads[i], d.received_at, work.view))
        single = Batch()
        seen: dict[str, float] = {}
        self._assemble(s, single, seen)
        single.seen = self._seen_due(seen)
        try:
            return await self._write(single, stop)
        except psycopg.Error as exc:
            await self._close_db()
            detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            single = Batch(
                quarantine=[
                    QuarantineItem(
                        s.received_at,
                        s.route.topic,
                        None,
                        None,
                        Rejection("db_rejected", detail, s.payload[:65536]),
                    )
                ]
            )
            work.batch.quarantine.append(single.quarantine[0])
            return await self._write(single, stop)

    # --- loops ------------------------------------------------------------------------------------

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        """Take the received messages when the batch is full or has lingered, parse them, hand them to the writer.

        Parsing batch k+1 overlaps the writing of batch k; the queue between them holds one batch.
        """
        try:
            await self._batch_loop(stop)
        finally:
            await self._batches.put(None)

    async def _batch_loop(self, stop: asyncio.Event) -> None:
        interval = self._settings.ingest_flush_interval_s
        linger = self._settings.ingest_linger_s
        while True:
            pending = self._pending
            if not pending:
                if stop.is_set():
                    return
                await self._wait(stop, interval)
                continue
            # group commit: the database is free, so flush once the first message has lingered a moment
            # (batches grow by themselves while a commit is in flight, up to max_msgs)
            age = time.time() - pending[0].received_at
            wait = min(linger, interval) - age
            if self._pending_count < self._max_msgs and wait > 0 and not stop.is_set():
                await self._wait(stop, wait)
                continue
            count, self._pending, self._pending_count = self._pending_count, [], 0
            work = await self._build(pending, count, stop)
            if work is None or self._gave_up:
                return
            await self._batches.put(work)  # waits while the writer still has a batch queued: backpressure

    async def _write_loop(self) -> None:
        """Commit the batches in order and acknowledge them; after a shutdown give-up, only drain the queue."""
        while (work := await self._batches.get()) is not None:
            self.metrics.unacked = self._pending_count + work.count
            if not self._gave_up and not await self._commit(work, self._stop):
                self._gave_up = True

    async def _wait(self, stop: asyncio.Event, within: float) -> None:
        self._wake.clear()
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=max(within, 0.001), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _watch_broker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._link.wait_lost()
            if stop.is_set():
                return
            # not acknowledged: the broker sends them again on the resumed session
            dropped, self._pending, self._pending_count = self._pending_count, [], 0
            logger.warning("broker connection lost; %d unacknowledged messages will be redelivered", dropped)
            await self._link.reconnect_forever(stop)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then drain: commit and acknowledge what was received, disconnect."""
        try:
            await self._open_db()
            self._registry_conn = await self._connect()
            await self._registry.load(self._registry_conn)
            await self._link.connect()
            logger.info(
                "ingest worker ready: %s", ", ".join(subscriptions(self._root, self._settings.ingest_shared_group))
            )
            async with asyncio.TaskGroup() as tg:
                background = [
                    tg.create_task(self._link.keepalive(), name="ingest.mqtt-keepalive"),
                    tg.create_task(self._watch_broker(stop), name="ingest.broker-watch"),
                ]
                if self._settings.ingest_metrics_port:
                    background.append(
                        tg.create_task(
                            serve_metrics(self.metrics, "127.0.0.1", self._settings.ingest_metrics_port),
                            name="ingest.metrics",
                        )
                    )
                self._stop = stop
                flusher = tg.create_task(self._flush_loop(stop), name="ingest.batcher")
                writer = tg.create_task(self._write_loop(), name="ingest.writer")
                self.ready.set()
                await stop.wait()
                self._link.pause_reading()
                self._wake.set()
                await flusher
                await writer
                for task in background:
                    task.cancel()
        finally:
            await self._link.close()
            await self._close_db()
            await self._close_registry_db()
        logger.info(
            "ingest worker stopped: %d messages received, %d readings stored",
            self.metrics.messages_received,
            self.metrics.readings_stored,
        )
