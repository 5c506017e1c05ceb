"""``vigie bench delivery``: throughput and latency of ``vigie deliver`` on local services.

For each worker count it builds a throwaway database next to the configured one (dropped at the end), a clinic
whose owner has an email address (and a webhook with ``--webhook``), and ``--messages`` pending drafts; it starts an
in-process SMTP server (aiosmtpd, counting only) and HTTP receiver, and ``K`` ``vigie deliver`` processes. Then:

- **backlog**: every draft approved in one transaction (``rules._vet.approve``); messages/s from the commit to
  the last ``sent_at``;
- **latency**: ``--singles`` drafts approved one at a time, each in its own transaction, 50 ms apart; the time from
  the approval (``outbox.queued_at``) to ``sent_at``, p50 / p95 / max (database clock, both ends).

Duplicates are counted by Message-ID and Idempotency-Key: any is a bug.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from rules._vet import approve
from vigie.db import migrate
from vigie.errors import VigieError
from vigie.net import free_port
from vigie.settings import Settings

VIGIE = str(Path(sys.executable).parent / "vigie")
SECRET = "bench-secret"  # noqa: S105 - the throwaway bench's HMAC key


@dataclass
class BenchResult:
    """One worker count's figures."""

    workers: int
    messages: int
    webhook: bool
    backlog_s: float
    per_second: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    singles: int
    duplicates: int


class _Counter:
    """aiosmtpd handler and HTTP receiver state: Message-IDs and Idempotency-Keys seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mail: Counter[str] = Counter()
        self.hooks: Counter[str] = Counter()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd hook
        del server, session
        mid = str(message_from_bytes(envelope.original_content or b"").get("Message-ID", ""))
        with self.lock:
            self.mail[mid] += 1
        return "250 OK"

    def duplicates(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.mail.values()) + sum(n - 1 for n in self.hooks.values())


@contextmanager
def _receivers(counter: _Counter) -> Iterator[tuple[int, int]]:
    smtp_port, http_port = free_port(), free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=smtp_port)
    controller.start()

    class Hook(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with counter.lock:
                counter.hooks[self.headers.get("Idempotency-Key", "")] += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            del format, args

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the default 5 resets connections when a batch arrives at once

    http = Server(("127.0.0.1", http_port), Hook)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield smtp_port, http_port
    finally:
        http.shutdown()
        http.server_close()
        controller.stop()


@contextmanager
def _database(settings: Settings) -> Iterator[str]:
    base, _, _ = settings.dsn.rpartition("/")
    name = f"vigie_bench_dlv_{uuid.uuid4().hex[:8]}"
    admin = f"{base}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"{base}/{name}", autocommit=True) as conn:
            migrate(conn)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seed(dsn: str, n: int, webhook: str | None) -> list[int]:
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO clinics (id, name, language) VALUES ('bench', 'Clinique du Banc', 'fr')")
        conn.execute(
            "INSERT INTO owners (id, clinic_id, name, email, webhook_url) VALUES ('o', 'bench', 'Owner', 'o@example.org', %s)",
            (webhook,),
        )
        conn.execute(
            "INSERT INTO animals (id, clinic_id, owner_id, name, species) VALUES ('rex', 'bench', 'o', 'Rex', 'dog')"
        )
        rows = conn.execute(
            "INSERT INTO drafts (clinic_id, animal_id, language, body)"
            " SELECT 'bench', 'rex', 'fr', 'Conseil n° ' || g FROM generate_series(1, %s) g RETURNING id",
            (n,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def _wait(dsn: str, total: int, timeout: float) -> float:
    """Wait until ``total`` outbox rows are sent; the database's ``max(sent_at)`` as epoch seconds."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'failed'),"
                " extract(epoch FROM max(sent_at))::float8 FROM outbox"
            ).fetchone()
            assert row is not None  # noqa: S101 - an aggregate always returns a row
            if row[1]:
                raise VigieError(f"{row[1]} message(s) failed during the bench")
            if row[0] >= total:
                return float(row[2])
            if time.monotonic() > deadline:
                raise VigieError(f"only {row[0]} of {total} messages sent after {timeout:.0f} s")
            time.sleep(0.01)


def _one_run(settings: Settings, *, workers: int, messages: int, singles: int, webhook: bool) -> BenchResult:
    counter = _Counter()
    with _receivers(counter) as (smtp_port, http_port), _database(settings) as dsn:
        drafts = _seed(dsn, messages + singles, f"http://127.0.0.1:{http_port}/hook" if webhook else None)
        env = {
            **os.environ,
            "VIGIE_DATABASE_URL": dsn,
            "VIGIE_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "VIGIE_DELIVERY_WEBHOOK_SECRET": SECRET,
            "VIGIE_WEBHOOK_ALLOW_PRIVATE": "true",  # the bench's receiver is on 127.0.0.1
            "VIGIE_LOG_LEVEL": "WARNING",
        }
        procs = [subprocess.Popen([VIGIE, "deliver"], env=env) for _ in range(workers)]
        try:
            _wait_listening(dsn, workers)
            with psycopg.connect(dsn) as conn:
                for d in drafts[:messages]:
                    approve(conn, d, "Dr Banc")
                committed = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
            assert committed is not None  # noqa: S101
            last = _wait(dsn, messages, timeout=600)
            backlog_s = last - float(committed[0])
            for d in drafts[messages:]:
                with psycopg.connect(dsn) as conn:
                    approve(conn, d, "Dr Banc")
                time.sleep(0.05)  # spaced approvals, as a vet makes them
            _wait(dsn, messages + singles, timeout=120)
            with psycopg.connect(dsn, autocommit=True) as conn:
                lat = [
                    float(r[0])
                    for r in conn.execute(
                        "SELECT extract(epoch FROM sent_at - queued_at) * 1000 FROM outbox WHERE draft_id = ANY(%s)",
                        (drafts[messages:],),
                    ).fetchall()
                ]
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    lat.sort()
    return BenchResult(
        workers=workers,
        messages=messages,
        webhook=webhook,
        backlog_s=round(backlog_s, 3),
        per_second=round(messages / backlog_s, 1) if backlog_s > 0 else 0.0,
        latency_p50_ms=round(statistics.median(lat), 1),
        latency_p95_ms=round(lat[max(0, int(len(lat) * 0.95) - 1)], 1),
        latency_max_ms=round(lat[-1], 1),
        singles=singles,
        duplicates=counter.duplicates(),
    )


def _wait_listening(dsn: str, workers: int, timeout: float = 30.0) -> None:
    """Until ``workers`` connections LISTEN on the outbox channel (the workers are ready)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
            ).fetchone()
            if row is not None and row[0] >= workers:
                return
            if time.monotonic() > deadline:
                raise VigieError("the delivery workers did not start in time")
            time.sleep(0.05)


def run_delivery_bench(
    settings: Settings, *, messages: int, singles: int, workers: list[int], webhook: bool, as_json: bool
) -> list[BenchResult]:
    """Run the bench for each worker count; print a table (or JSON)."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    results = [_one_run(settings, workers=k, messages=messages, singles=singles, webhook=webhook) for k in workers]
    if as_json:
        sys.stdout.write(json.dumps([asdict(r) for r in results]) + "\n")
        return results
    channels = "email + webhook" if webhook else "email"
    sys.stdout.write(f"delivery of approved drafts ({channels}), {messages} in a backlog, {singles} one at a time\n")
    sys.stdout.write(
        f"{'workers':>7} {'backlog s':>10} {'msg/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'dup':>4}\n"
    )
    for r in results:
        sys.stdout.write(
            f"{r.workers:>7} {r.backlog_s:>10.2f} {r.per_second:>8.1f} {r.latency_p50_ms:>8.1f} "
            f"{r.latency_p95_ms:>8.1f} {r.latency_max_ms:>8.1f} {r.duplicates:>4}\n"
        )
    return results
