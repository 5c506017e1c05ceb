"""Delivery of approved drafts to owners: the outbox worker behind ``vigie deliver``.

How it works
    A vet's approval (``rules._vet.approve``) inserts one ``outbox`` row in the approval's own transaction, and a
    trigger NOTIFYs ``vigie_outbox``. The worker LISTENs (and polls every ``delivery_poll_s`` as a fallback), then:

    1. **claims** up to ``delivery_batch`` due rows in one short transaction (``FOR UPDATE SKIP LOCKED``, so that
       concurrent workers never claim the same row): status ``sending``, ``attempts + 1``, ``claimed_by`` = this
       worker, and ``next_attempt_at`` = the end of a lease of ``delivery_lease_s``. The first attempt fixes the
       message's channels (email if the owner has an address, webhook if they have a ``webhook_url``) and subject;
    2. **sends** each message on each channel not yet done, concurrently, outside any transaction, each send bounded
       by ``delivery_timeout_s``;
    3. **records** the outcome in one transaction, only if the row is still its own (``claimed_by`` and ``attempts``
       as claimed: a worker that lost its lease cannot overwrite a newer attempt): ``sent``; or ``queued`` again
       with ``next_attempt_at`` = now + capped exponential backoff with jitter (``delivery_backoff_base_s`` doubling
       up to ``delivery_backoff_max_s``, at least the receiver's ``Retry-After``); or ``failed`` with ``last_error``
       after a permanent error or ``delivery_max_attempts`` attempts. A channel that succeeded is stamped
       (``email_sent_at``, ``webhook_sent_at``) and not sent again when another channel is retried.

    Every send, retry, failure, reclaimed lease and lost lease is appended to ``audit_log`` (actor ``vigie-deliver``,
    object the draft) in the same transaction as the status change. ``delivery_status`` (a view) is what the API
    and ``vigie outbox list`` show.

Guarantees: at least once, with idempotency keys
    A message is never lost: the row is committed with the approval, and a row whose worker dies mid-send stays
    ``sending`` until its lease ends, then is claimed again. It can therefore be sent twice, in exactly these cases:
    the worker stopped (crash, kill, database unreachable) after the receiver accepted the message and before the
    outcome was committed, or a send outlived the lease. Every attempt of one message carries the same identity
    so that a receiver can drop the repeat: the email's ``Message-ID`` is ``<vigie-outbox-ID@domain>``, and the
    webhook's ``Idempotency-Key`` header and JSON ``id`` are ``vigie-outbox-ID``. Two live workers never send one
    message twice: claims skip locked rows and a claimed row is not due until its lease ends (keep
    ``delivery_lease_s`` well above the time a batch takes: ``delivery_timeout_s`` per channel).

Stopping
    SIGTERM or Ctrl-C: no new claim; the sends in flight finish (each is bounded) and their outcomes are recorded;
    exit 0. A worker killed harder leaves ``sending`` rows that another worker (or the next start) reclaims after
    the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from api import _delivery_store as store
from api._delivery_mail import SmtpServer, check_sender, send_email
from api._delivery_model import Channel, Message, SendError, backoff
from api._delivery_webhook import send_webhook
from api._webhook_target import guarded_client
from vigie.settings import Settings

log = logging.getLogger(__name__)
CHANNEL = "vigie_outbox"
LISTEN_RENEW_S = 30.0  # the listener re-checks its connection this often
DB_RETRY_MAX_S = 10.0
DB_TIMEOUT_S = 15.0  # bound of every database round of the worker (a partition without reset must not hang it)


@dataclass
class DeliveryStats:
    """What a worker did since it started."""

    sent: int = 0  # messages fully delivered
    retried: int = 0  # attempts that failed and were scheduled again
    failed: int = 0  # messages given up
    lost_leases: int = 0  # outcomes not recorded because another worker had taken the row over
    channel_sends: dict[str, int] = field(default_factory=lambda: {"email": 0, "webhook": 0})


class DeliveryWorker:
    """Claims, sends and records outbox messages. Use :func:`run_delivery` to run one."""

    def __init__(self, settings: Settings, *, worker_id: str | None = None) -> None:
        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.smtp = SmtpServer.parse(settings.smtp_url.get_secret_value())
        check_sender(settings.mail_from)
        secret = settings.delivery_webhook_secret
        self.secret = secret.get_secret_value().encode() if secret else None
        self.clinic_secrets = {c: k.get_secret_value().encode() for c, k in settings.delivery_webhook_secrets.items()}
        # a batch must finish well within the lease: every channel may take its whole timeout
        self.lease_s = max(settings.delivery_lease_s, 4 * settings.delivery_timeout_s * 2 + 5)
        self.stats = DeliveryStats()
        self.wake = asyncio.Event()
        self._db_lock = asyncio.Lock()
        self._conn: store.AsyncConn | None = None
        self._http: httpx.AsyncClient | None = None

    def secret_for(self, clinic_id: str) -> bytes | None:
        """The HMAC key of a clinic's webhooks: its own, else the global one."""
        return self.clinic_secrets.get(clinic_id, self.secret)

    async def __aenter__(self) -> DeliveryWorker:
        self._http = guarded_client(
            allow_private=self.settings.webhook_allow_private, timeout=self.settings.delivery_timeout_s
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
        await self._close_db()

    async def _db(self) -> store.AsyncConn:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.settings.dsn, connect_timeout=max(1, int(self.settings.delivery_timeout_s))
            )
        return self._conn

    async def _close_db(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                await self._conn.close()
            self._conn = None

    # --- one pass ---------------------------------------------------------------------------------------------

    async def run_batch(self) -> int:
        """Claim one batch of due messages, send them and record the outcomes; how many were claimed."""
        max_attempts = self.settings.delivery_max_attempts
        async with self._db_lock, asyncio.timeout(DB_TIMEOUT_S):
            conn = await self._db()
            expired = await store.expire_exhausted(conn, max_attempts=max_attempts)
            if expired:
                log.warning("%d message(s) failed: their last attempt's worker stopped mid-send", expired)
                self.stats.failed += expired
            messages = await store.claim(
                conn,
                worker=self.worker_id,
                limit=self.settings.delivery_batch,
                lease_s=self.lease_s,
                max_attempts=max_attempts,
            )
        if not messages:
            return 0
        async with asyncio.TaskGroup() as tg:
            for msg in messages:
                if msg.reclaimed:
                    log.warning("outbox %d: lease ran out on attempt %d, sending again", msg.outbox_id, msg.attempt - 1)
                tg.create_task(self._deliver(msg), name=f"deliver-{msg.outbox_id}")
        return len(messages)

    async def _deliver(self, msg: Message) -> None:
        outcome = await self._send(msg)
        try:
            async with self._db_lock, asyncio.timeout(DB_TIMEOUT_S):
                kept = await store.record(await self._db(), msg, outcome, worker=self.worker_id)
        except (psycopg.Error, TimeoutError) as exc:
            # the row stays 'sending' until its lease ends, then is claimed again (at least once)
            log.warning("outbox %d: outcome not recorded (%s); it will be retried after its lease", msg.outbox_id, exc)
            await self._close_db()
            return
        self._count(msg, outcome, kept=kept)

    async def _send(self, msg: Message) -> store.Outcome:
        sent: dict[Channel, dict[str, Any]] = {}
        errors: dict[Channel, str] = {}
        permanent = False
        retry_after = 0.0
        if not msg.channels:
            errors["email"] = "the owner has neither an email address nor a webhook"
            permanent = True
        for channel in msg.pending:
            started = time.perf_counter()
            try:
                if channel == "email":
                    mid = await send_email(
                        msg,
                        server=self.smtp,
                        mail_from=self.settings.mail_from,
                        time_limit=self.settings.delivery_timeout_s,
                    )
                    detail: dict[str, Any] = {"to": msg.recipient, "message_id": mid}
                else:
                    assert self._http is not None  # noqa: S101 - opened by __aenter__
                    code = await send_webhook(
                        msg,
                        client=self._http,
                        secret=self.secret_for(msg.clinic_id),
                        time_limit=self.settings.delivery_timeout_s,
                        allow_private=self.settings.webhook_allow_private,
                    )
                    detail = {"url": msg.webhook_url, "status": code, "idempotency_key": msg.key}
            except SendError as exc:
                errors[channel] = str(exc)
                permanent = permanent or exc.permanent
                retry_after = max(retry_after, exc.retry_after or 0.0)
                continue
            ms = round((time.perf_counter() - started) * 1000, 1)
            sent[channel] = detail | {"ms": ms}
        retry_in: float | None = None
        if errors and not permanent and msg.attempt < self.settings.delivery_max_attempts:
            delay = backoff(
                msg.attempt, base=self.settings.delivery_backoff_base_s, cap=self.settings.delivery_backoff_max_s
            )
            retry_in = max(delay, min(retry_after, self.settings.delivery_backoff_max_s))
        return store.Outcome(sent=sent, errors=errors, permanent=permanent, retry_in=retry_in)

    def _count(self, msg: Message, outcome: store.Outcome, *, kept: bool) -> None:
        for channel in outcome.sent:
            self.stats.channel_sends[channel] += 1
        if not kept:
            self.stats.lost_leases += 1
            log.warning(
                "outbox %d: another worker took it over; outcome of attempt %d dropped", msg.outbox_id, msg.attempt
            )
        elif outcome.status == "sent":
            self.stats.sent += 1
            log.info("outbox %d (draft %d) sent by %s", msg.outbox_id, msg.draft_id, "+".join(outcome.sent) or "-")
        elif outcome.status == "queued":
            self.stats.retried += 1
            log.warning(
                "outbox %d attempt %d failed (%s); retry in %.1f s",
                msg.outbox_id,
                msg.attempt,
                "; ".join(outcome.errors.values()),
                outcome.retry_in or 0.0,
            )
        else:
            self.stats.failed += 1
            log.error(
                "outbox %d failed after %d attempt(s): %s",
                msg.outbox_id,
                msg.attempt,
                "; ".join(outcome.errors.values()),
            )

    async def next_due_in(self) -> float | None:
        """Seconds until a message is due, None if none waits."""
        async with self._db_lock, asyncio.timeout(DB_TIMEOUT_S):
            return await store.seconds_until_due(await self._db(), max_attempts=self.settings.delivery_max_attempts)

    # --- loops ------------------------------------------------------------------------------------------------

    async def listen(self, stop: asyncio.Event) -> None:
        """Set :attr:`wake` on every NOTIFY of a new outbox row; reconnect with backoff when the database goes."""
        failures = 0
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.settings.dsn, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    failures = 0
                    self.wake.set()  # rows may have arrived while not listening
                    while not stop.is_set():
                        async for _ in conn.notifies(timeout=LISTEN_RENEW_S):
                            self.wake.set()
                        async with asyncio.timeout(DB_TIMEOUT_S):
                            await conn.execute("SELECT 1")  # notices a dead connection
            except (psycopg.OperationalError, TimeoutError) as exc:
                failures += 1
                delay = backoff(failures, base=0.5, cap=DB_RETRY_MAX_S)
                log.warning(
                    "listener: database unreachable (%s); again in %.1f s",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    delay,
                )
                await _wait(stop, delay)

    async def serve(self, stop: asyncio.Event, *, once: bool = False, interval: float | None = None) -> None:
        """Deliver until ``stop`` is set (or, with ``once``, until nothing is due)."""
        poll = interval if interval is not None else self.settings.delivery_poll_s
        failures = 0
        while not stop.is_set():
            self.wake.clear()
            try:
                claimed = await self.run_batch()
                if claimed:
                    failures = 0
                    continue
                if once:
                    return
                due = await self.next_due_in()
                failures = 0
            except (psycopg.OperationalError, TimeoutError) as exc:  # TimeoutError: DB_TIMEOUT_S without an answer
                failures += 1
                await self._close_db()
                delay = backoff(failures, base=0.5, cap=DB_RETRY_MAX_S)
                log.warning(
                    "database unreachable (%s); again in %.1f s",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    delay,
                )
                if once and failures >= 3:
                    raise
                await _wait(stop, delay)
                continue
            await _wait(stop, poll if due is None else min(poll, due), self.wake)


async def _wait(stop: asyncio.Event, timeout: float, wake: asyncio.Event | None = None) -> None:  # noqa: ASYNC109
    """Wait until ``stop`` (or ``wake``) is set, at most ``timeout`` seconds."""
    events = [stop] if wake is None else [stop, wake]
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def run_delivery(
    settings: Settings,
    *,
    stop: asyncio.Event,
    once: bool = False,
    interval: float | None = None,
    worker_id: str | None = None,
) -> DeliveryStats:
    """Run a delivery worker until ``stop`` is set (or, with ``once``, until nothing is due now)."""
    async with DeliveryWorker(settings, worker_id=worker_id) as worker:
        if worker.secret is None and not worker.clinic_secrets:
            log.info("VIGIE_DELIVERY_WEBHOOK_SECRET is not set: webhook deliveries fail (and are retried) until it is")
        log.info(
            "delivery worker %s: SMTP %s:%d, batch %d",
            worker.worker_id,
            worker.smtp.host,
            worker.smtp.port,
            settings.delivery_batch,
        )
        if once:
            await worker.serve(stop, once=True)
            return worker.stats
        listener_stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            listener = tg.create_task(worker.listen(listener_stop), name="deliver.listen")
            try:
                await worker.serve(stop, interval=interval)
            finally:
                listener_stop.set()
                listener.cancel()
        log.info(
            "delivery worker stopped: %d sent, %d retried, %d failed",
            worker.stats.sent,
            worker.stats.retried,
            worker.stats.failed,
        )
        return worker.stats
