"""The writer's COPY stream is byte for byte what psycopg's own ``Copy.write_row`` sends (no database needed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import _copy_base
from psycopg.adapt import Transformer

from ingest import _writer
from ingest._parse import Row


class _Copy:
    """Records what the writer hands to psycopg; formats like ``AsyncCopy`` does."""

    def __init__(self) -> None:
        self.formatter = _copy_base.BinaryFormatter(Transformer())
        self.sent = bytearray()

    def set_types(self, types: list[str]) -> None:
        tx = self.formatter.transformer
        tx.set_dumper_types([tx.adapters.types[t].oid for t in types], self.formatter.format)

    async def write(self, buffer: bytes | bytearray) -> None:
        self.sent += self.formatter.write(bytes(buffer))

    async def write_row(self, row: Row) -> None:
        self.sent += self.formatter.write_row(row)

    def end(self) -> None:
        self.sent += self.formatter.end()


class _Conn:
    def __init__(self) -> None:
        self.copies: list[_Copy] = []

    @contextlib.asynccontextmanager
    async def cursor(self) -> AsyncIterator[Any]:
        conn = self

        class Cursor:
            @contextlib.asynccontextmanager
            async def copy(self, statement: str) -> AsyncIterator[_Copy]:
                c = _Copy()
                yield c
                c.end()
                conn.copies.append(c)

        yield Cursor()


def rows(n: int) -> list[Row]:
    t0 = datetime(2026, 11, 29, 15, 40, 0, 123456, tzinfo=UTC)
    return [
        (t0 + timedelta(seconds=7 * k), f"dev-{k % 7}", None if k % 5 == 0 else f"a-{k}", "glucose", 90.0 + k, "c", k)
        for k in range(n)
    ]


def reference(batch: list[Row]) -> bytes:
    c = _Copy()
    c.set_types(_writer._TYPES)
    for row in batch:
        asyncio.run(c.write_row(row))
    c.end()
    return bytes(c.sent)


def test_copy_bytes_equal_psycopg_write_row() -> None:
    assert _writer._format_row is not None  # the fast formatting is in use with the installed psycopg
    for n in (1, 3, 5000):  # 5000 rows: several blocks
        conn = _Conn()
        writer = _writer.BatchWriter(conn, rollups=False)  # type: ignore[arg-type]
        batch = rows(n)
        assert asyncio.run(writer._copy(batch, "COPY x FROM STDIN (FORMAT BINARY)")) == n
        (copy,) = conn.copies
        assert bytes(copy.sent) == reference(batch)
        assert copy.sent.startswith(_copy_base._binary_signature)
        assert copy.sent.endswith(_copy_base._binary_trailer)
