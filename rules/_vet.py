"""What a vet does with alerts and drafts: acknowledge / resolve an alert; approve, edit then approve, or reject a
draft. Every step writes the audit log; only an approved draft's ``final_body`` is queued in the outbox (delivery
is the API's job). Each function runs in the caller's transaction and locks the row it changes."""

from __future__ import annotations

from typing import Any

from rules._errors import AlertError, DraftError
from rules._store import Conn, audit


def _draft(conn: Conn, draft_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT d.id, d.clinic_id, d.status, d.body, d.language, d.animal_id FROM drafts d WHERE d.id = %s FOR UPDATE",
        (draft_id,),
    ).fetchone()
    if row is None:
        raise DraftError(f"no draft {draft_id}")
    if row[2] != "pending":
        raise DraftError(f"draft {draft_id} is already {row[2]}")
    return tuple(row)


def _queue(conn: Conn, draft_id: int, clinic_id: str, animal_id: str | None, language: str, body: str) -> None:
    email = conn.execute(
        "SELECT o.email FROM animals a LEFT JOIN owners o ON o.id = a.owner_id WHERE a.id = %s", (animal_id,)
    ).fetchone()
    conn.execute(
        "INSERT INTO outbox (draft_id, clinic_id, recipient, language, body) VALUES (%s, %s, %s, %s, %s)",
        (draft_id, clinic_id, None if email is None else email[0], language, body),
    )


def approve(conn: Conn, draft_id: int, vet: str, *, body: str | None = None) -> None:
    """Approve a pending draft as drafted, or with ``body`` as the vet's edited text (status ``edited``)."""
    row = _draft(conn, draft_id)
    edited = body is not None and body.strip() != str(row[3]).strip()
    if body is not None and not body.strip():
        raise DraftError("an edited draft cannot be empty")
    final = body if edited and body is not None else str(row[3])
    final = f"{final}\nValidé par : {vet}" if row[4] == "fr" else f"{final}\nApproved by: {vet}"
    conn.execute(
        "UPDATE drafts SET status = %s, final_body = %s, decided_by = %s, decided_at = now() WHERE id = %s",
        ("edited" if edited else "approved", final, vet, draft_id),
    )
    audit(
        conn,
        vet,
        "draft.edit_approve" if edited else "draft.approve",
        str(row[1]),
        "draft",
        str(draft_id),
        {"edited": edited},
    )
    _queue(conn, draft_id, str(row[1]), row[5], str(row[4]), final)
    audit(conn, vet, "outbox.queue", str(row[1]), "draft", str(draft_id), {})


def reject(conn: Conn, draft_id: int, vet: str, reason: str) -> None:
    """Reject a pending draft; a reason is required. Nothing is queued."""
    if not reason.strip():
        raise DraftError("a rejection needs a reason")
    row = _draft(conn, draft_id)
    conn.execute(
        "UPDATE drafts SET status = 'rejected', reject_reason = %s, decided_by = %s, decided_at = now() WHERE id = %s",
        (reason, vet, draft_id),
    )
    audit(conn, vet, "draft.reject", str(row[1]), "draft", str(draft_id), {"reason": reason})


def acknowledge(conn: Conn, alert_id: int, vet: str) -> None:
    """Acknowledge an open alert (it stays the one open alert of its condition)."""
    row = conn.execute("SELECT clinic_id, status FROM alerts WHERE id = %s FOR UPDATE", (alert_id,)).fetchone()
    if row is None:
        raise AlertError(f"no alert {alert_id}")
    if row[1] != "open":
        raise AlertError(f"alert {alert_id} is {row[1]}, not open")
    conn.execute(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_by = %s, acknowledged_at = now(), updated_at = now() WHERE id = %s",
        (vet, alert_id),
    )
    audit(conn, vet, "alert.acknowledge", str(row[0]), "alert", str(alert_id), {})


def resolve(conn: Conn, alert_id: int, vet: str, note: str = "") -> None:
    """Resolve an alert by hand (the engine will not re-open the same episode)."""
    row = conn.execute("SELECT clinic_id, status FROM alerts WHERE id = %s FOR UPDATE", (alert_id,)).fetchone()
    if row is None:
        raise AlertError(f"no alert {alert_id}")
    if row[1] == "resolved":
        raise AlertError(f"alert {alert_id} is already resolved")
    conn.execute(
        "UPDATE alerts SET status = 'resolved', resolved_by = %s, resolved_at = now(), updated_at = now() WHERE id = %s",
        (vet, alert_id),
    )
    audit(conn, vet, "alert.resolve", str(row[0]), "alert", str(alert_id), {"note": note})
