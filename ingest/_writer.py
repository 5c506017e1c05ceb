"""One transaction per batch: readings by binary COPY, quarantine, device last-seen and availability.

Fast path: COPY straight into ``readings``. If the unique natural key refuses a row (a redelivered or re-sent
reading), the transaction is rolled back and the batch goes through the idempotent path: COPY into a temporary
staging table, then ``INSERT ... ON CONFLICT DO NOTHING``. Either way a reading is stored once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg import errors as pg_errors

try:  # psycopg's C row formatter, the one ``Copy.write_row`` calls, without that method's per-row Python wrapper
    from psycopg._copy_base import format_row_binary as _format_row
except ImportError:  # pragma: no cover - another psycopg layout: the public per-row path below
    _format_row = None

from ingest._parse import Rejection, Row

logger = logging.getLogger(__name__)

_COLUMNS = "time, device_id, animal_id, metric, value, clinic_id, seq"
_TYPES = ["timestamptz", "text", "text", "text", "float8", "text", "int8"]
_COPY_READINGS = f"COPY readings ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_COPY_STAGE = f"COPY ingest_stage ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_STAGE_DDL = "CREATE TEMP TABLE IF NOT EXISTS ingest_stage (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_STAGE_INSERT = (
    "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id, seq)"
    " SELECT DISTINCT ON (animal_id, metric, time, device_id) time, device_id, animal_id, metric, value, clinic_id, seq"
    " FROM ingest_stage ON CONFLICT DO NOTHING"
)
_QUARANTINE = (
    "INSERT INTO quarantine (received_at, topic, device_id, clinic_id, reason, detail, payload, payload_size, payload_hash)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (payload_hash, reason) DO NOTHING"
)
_LAST_SEEN = (
    "UPDATE devices d SET last_seen = v.seen FROM unnest(%s::text[], %s::timestamptz[]) AS v(id, seen)"
    " WHERE d.id = v.id AND (d.last_seen IS NULL OR d.last_seen < v.seen)"
)
_AVAILABILITY = (
    "UPDATE devices SET availability = %s, availability_at = %s WHERE id = %s"
    " AND (availability_at IS NULL OR availability_at <= %s)"
)
_DIRTY = "INSERT INTO rollup_dirty (hour) SELECT unnest(%s::timestamptz[]) ON CONFLICT DO NOTHING"
# binary COPY framing (PostgreSQL's COPY file format): signature, flags, header extension length; trailer
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_COPY_TRAILER = b"\xff\xff"
_COPY_BLOCK = 128 * 1024  # bytes handed to psycopg at a time


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    """A rejection with where and when it came from."""

    received_at: float
    topic: str
    device_id: str | None
    clinic_id: str | None
    rejection: Rejection


@dataclass(slots=True)
class Batch:
    """Everything one transaction writes."""

    rows: list[Row] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)  # device → latest receive time
    # hours the rows fall in (epoch seconds // 3600), for the rollups; filled with the rows by the batcher, which
    # has each row's epoch time at hand (computed here when empty)
    hours: set[float] = field(default_factory=set)
    availability: list[tuple[str, str, float]] = field(default_factory=list)  # device, online|offline, time


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a committed batch stored."""

    stored: int
    duplicates: int
    quarantined: int
    idempotent_path: bool


class BatchWriter:
    """Writes batches on one connection it does not own (the worker opens and closes it)."""

    def __init__(self, conn: psycopg.AsyncConnection[tuple[object, ...]], *, rollups: bool) -> None:
        self._conn = conn
        self._rollups = rollups
        self._stage_ready = False

    @staticmethod
    async def has_rollup_table(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
        """True when the schema keeps rollups itself (Apache edition): ingest then marks dirty hours."""
        cur = await conn.execute("SELECT to_regclass('rollup_dirty') IS NOT NULL")
        row = await cur.fetchone()
        await conn.commit()
        return bool(row and row[0])

    async def write(self, batch: Batch) -> WriteResult:
        """Commit ``batch`` in one transaction; raises psycopg errors for the caller to retry."""
        try:
            async with self._conn.transaction():
                stored = await self._copy(batch.rows, _COPY_READINGS)
                quarantined = await self._write_rest(batch)
            return WriteResult(stored, 0, quarantined, idempotent_path=False)
        except pg_errors.UniqueViolation:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("batch of %d rows hit the natural key: idempotent path", len(batch.rows))
        async with self._conn.transaction():
            if not self._stage_ready:
                await self._conn.execute(_STAGE_DDL)
                self._stage_ready = True
            await self._copy(batch.rows, _COPY_STAGE)
            cur = await self._conn.execute(_STAGE_INSERT)
            stored = max(cur.rowcount, 0)
            quarantined = await self._write_rest(batch)
        return WriteResult(stored, len(batch.rows) - stored, quarantined, idempotent_path=True)

    async def _copy(self, rows: list[Row], statement: str) -> int:
        if not rows:
            return 0
        async with self._conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(_TYPES)
            if _format_row is None:
                for row in rows:
                    await copy.write_row(row)
                return len(rows)
            # the same bytes as write_row, formatted by the same C code with the types set above, sent in blocks
            # (``write`` passes them through as they are): no coroutine nor Python wrapper per row
            tx = copy.formatter.transformer
            block = bytearray(_COPY_HEADER)
            for row in rows:
                _format_row(row, tx, block)
                if len(block) >= _COPY_BLOCK:
                    await copy.write(block)
                    block = bytearray()
            block += _COPY_TRAILER
            await copy.write(block)
        return len(rows)

    async def _write_rest(self, batch: Batch) -> int:
        conn = self._conn
        quarantined = 0
        if batch.quarantine:
            params = []
            for q in batch.quarantine:
                rej = q.rejection
                digest = hashlib.sha256(q.topic.encode() + b"\0" + rej.payload).digest()
                params.append(
                    (
                        datetime.fromtimestamp(q.received_at, UTC),
                        q.topic,
                        q.device_id,
                        q.clinic_id,
                        rej.reason,
                        rej.detail,
                        rej.payload,
                        len(rej.payload),
                        digest,
                    )
                )
            async with conn.cursor() as cur:
                await cur.executemany(_QUARANTINE, params, returning=False)
                quarantined = len(params)
        if batch.seen:
            ids = list(batch.seen)
            await conn.execute(_LAST_SEEN, (ids, [datetime.fromtimestamp(batch.seen[i], UTC) for i in ids]))
        for device_id, state, at in batch.availability:
            when = datetime.fromtimestamp(at, UTC)
            await conn.execute(_AVAILABILITY, (state, when, device_id, when))
        if self._rollups and batch.rows:
            hours = batch.hours or {row[0].timestamp() // 3600 for row in batch.rows}
            await conn.execute(_DIRTY, ([datetime.fromtimestamp(int(h) * 3600, UTC) for h in sorted(hours)],))
        return quarantined
