"""What the web page reads from the database (sync psycopg, the request's transaction, parameterised SQL).

Tenancy as in the API: every query takes the caller's clinic (``None`` for an admin, who sees every clinic), so a row
of another clinic is simply not found. Drafts and owners' messages come from the API's own :mod:`api._store_drafts`;
what is here is what the pages need beyond the API's stores (the triage list in one query, the alerts of a chart's
period, the readings of a chart, the rule overrides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from api._accounts import Conn


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert as the pages show it."""

    id: int
    clinic_id: str
    animal_id: str | None
    category: str
    severity: str
    status: str
    window_start: datetime
    window_end: datetime
    explanation: str
    opened_at: datetime
    acknowledged_by: str | None
    resolved_by: str | None


@dataclass(frozen=True, slots=True)
class AnimalRow:
    """An animal with its owner and clinic."""

    id: str
    clinic_id: str
    name: str
    species: str
    owner_id: str | None
    owner_name: str
    clinic_name: str
    glucose_unit: str
    calving_date: date | None = None  # a cow's last calving (day 0 of her lactation), when known


@dataclass(frozen=True, slots=True)
class TriageRow:
    """One animal of the triage list."""

    animal: AnimalRow
    last_reading: datetime | None
    pending_drafts: int
    alerts: tuple[AlertRow, ...]


_ALERT_COLUMNS = (
    "al.id, al.clinic_id, al.animal_id, al.category, al.severity, al.status, al.window_start, al.window_end,"
    " al.explanation, al.opened_at, al.acknowledged_by, al.resolved_by"
)
_ANIMAL_COLUMNS = (
    "a.id, a.clinic_id, a.name, a.species, a.owner_id, coalesce(o.name, ''), c.name,"
    " coalesce(o.glucose_unit, c.glucose_unit), a.calving_date"
)


def _alert(r: Sequence[Any]) -> AlertRow:
    return AlertRow(
        int(r[0]), str(r[1]), r[2], str(r[3]), str(r[4]), str(r[5]), r[6], r[7], str(r[8]), r[9], r[10], r[11]
    )


def _animal(r: Sequence[Any]) -> AnimalRow:
    return AnimalRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], str(r[5]), str(r[6]), str(r[7]), r[8])


def clinic_glucose_unit(conn: Conn, clinic: str | None) -> str:
    """The clinic's glucose unit (mg/dL for an admin)."""
    if clinic is None:
        return "mg/dL"
    row = conn.execute("SELECT glucose_unit FROM clinics WHERE id = %s", (clinic,)).fetchone()
    return "mg/dL" if row is None else str(row[0])


def triage(conn: Conn, clinic: str | None, metrics: Sequence[str]) -> list[TriageRow]:
    """Every animal of the clinic with its last reading of ``metrics`` (30 days back at most), open alerts and
    pending drafts."""
    rows = conn.execute(
        f"""
        SELECT {_ANIMAL_COLUMNS}, lr.time,
               (SELECT count(*) FROM drafts d WHERE d.animal_id = a.id AND d.clinic_id = a.clinic_id
                AND d.status = 'pending')
        FROM animals a
        JOIN clinics c ON c.id = a.clinic_id
        LEFT JOIN owners o ON o.id = a.owner_id
        LEFT JOIN LATERAL (
            -- one backward index probe per metric on readings_natural_key (animal_id, metric, time)
            SELECT max(last.time) AS time FROM unnest(%(metrics)s::text[]) AS m(metric)
            CROSS JOIN LATERAL (
                SELECT r.time FROM readings r
                WHERE r.animal_id = a.id AND r.metric = m.metric AND r.clinic_id = a.clinic_id
                  AND r.time > now() - interval '30 days'
                ORDER BY r.time DESC LIMIT 1
            ) last
        ) lr ON true
        WHERE (%(clinic)s::text IS NULL OR a.clinic_id = %(clinic)s)
        """,  # noqa: S608 - fixed column lists, values are parameters
        {"clinic": clinic, "metrics": list(metrics)},
    ).fetchall()
    alerts: dict[str, list[AlertRow]] = {}
    for r in conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts al WHERE al.status <> 'resolved' AND al.animal_id IS NOT NULL"  # noqa: S608
        " AND (%(clinic)s::text IS NULL OR al.clinic_id = %(clinic)s) ORDER BY al.opened_at DESC",
        {"clinic": clinic},
    ):
        alert = _alert(r)
        alerts.setdefault(f"{alert.clinic_id}/{alert.animal_id}", []).append(alert)
    return [TriageRow(_animal(r), r[9], int(r[10]), tuple(alerts.get(f"{r[1]}/{r[0]}", ()))) for r in rows]


def animal(conn: Conn, clinic: str | None, animal_id: str, *, owner: str | None = None) -> AnimalRow | None:
    """One animal of the clinic (and of ``owner`` when given); None if unknown or another clinic's."""
    row = conn.execute(
        f"SELECT {_ANIMAL_COLUMNS} FROM animals a JOIN clinics c ON c.id = a.clinic_id"  # noqa: S608
        " LEFT JOIN owners o ON o.id = a.owner_id WHERE a.id = %(id)s"
        " AND (%(clinic)s::text IS NULL OR a.clinic_id = %(clinic)s)"
        " AND (%(owner)s::text IS NULL OR a.owner_id = %(owner)s)",
        {"id": animal_id, "clinic": clinic, "owner": owner},
    ).fetchone()
    return None if row is None else _animal(row)


def readings(
    conn: Conn, animal_row: AnimalRow, metrics: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, float]]]:
    """The animal's readings of ``metrics`` with ``start ≤ time < end``, per metric, in time order."""
    out: dict[str, list[tuple[datetime, float]]] = {m: [] for m in metrics}
    for time, metric, value in conn.execute(
        "SELECT time, metric, value FROM readings WHERE animal_id = %s AND clinic_id = %s AND metric = ANY(%s)"
        " AND time >= %s AND time < %s ORDER BY time",
        (animal_row.id, animal_row.clinic_id, list(metrics), start, end),
    ):
        out[str(metric)].append((time, float(value)))
    return out


def last_reading(conn: Conn, animal_row: AnimalRow) -> datetime | None:
    """The time of the animal's most recent reading (30 days back at most)."""
    row = conn.execute(
        "SELECT max(time) FROM readings WHERE animal_id = %s AND clinic_id = %s AND time > now() - interval '30 days'",
        (animal_row.id, animal_row.clinic_id),
    ).fetchone()
    return None if row is None else row[0]


def animal_alerts(conn: Conn, animal_row: AnimalRow, since: datetime) -> list[AlertRow]:
    """The animal's alerts still open, and those whose window reaches into ``[since, now]``; newest first."""
    return [
        _alert(r)
        for r in conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts al WHERE al.animal_id = %s AND al.clinic_id = %s"  # noqa: S608
            " AND (al.status <> 'resolved' OR al.window_end >= %s) ORDER BY al.window_start DESC LIMIT 200",
            (animal_row.id, animal_row.clinic_id, since),
        )
    ]


def alert(conn: Conn, clinic: str | None, alert_id: int) -> AlertRow | None:
    """One alert of the clinic; None if unknown or another clinic's."""
    row = conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts al WHERE al.id = %(id)s"  # noqa: S608
        " AND (%(clinic)s::text IS NULL OR al.clinic_id = %(clinic)s)",
        {"id": alert_id, "clinic": clinic},
    ).fetchone()
    return None if row is None else _alert(row)


def alerts_by_id(conn: Conn, clinic: str, ids: Sequence[int]) -> list[AlertRow]:
    """The alerts ``ids`` of a clinic."""
    return [
        _alert(r)
        for r in conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts al WHERE al.id = ANY(%s) AND al.clinic_id = %s"  # noqa: S608
            " ORDER BY al.window_start",
            (list(ids), clinic),
        )
    ]


def rule_overrides(conn: Conn, animal_row: AnimalRow) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The clinic's and the animal's rule overrides (rule id -> parameters)."""
    clinic: dict[str, dict[str, Any]] = {}
    own: dict[str, dict[str, Any]] = {}
    for animal_id, rule_id, params in conn.execute(
        "SELECT animal_id, rule_id, params FROM rule_overrides WHERE clinic_id = %s"
        " AND (animal_id IS NULL OR animal_id = %s)",
        (animal_row.clinic_id, animal_row.id),
    ):
        (clinic if animal_id is None else own)[str(rule_id)] = dict(params)
    return clinic, own
