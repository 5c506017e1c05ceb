"""Delivery tests against real services: a fresh database, a real SMTP server (aiosmtpd) and a real HTTP receiver.

- ``smtp``: an aiosmtpd server on a free loopback port that records each message; it can start late (SMTP down),
  refuse recipients (``unknown``) or answer the next DATA commands with scripted errors (``data_replies``).
- ``receiver``: a threaded ``http.server`` on a free loopback port that records each request and answers with the
  scripted statuses of ``replies`` (then 200).
- ``dsettings``: settings pointing at the test database, ``smtp`` and a webhook secret, with fast retries, and
  ``webhook_allow_private`` (the receiver is on loopback).
- ``seed`` / ``new_draft`` / ``approve``: a clinic with an owner and a dog, pending drafts, the vet's approval
  through ``rules._vet.approve`` (the real path that queues the outbox row).
- ``running``: a delivery worker running in the test's event loop until the block ends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from psycopg.rows import dict_row

from api._delivery import DeliveryStats, run_delivery
from rules._vet import approve as vet_approve
from vigie.net import free_port
from vigie.settings import Settings

SECRET = "test-webhook-secret"  # noqa: S105 - the tests' HMAC key


@dataclass
class Received:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def email(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw.replace(b"\r\n", b"\n"), policy=policy.default)  # wire CRLF
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    """A real SMTP server (aiosmtpd Controller, own thread) on a fixed free port, started and stopped at will."""

    port: int
    messages: list[Received] = field(default_factory=list)
    unknown: set[str] = field(default_factory=set)  # recipients refused with 550
    data_replies: deque[str] = field(default_factory=deque)  # answers to the next DATA commands instead of 250
    data_commands: int = 0
    hold: threading.Event | None = None  # when set: a message is stored, then the 250 waits for this event
    controller: Controller | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        del server, session, rcpt_options
        if address in self.unknown:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        del server, session
        with self.lock:
            self.data_commands += 1
            if self.data_replies:
                return self.data_replies.popleft()
            self.messages.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), envelope.original_content or b"")
            )
        hold = self.hold
        if hold is not None:
            await asyncio.to_thread(hold.wait, 60)
        return "250 Message accepted"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def by_message_id(self) -> dict[str, int]:
        """How many times each Message-ID arrived."""
        counts: dict[str, int] = {}
        with self.lock:
            for m in self.messages:
                key = str(m.email["Message-ID"])
                counts[key] = counts.get(key, 0) + 1
        return counts


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp(smtp_port: int) -> Iterator[SmtpServer]:
    """A running SMTP server (``smtp.stop()`` / ``smtp.start()`` to take it down and bring it back)."""
    server = SmtpServer(smtp_port)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_down(smtp_port: int) -> Iterator[SmtpServer]:
    """An SMTP server not started yet: its port refuses connections until ``start()``."""
    server = SmtpServer(smtp_port)
    yield server
    server.stop()


@dataclass
class Request:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """A real HTTP server recording POSTs and answering scripted statuses."""

    port: int
    requests: list[Request] = field(default_factory=list)
    replies: deque[int] = field(default_factory=deque)  # statuses of the next requests (then 200)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/vigie"

    def ok(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rec.lock:
                status = rec.replies.popleft() if rec.replies else 200
                rec.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            del format, args

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the default 5 resets connections when a batch arrives at once

    server = Server(("127.0.0.1", rec.port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def dsettings(db_dsn: str, smtp_port: int) -> Settings:
    """Settings for delivery: the test database, the test SMTP port, a webhook secret, retries within a second."""
    return Settings(
        database_url=db_dsn,  # type: ignore[arg-type]
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",  # type: ignore[arg-type]
        mail_from="Vigie <vigie@vigie.test>",
        delivery_webhook_secret=SECRET,  # type: ignore[arg-type]
        delivery_max_attempts=4,
        delivery_timeout_s=2.0,
        delivery_backoff_base_s=0.1,
        delivery_backoff_max_s=0.4,
        delivery_poll_s=0.2,
        webhook_allow_private=True,  # the receiver listens on 127.0.0.1 (test_webhook_target.py: the default)
    )


@pytest.fixture
def seed(db_dsn: str) -> Callable[..., None]:
    """Register clinic c1, owner o1 (with ``email``, ``language``, ``webhook``) and the dog rex."""

    def run(*, email: str | None = "claire@example.org", language: str = "fr", webhook: str | None = None) -> None:
        with psycopg.connect(db_dsn, autocommit=True) as db:
            db.execute("INSERT INTO clinics (id, name, language) VALUES ('c1', 'Clinique du Parc', %s)", (language,))
            db.execute(
                "INSERT INTO owners (id, clinic_id, name, email, language, webhook_url)"
                " VALUES ('o1', 'c1', 'Claire Martin', %s, %s, %s)",
                (email, language, webhook),
            )
            db.execute(
                "INSERT INTO animals (id, clinic_id, owner_id, name, species) VALUES ('rex', 'c1', 'o1', 'Rex', 'dog')"
            )

    return run


@pytest.fixture
def new_draft(db_dsn: str) -> Callable[..., int]:
    """A pending draft for rex, as the rules service writes one; its id."""

    def run(body: str = "Rex a fait une hypoglycémie cette nuit : appelez la clinique.", language: str = "fr") -> int:
        with psycopg.connect(db_dsn, autocommit=True) as db:
            row = db.execute(
                "INSERT INTO drafts (clinic_id, animal_id, audience, language, body) VALUES ('c1', 'rex', 'owner', %s, %s)"
                " RETURNING id",
                (language, body),
            ).fetchone()
        assert row is not None
        return int(row[0])

    return run


@pytest.fixture
def approve(db_dsn: str) -> Callable[..., None]:
    """The vet approves a draft through ``rules._vet.approve`` (which queues the outbox row), committed."""

    def run(draft_id: int, vet: str = "Dr Lefèvre", body: str | None = None) -> None:
        with psycopg.connect(db_dsn) as conn:
            vet_approve(conn, draft_id, vet, body=body)

    return run


def outbox(dsn: str) -> list[dict[str, Any]]:
    """Every outbox row, by id."""
    with psycopg.connect(dsn, autocommit=True) as db, db.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM outbox ORDER BY id").fetchall()


def audit_actions(dsn: str, actor: str = "vigie-deliver") -> list[tuple[str, dict[str, Any]]]:
    """(action, detail) of the audit log lines written by ``actor``, in order."""
    with psycopg.connect(dsn, autocommit=True) as db:
        rows = db.execute("SELECT action, detail FROM audit_log WHERE actor = %s ORDER BY id", (actor,)).fetchall()
    return [(str(a), dict(d)) for a, d in rows]


def final_body(dsn: str, draft_id: int) -> str:
    with psycopg.connect(dsn, autocommit=True) as db:
        row = db.execute("SELECT final_body FROM drafts WHERE id = %s", (draft_id,)).fetchone()
    assert row is not None
    return str(row[0])


async def until(check: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition") -> Any:  # noqa: ASYNC109
    """Poll ``check`` (every 20 ms) until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(settings: Settings, **kwargs: Any) -> AsyncIterator[asyncio.Task[DeliveryStats]]:
    """A delivery worker in this event loop until the block ends (then stopped, within 20 s)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_delivery(settings, stop=stop, **kwargs))
    try:
        yield task
    finally:
        stop.set()
        async with asyncio.timeout(20):
            await task
