"""The outbox in the database: claim due messages, record each attempt's outcome, audit both; read the status.

Every function runs one short transaction on the caller's async connection; none is held open while a message is
being sent (the claim is a committed lease, see ``api/_delivery.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api._delivery_model import ACTOR, CHANNELS, Channel, Message, subject_for

AsyncConn = psycopg.AsyncConnection[Any]
Conn = psycopg.Connection[Any]

_CLAIM = """
WITH due AS (
    SELECT id, status FROM outbox
    WHERE status IN ('queued', 'sending') AND next_attempt_at <= now() AND attempts < %(max)s
    ORDER BY next_attempt_at, id
    LIMIT %(n)s
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox o
SET status = 'sending', attempts = o.attempts + 1, last_attempt_at = now(),
    next_attempt_at = now() + make_interval(secs => %(lease)s), claimed_by = %(worker)s
FROM due
WHERE o.id = due.id
RETURNING o.id, due.status
"""
# due.status is the row before the claim: 'sending' means a lease that ran out (its worker stopped mid-send)

_DETAILS = """
SELECT o.id, o.draft_id, o.clinic_id, c.name AS clinic_name, d.animal_id, a.name AS animal_name,
       a.owner_id, o.recipient, coalesce(o.webhook_url, ow.webhook_url) AS webhook_url, o.language, o.subject,
       o.body, o.channels, o.email_sent_at, o.webhook_sent_at, o.attempts, d.decided_by, d.decided_at
FROM outbox o
JOIN drafts d ON d.id = o.draft_id
LEFT JOIN clinics c ON c.id = o.clinic_id
LEFT JOIN animals a ON a.id = d.animal_id
LEFT JOIN owners ow ON ow.id = a.owner_id
WHERE o.id = ANY(%s)
ORDER BY o.id
"""


async def audit(
    conn: AsyncConn, action: str, msg: Message | None, detail: dict[str, Any], *, clinic: str = "", draft: int = 0
) -> None:
    """Append one line to the audit log (object: the draft, so that a draft's history is one query)."""
    await conn.execute(
        "INSERT INTO audit_log (actor, action, clinic_id, object_type, object_id, detail) VALUES (%s, %s, %s, 'draft', %s, %s)",
        (
            ACTOR,
            action,
            msg.clinic_id if msg else clinic,
            str(msg.draft_id if msg else draft),
            Jsonb(detail | ({"outbox_id": msg.outbox_id, "attempt": msg.attempt} if msg else {})),
        ),
    )


async def expire_exhausted(conn: AsyncConn, *, max_attempts: int) -> int:
    """Fail the rows whose last allowed attempt's lease ran out without a result (their worker died)."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE outbox SET status = 'failed', claimed_by = NULL,"
            " last_error = 'the last attempt did not finish (its worker stopped); it may have been sent'"
            " WHERE status = 'sending' AND next_attempt_at <= now() AND attempts >= %s RETURNING id, draft_id, clinic_id",
            (max_attempts,),
        )
        rows = await cur.fetchall()
        for outbox_id, draft_id, clinic_id in rows:
            await audit(
                conn,
                "outbox.fail",
                None,
                {"outbox_id": outbox_id, "error": "lease ran out on the last attempt"},
                clinic=clinic_id,
                draft=draft_id,
            )
    return len(rows)


async def claim(conn: AsyncConn, *, worker: str, limit: int, lease_s: float, max_attempts: int) -> list[Message]:
    """Claim up to ``limit`` due messages for ``lease_s`` seconds; the first attempt fixes channels and subject."""
    async with conn.transaction():
        cur = await conn.execute(_CLAIM, {"max": max_attempts, "n": limit, "lease": lease_s, "worker": worker})
        claimed = {int(r[0]): r[1] == "sending" for r in await cur.fetchall()}
        if not claimed:
            return []
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_DETAILS, (list(claimed),))
        rows = await cur.fetchall()
        messages = []
        for r in rows:
            if r["channels"] is None:  # first attempt: what this message is, for good
                chans = [
                    c for c, on in zip(CHANNELS, (bool(r["recipient"]), bool(r["webhook_url"])), strict=True) if on
                ]
                r["channels"] = chans
                r["subject"] = subject_for(
                    r["language"], r["clinic_name"] or r["clinic_id"], r["animal_name"], r["body"]
                )
                await conn.execute(
                    "UPDATE outbox SET channels = %s, subject = %s, webhook_url = %s WHERE id = %s",
                    (chans, r["subject"], r["webhook_url"], r["id"]),
                )
            done: set[Channel] = set()
            if r["email_sent_at"] is not None:
                done.add("email")
            if r["webhook_sent_at"] is not None:
                done.add("webhook")
            msg = Message(
                outbox_id=r["id"],
                draft_id=r["draft_id"],
                clinic_id=r["clinic_id"],
                clinic_name=r["clinic_name"] or r["clinic_id"],
                animal_id=r["animal_id"],
                animal_name=r["animal_name"],
                owner_id=r["owner_id"],
                recipient=r["recipient"],
                webhook_url=r["webhook_url"],
                language=r["language"],
                subject=r["subject"],
                body=r["body"],
                channels=tuple(r["channels"]),
                done=frozenset(done),
                attempt=r["attempts"],
                approved_by=r["decided_by"],
                approved_at=r["decided_at"],
                reclaimed=claimed[r["id"]],
            )
            if msg.reclaimed:
                await audit(
                    conn,
                    "outbox.reclaim",
                    msg,
                    {"note": "the previous attempt's lease ran out; it may have been sent", "worker": worker},
                )
            messages.append(msg)
    return messages


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt did, per channel."""

    sent: dict[Channel, dict[str, Any]]  # channel -> audit detail (message id, status, milliseconds)
    errors: dict[Channel, str]
    permanent: bool  # some channel failed for good
    retry_in: float | None  # seconds until the next attempt (None: no retry)

    @property
    def status(self) -> str:
        """The row's status after this attempt."""
        if not self.errors:
            return "sent"
        return "failed" if self.retry_in is None else "queued"


async def record(conn: AsyncConn, msg: Message, outcome: Outcome, *, worker: str) -> bool:
    """Store ``outcome`` of ``msg``'s attempt, unless another worker took the row over (then False)."""
    error = "; ".join(f"{c}: {e}" for c, e in outcome.errors.items()) or None
    async with conn.transaction():
        cur = await conn.execute(
            """
            UPDATE outbox SET
                status = %(status)s,
                claimed_by = NULL,
                email_sent_at = CASE WHEN %(email)s THEN coalesce(email_sent_at, now()) ELSE email_sent_at END,
                webhook_sent_at = CASE WHEN %(webhook)s THEN coalesce(webhook_sent_at, now()) ELSE webhook_sent_at END,
                sent_at = CASE WHEN %(status)s = 'sent' THEN now() ELSE sent_at END,
                next_attempt_at = CASE WHEN %(status)s = 'queued' THEN now() + make_interval(secs => %(delay)s)
                                       ELSE next_attempt_at END,
                last_error = coalesce(%(error)s, last_error)
            WHERE id = %(id)s AND status = 'sending' AND claimed_by = %(worker)s AND attempts = %(attempt)s
            """,
            {
                "status": outcome.status,
                "email": "email" in outcome.sent,
                "webhook": "webhook" in outcome.sent,
                "delay": outcome.retry_in or 0.0,
                "error": error,
                "id": msg.outbox_id,
                "worker": worker,
                "attempt": msg.attempt,
            },
        )
        if cur.rowcount != 1:
            await audit(
                conn,
                "outbox.lost_lease",
                msg,
                {"sent": sorted(outcome.sent), "errors": outcome.errors, "worker": worker},
            )
            return False
        for channel, detail in outcome.sent.items():
            await audit(conn, "outbox.send", msg, {"channel": channel, **detail, "worker": worker})
        if outcome.errors:
            action = {"queued": "outbox.retry", "failed": "outbox.fail"}[outcome.status]
            detail = {"errors": outcome.errors, "permanent": outcome.permanent, "worker": worker}
            if outcome.retry_in is not None:
                detail["retry_in_s"] = round(outcome.retry_in, 3)
            await audit(conn, action, msg, detail)
    return True


async def seconds_until_due(conn: AsyncConn, *, max_attempts: int) -> float | None:
    """Seconds until the next row is due (0 if one is due now), None if nothing waits."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT greatest(0, extract(epoch FROM min(next_attempt_at) - now()))::float8 FROM outbox"
            " WHERE status IN ('queued', 'sending') AND (attempts < %s OR status = 'sending')",
            (max_attempts,),
        )
        row = await cur.fetchone()
    return None if row is None or row[0] is None else float(row[0])


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """One row of the ``delivery_status`` view: how an approved draft's delivery went."""

    outbox_id: int
    draft_id: int
    clinic_id: str
    animal_id: str | None
    status: str
    channels: list[str] | None
    recipient: str | None
    subject: str | None
    attempts: int
    queued_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    email_sent_at: datetime | None
    webhook_sent_at: datetime | None
    last_error: str | None


def delivery_status(
    conn: Conn,
    *,
    clinic_id: str | None = None,
    draft_id: int | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[DeliveryStatus]:
    """Delivery status rows, newest first, limited to a clinic (None: every clinic), a draft, a status."""
    cur = conn.cursor(row_factory=dict_row)
    cur.execute(
        "SELECT * FROM delivery_status WHERE (%(clinic)s::text IS NULL OR clinic_id = %(clinic)s)"
        " AND (%(draft)s::bigint IS NULL OR draft_id = %(draft)s) AND (%(status)s::text IS NULL OR status = %(status)s)"
        " ORDER BY outbox_id DESC LIMIT %(limit)s",
        {"clinic": clinic_id, "draft": draft_id, "status": status, "limit": limit},
    )
    return [DeliveryStatus(**row) for row in cur.fetchall()]


def requeue(conn: Conn, outbox_id: int, actor: str) -> bool:
    """Queue a failed message again; False if it is not failed.

    Attempts start over, and the channels are chosen again at the next attempt, from the owner's address and webhook
    as they are now (a clinic that fixed a missing address retries the message); a channel that already succeeded
    is not sent again.
    """
    row = conn.execute(
        """
        UPDATE outbox o SET status = 'queued', attempts = 0, next_attempt_at = now(), claimed_by = NULL,
            channels = NULL, webhook_url = NULL,
            recipient = CASE WHEN o.email_sent_at IS NOT NULL THEN o.recipient ELSE coalesce(
                (SELECT ow.email FROM drafts d JOIN animals a ON a.id = d.animal_id
                 JOIN owners ow ON ow.id = a.owner_id WHERE d.id = o.draft_id), o.recipient) END
        WHERE o.id = %s AND o.status = 'failed'
        RETURNING o.draft_id, o.clinic_id, o.last_error
        """,
        (outbox_id,),
    ).fetchone()
    if row is None:
        return False
    conn.execute(
        "INSERT INTO audit_log (actor, action, clinic_id, object_type, object_id, detail) VALUES (%s, 'outbox.requeue', %s, 'draft', %s, %s)",
        (actor, row[1], str(row[0]), Jsonb({"outbox_id": outbox_id, "last_error": row[2]})),
    )
    return True
