"""Counters of the ingest worker and their Prometheus text exposition (``GET /metrics``)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)
_BATCH_BUCKETS = (1, 10, 100, 1000, 5000, 20000)
_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.n += 1

    def render(self, name: str, help_: str) -> list[str]:
        lines = [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
        lines += [f'{name}_bucket{{le="{b:g}"}} {c}' for b, c in zip(self.buckets, self.counts, strict=True)]
        lines += [f'{name}_bucket{{le="+Inf"}} {self.n}', f"{name}_sum {self.total:.6f}", f"{name}_count {self.n}"]
        return lines


@dataclass
class IngestMetrics:
    """Everything the worker counts."""

    messages_received: int = 0
    readings_stored: int = 0
    readings_duplicate: int = 0
    batches_committed: int = 0
    batches_retried: int = 0
    acks_sent: int = 0
    unacked: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    batch_messages: _Histogram = field(default_factory=lambda: _Histogram(_BATCH_BUCKETS))
    commit_seconds: _Histogram = field(default_factory=lambda: _Histogram(_LATENCY_BUCKETS_S))

    def render(self) -> str:
        """Prometheus text format."""
        lines: list[str] = []

        def counter(name: str, help_: str, value: int) -> None:
            lines.extend((f"# HELP {name} {help_}", f"# TYPE {name} counter", f"{name} {value}"))

        counter("vigie_ingest_messages_received_total", "MQTT messages received", self.messages_received)
        counter("vigie_ingest_readings_stored_total", "readings committed to the database", self.readings_stored)
        counter(
            "vigie_ingest_readings_duplicate_total", "readings already stored (redelivered)", self.readings_duplicate
        )
        counter("vigie_ingest_batches_committed_total", "transactions committed", self.batches_committed)
        counter(
            "vigie_ingest_batches_retried_total", "batch writes retried after a database error", self.batches_retried
        )
        counter("vigie_ingest_acks_sent_total", "PUBACKs sent after commit", self.acks_sent)
        lines += [
            "# HELP vigie_ingest_quarantined_total items quarantined, by reason",
            "# TYPE vigie_ingest_quarantined_total counter",
        ]
        lines += [f'vigie_ingest_quarantined_total{{reason="{r}"}} {n}' for r, n in sorted(self.quarantined.items())]
        lines += [
            "# HELP vigie_ingest_unacked messages received and not yet acknowledged",
            "# TYPE vigie_ingest_unacked gauge",
            f"vigie_ingest_unacked {self.unacked}",
        ]
        lines += self.batch_messages.render("vigie_ingest_batch_messages", "messages per committed batch")
        lines += self.commit_seconds.render("vigie_ingest_commit_seconds", "time to write and commit a batch")
        return "\n".join(lines) + "\n"


async def serve_metrics(metrics: IngestMetrics, host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve ``GET /metrics`` until cancelled."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            if request.startswith(b"GET /metrics"):
                body, status = metrics.render().encode(), b"200 OK"
            else:
                body, status = b"not found\n", b"404 Not Found"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    logger.info("metrics on http://%s:%d/metrics", host, port)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()
