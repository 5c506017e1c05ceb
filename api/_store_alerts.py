"""Alerts for the API and the vets' web page: a filtered, ranked list; one alert with its evidence and history; the
acknowledge and resolve actions.

Plain functions on a sync psycopg connection, in the caller's transaction. ``clinic`` limits every query to one
clinic (None: every clinic, for an admin); an alert outside it is *not found* (None), exactly like one that does not
exist, so that a caller cannot tell the two apart. The actions call :mod:`rules._vet`, which locks the row, refuses a
wrong state (:class:`rules.AlertError`) and writes the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from rules._store import Conn
from rules._vet import acknowledge, resolve

_SEVERITY_RANK = sql.SQL("array_position(ARRAY['info', 'review', 'urgent'], a.severity)")

_COLUMNS = sql.SQL(
    "a.id, a.clinic_id, a.animal_id, an.name AS animal_name, an.species, a.device_id, a.category, a.rule_id,"
    " a.rule_version, a.severity, a.status, a.onset, a.window_start, a.window_end, a.explanation, a.opened_at,"
    " a.updated_at, a.acknowledged_by, a.acknowledged_at, a.resolved_by, a.resolved_at"
)
_FROM = sql.SQL("FROM alerts a LEFT JOIN animals an ON an.id = a.animal_id")


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert as the lists show it."""

    id: int
    clinic_id: str
    animal_id: str | None
    animal_name: str | None
    species: str | None
    device_id: str | None
    category: str
    rule_id: str
    rule_version: str
    severity: str
    status: str
    onset: datetime | None
    window_start: datetime
    window_end: datetime
    explanation: str
    opened_at: datetime
    updated_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of the audit log about an object."""

    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AlertDetail:
    """One alert with its evidence (values, window, threshold, rule version, explanations), history and drafts."""

    alert: AlertRow
    evidence: dict[str, Any]
    history: list[HistoryEntry]
    draft_ids: list[int]


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """What a list keeps: each given field narrows it (several values of one field: any of them)."""

    status: Sequence[str] = ()
    severity: Sequence[str] = ()
    category: Sequence[str] = ()
    animal: str | None = None


def _where(clinic: str | None, flt: AlertFilter) -> tuple[sql.Composable, list[Any]]:
    conds: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if clinic is not None:
        conds.append(sql.SQL("a.clinic_id = %s"))
        params.append(clinic)
    for column, values in (("status", flt.status), ("severity", flt.severity), ("category", flt.category)):
        if values:
            conds.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier("a", column)))
            params.append(list(values))
    if flt.animal is not None:
        conds.append(sql.SQL("a.animal_id = %s"))
        params.append(flt.animal)
    return sql.SQL(" AND ").join(conds), params


def list_alerts(
    conn: Conn, clinic: str | None, flt: AlertFilter, *, limit: int, offset: int = 0
) -> tuple[list[AlertRow], int]:
    """A page of alerts, most severe first, then the most recently seen (``window_end``); and the total count."""
    where, params = _where(clinic, flt)
    total = conn.execute(sql.SQL("SELECT count(*) FROM alerts a WHERE {}").format(where), params).fetchone()
    query = sql.SQL("SELECT {} {} WHERE {} ORDER BY {} DESC, a.window_end DESC, a.id DESC LIMIT %s OFFSET %s").format(
        _COLUMNS, _FROM, where, _SEVERITY_RANK
    )
    with conn.cursor(row_factory=class_row(AlertRow)) as cur:
        rows = cur.execute(query, [*params, limit, offset]).fetchall()
    return rows, int(total[0]) if total else 0


def find_alert(conn: Conn, clinic: str | None, alert_id: int) -> AlertRow | None:
    """The alert ``alert_id`` if it exists within ``clinic``."""
    where, params = _where(clinic, AlertFilter())
    query = sql.SQL("SELECT {} {} WHERE {} AND a.id = %s").format(_COLUMNS, _FROM, where)
    with conn.cursor(row_factory=class_row(AlertRow)) as cur:
        return cur.execute(query, [*params, alert_id]).fetchone()


def history(conn: Conn, object_type: str, object_id: str) -> list[HistoryEntry]:
    """The audit log's lines about one object, oldest first."""
    with conn.cursor(row_factory=class_row(HistoryEntry)) as cur:
        return cur.execute(
            "SELECT at, actor, action, detail FROM audit_log WHERE object_type = %s AND object_id = %s ORDER BY at, id",
            (object_type, object_id),
        ).fetchall()


def get_alert(conn: Conn, clinic: str | None, alert_id: int) -> AlertDetail | None:
    """One alert with its evidence, its history (who acknowledged or resolved it, when, with which note) and the
    drafts written from it; None if it is not within ``clinic``."""
    alert = find_alert(conn, clinic, alert_id)
    if alert is None:
        return None
    evidence = conn.execute("SELECT evidence FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    drafts = conn.execute("SELECT id FROM drafts WHERE %s = ANY(alert_ids) ORDER BY id", (alert_id,)).fetchall()
    return AlertDetail(
        alert=alert,
        evidence=dict(evidence[0]) if evidence else {},
        history=history(conn, "alert", str(alert_id)),
        draft_ids=[int(r[0]) for r in drafts],
    )


def acknowledge_alert(conn: Conn, clinic: str | None, alert_id: int, actor: str) -> AlertRow | None:
    """Acknowledge an open alert as ``actor``; None if it is not within ``clinic``; AlertError unless it is open."""
    if find_alert(conn, clinic, alert_id) is None:
        return None
    acknowledge(conn, alert_id, actor)
    return find_alert(conn, clinic, alert_id)


def resolve_alert(conn: Conn, clinic: str | None, alert_id: int, actor: str, note: str = "") -> AlertRow | None:
    """Resolve an alert by hand as ``actor`` with ``note`` (kept in the audit log); None if it is not within
    ``clinic``; AlertError if it is already resolved."""
    if find_alert(conn, clinic, alert_id) is None:
        return None
    resolve(conn, alert_id, actor, note)
    return find_alert(conn, clinic, alert_id)
