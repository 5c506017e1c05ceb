"""Recommendation drafts and approved messages for the API and the vets' web page.

Plain functions on a sync psycopg connection, in the caller's transaction. ``clinic`` limits every query to one
clinic (None: every clinic, for an admin); a draft outside it is *not found* (None), like one that does not exist.

- Drafts (the vet's side): list, one draft with its alerts and its delivery status (the ``outbox`` row an approval
  queued: queued / sending / sent / failed, attempts, last error), approve (as drafted or edited) and reject. The
  actions call :mod:`rules._vet`, which locks the row, refuses a draft that is already decided
  (:class:`rules.DraftError`), writes the audit log and queues exactly one outbox row with the final text.
- Messages (the owner's side): approved drafts only (``approved`` or ``edited``), showing only ``final_body``. A
  pending or rejected draft, and the text as drafted, never leave this module through these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from rules._store import Conn
from rules._vet import approve, reject

APPROVED = ("approved", "edited")


@dataclass(frozen=True, slots=True)
class Delivery:
    """The delivery status of an approved draft (its outbox row)."""

    status: str
    channel: str
    recipient: str | None
    subject: str | None
    attempts: int
    last_error: str | None
    queued_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class DraftRow:
    """One draft, with the worst severity and the categories of its alerts, and its delivery once approved."""

    id: int
    clinic_id: str
    animal_id: str | None
    animal_name: str | None
    owner_id: str | None
    audience: str
    language: str
    status: str
    body: str
    final_body: str | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reject_reason: str | None
    alert_ids: list[int]
    severity: str | None
    categories: list[str]
    delivery: Delivery | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """An approved draft as its owner reads it: the final text only."""

    id: int
    clinic_id: str
    animal_id: str | None
    animal_name: str | None
    language: str
    subject: str | None
    body: str
    approved_by: str | None
    approved_at: datetime | None
    delivery_status: str | None


_DRAFT_SELECT = sql.SQL(
    "SELECT d.id, d.clinic_id, d.animal_id, an.name AS animal_name, an.owner_id, d.audience, d.language, d.status,"
    " d.body, d.final_body, d.created_at, d.decided_by, d.decided_at, d.reject_reason, d.alert_ids,"
    " s.severity, coalesce(s.categories, '{}'::text[]) AS categories"
    " FROM drafts d LEFT JOIN animals an ON an.id = d.animal_id"
    " LEFT JOIN LATERAL (SELECT (ARRAY['info', 'review', 'urgent'])[max(array_position(ARRAY['info', 'review',"
    " 'urgent'], al.severity))] AS severity, array_agg(DISTINCT al.category ORDER BY al.category) AS categories"
    " FROM alerts al WHERE al.id = ANY(d.alert_ids)) s ON true"
)


@dataclass(frozen=True, slots=True)
class DraftFilter:
    """What a list keeps: each given field narrows it (several values of one field: any of them)."""

    status: Sequence[str] = ()
    severity: Sequence[str] = ()
    category: Sequence[str] = ()
    animal: str | None = None


def _where(clinic: str | None, flt: DraftFilter) -> tuple[sql.Composable, list[Any]]:
    conds: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if clinic is not None:
        conds.append(sql.SQL("d.clinic_id = %s"))
        params.append(clinic)
    if flt.status:
        conds.append(sql.SQL("d.status = ANY(%s)"))
        params.append(list(flt.status))
    if flt.severity:
        conds.append(sql.SQL("s.severity = ANY(%s)"))
        params.append(list(flt.severity))
    if flt.category:
        conds.append(sql.SQL("s.categories && %s::text[]"))
        params.append(list(flt.category))
    if flt.animal is not None:
        conds.append(sql.SQL("d.animal_id = %s"))
        params.append(flt.animal)
    return sql.SQL(" AND ").join(conds), params


def list_drafts(
    conn: Conn, clinic: str | None, flt: DraftFilter, *, limit: int, offset: int = 0
) -> tuple[list[DraftRow], int]:
    """A page of drafts, pending first, then the newest; and the total count. Delivery is not filled in (see
    :func:`get_draft`); the list is for triage."""
    where, params = _where(clinic, flt)
    total = conn.execute(
        sql.SQL("SELECT count(*) FROM ({}) q").format(sql.SQL("{} WHERE {}").format(_DRAFT_SELECT, where)), params
    ).fetchone()
    query = sql.SQL("{} WHERE {} ORDER BY d.status = 'pending' DESC, d.created_at DESC, d.id DESC LIMIT %s OFFSET %s")
    with conn.cursor(row_factory=class_row(DraftRow)) as cur:
        rows = cur.execute(query.format(_DRAFT_SELECT, where), [*params, limit, offset]).fetchall()
    return rows, int(total[0]) if total else 0


def _delivery(conn: Conn, draft_id: int) -> Delivery | None:
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(
            "SELECT status, channel, recipient, subject, attempts, last_error, queued_at, next_attempt_at, sent_at"
            " FROM outbox WHERE draft_id = %s",
            (draft_id,),
        ).fetchone()


def get_draft(conn: Conn, clinic: str | None, draft_id: int) -> DraftRow | None:
    """One draft with its delivery status; None if it is not within ``clinic``."""
    where, params = _where(clinic, DraftFilter())
    with conn.cursor(row_factory=class_row(DraftRow)) as cur:
        row = cur.execute(
            sql.SQL("{} WHERE {} AND d.id = %s").format(_DRAFT_SELECT, where), [*params, draft_id]
        ).fetchone()
    if row is None:
        return None
    return replace(row, delivery=_delivery(conn, draft_id))


def approve_draft(
    conn: Conn, clinic: str | None, draft_id: int, actor: str, body: str | None = None
) -> DraftRow | None:
    """Approve a pending draft as ``actor``: as drafted, or with ``body`` as the edited text (the draft's own text
    is kept). Queues one outbox row with the final text. None if it is not within ``clinic``; DraftError if it is
    already decided."""
    if get_draft(conn, clinic, draft_id) is None:
        return None
    approve(conn, draft_id, actor, body=body)
    return get_draft(conn, clinic, draft_id)


def reject_draft(conn: Conn, clinic: str | None, draft_id: int, actor: str, reason: str) -> DraftRow | None:
    """Reject a pending draft as ``actor`` with ``reason``; nothing is queued. None if it is not within ``clinic``;
    DraftError if it is already decided or the reason is empty."""
    if get_draft(conn, clinic, draft_id) is None:
        return None
    reject(conn, draft_id, actor, reason)
    return get_draft(conn, clinic, draft_id)


_MESSAGE_SELECT = sql.SQL(
    "SELECT d.id, d.clinic_id, d.animal_id, an.name AS animal_name, d.language, o.subject, d.final_body AS body,"
    " d.decided_by AS approved_by, d.decided_at AS approved_at, o.status AS delivery_status"
    " FROM drafts d LEFT JOIN animals an ON an.id = d.animal_id LEFT JOIN outbox o ON o.draft_id = d.id"
)


def _message_where(clinic: str | None, owner: str | None, animal: str | None) -> tuple[sql.Composable, list[Any]]:
    conds: list[sql.Composable] = [sql.SQL("d.status = ANY(%s) AND d.final_body IS NOT NULL")]
    params: list[Any] = [list(APPROVED)]
    if clinic is not None:
        conds.append(sql.SQL("d.clinic_id = %s"))
        params.append(clinic)
    if owner is not None:
        conds.append(sql.SQL("an.owner_id = %s"))
        params.append(owner)
    if animal is not None:
        conds.append(sql.SQL("d.animal_id = %s"))
        params.append(animal)
    return sql.SQL(" AND ").join(conds), params


def list_messages(
    conn: Conn, clinic: str | None, *, owner: str | None, animal: str | None = None, limit: int, offset: int = 0
) -> tuple[list[Message], int]:
    """A page of approved messages, newest approval first, and the total count. ``owner`` (an owner account's
    owner or farm id) keeps only the messages about that owner's animals."""
    where, params = _message_where(clinic, owner, animal)
    total = conn.execute(
        sql.SQL("SELECT count(*) FROM drafts d LEFT JOIN animals an ON an.id = d.animal_id WHERE {}").format(where),
        params,
    ).fetchone()
    query = sql.SQL("{} WHERE {} ORDER BY d.decided_at DESC, d.id DESC LIMIT %s OFFSET %s").format(
        _MESSAGE_SELECT, where
    )
    with conn.cursor(row_factory=class_row(Message)) as cur:
        rows = cur.execute(query, [*params, limit, offset]).fetchall()
    return rows, int(total[0]) if total else 0


def get_message(conn: Conn, clinic: str | None, message_id: int, *, owner: str | None) -> Message | None:
    """One approved message; None if it does not exist, is not approved, or is not within ``clinic`` / ``owner``."""
    where, params = _message_where(clinic, owner, None)
    with conn.cursor(row_factory=class_row(Message)) as cur:
        return cur.execute(
            sql.SQL("{} WHERE {} AND d.id = %s").format(_MESSAGE_SELECT, where), [*params, message_id]
        ).fetchone()
