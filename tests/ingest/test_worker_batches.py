"""A batch the database refuses is written message by message (no database: the writes are recorded)."""

from __future__ import annotations

import asyncio
import json
import time

import psycopg

from ingest import DeviceInfo, IngestWorker, Limits, RegistryView
from ingest._fastpath import FastPath
from ingest._received import Delivery
from ingest._writer import Batch, WriteResult
from vigie.catalog import load_catalog
from vigie.settings import DEFAULT_CONFIG_DIR, Settings

CATALOG = load_catalog(DEFAULT_CONFIG_DIR)
ROOT = "vigie/v1"
NOW = time.time()
REG = RegistryView({"cgm-1": DeviceInfo("clinic-a", "rex", enabled=True)}, {"rex": "clinic-a"})
POISON = 666.0  # a value the fake database refuses


def message(seq: int, value: float, *, offset: float = -60.0) -> bytes:
    reading = {"time": NOW + offset + seq, "metric": "glucose", "value": value, "unit": "mg/dL"}
    return json.dumps({"seq": seq, "readings": [reading]}).encode()


def test_a_refused_batch_is_written_message_by_message() -> None:
    worker = IngestWorker(Settings(topic_root=ROOT, ingest_metrics_port=0), CATALOG)
    limits = Limits(max_payload_bytes=4096)
    worker._limits, worker._fast = limits, FastPath(CATALOG, limits, ROOT)
    worker._registry.view = REG
    worker._registry.loaded_wall = NOW + 3600
    worker._registry._loaded_at = time.monotonic() + 3600
    topic = f"{ROOT}/devices/cgm-1/telemetry".encode()
    payloads = [message(1, 100), message(2, POISON), b"{bad json", message(3, 120)]
    deliveries = [
        Delivery([topic] * 2, payloads[:2], [1, 2], 0, NOW, 0),
        Delivery([topic] * 2, payloads[2:], [3, 4], 0, NOW, 0),
    ]
    work = asyncio.run(worker._build(deliveries, 4, asyncio.Event()))
    assert work is not None
    assert len(work.batch.rows) == 3
    assert len(work.slow) == 1  # the bad JSON went the careful way

    written: list[Batch] = []

    async def write(batch: Batch, stop: asyncio.Event) -> WriteResult:
        if any(row[4] == POISON for row in batch.rows):
            raise psycopg.errors.CheckViolation("refused")
        written.append(batch)
        return WriteResult(len(batch.rows), 0, len(batch.quarantine), idempotent_path=False)

    async def nothing() -> None:
        return None

    acked: list[list[int]] = []
    worker._write = write  # type: ignore[method-assign]
    worker._close_db = nothing  # type: ignore[method-assign]
    worker._link.ack_deliveries = lambda ds: acked.append([m for d in ds for m in d.ack_ids()]) or 4  # type: ignore[method-assign]
    assert asyncio.run(worker._commit(work, asyncio.Event()))
    assert [len(b.rows) for b in written] == [1, 0, 0, 1]  # one batch per message, in arrival order
    assert [q.rejection.reason for b in written for q in b.quarantine] == ["db_rejected", "invalid_json"]
    db_rejected = written[1].quarantine[0]
    assert (db_rejected.topic, db_rejected.rejection.payload) == (topic.decode(), payloads[1])
    assert [q.rejection.reason for q in work.batch.quarantine] == ["invalid_json", "db_rejected"]
    assert acked == [[1, 2, 3, 4]]  # every message acknowledged once, after its commit
    assert worker.metrics.readings_stored == 2
    assert worker.metrics.quarantined == {"invalid_json": 1, "db_rejected": 1}
