"""Data access of the registry routes: clinics, owners / farms, animals, devices, scoped to the caller's clinic.

Plain functions over a sync psycopg connection (the request's transaction); every query is parameterised. A
``clinic`` argument of ``None`` means "every clinic" (an admin); an ``owner`` argument limits to that owner's rows.
Rows come back as dicts whose keys are the columns, ready for the response models.
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api._accounts import Conn

CLINIC_COLUMNS = "id, name, language, glucose_unit, created_at"
OWNER_COLUMNS = "id, clinic_id, kind, name, email, language, glucose_unit, webhook_url, created_at"
ANIMAL_COLUMNS = "id, clinic_id, owner_id, name, species, birth_date, weight_kg, calving_date, created_at"
DEVICE_COLUMNS = (
    "id, kind, clinic_id, animal_id, enabled, credentials_hash IS NOT NULL AS has_credentials, last_seen,"
    " availability, availability_at, created_at"
)
_COLUMNS = {"clinics": CLINIC_COLUMNS, "owners": OWNER_COLUMNS, "animals": ANIMAL_COLUMNS, "devices": DEVICE_COLUMNS}
# the columns a PATCH may change, per table (nothing else ever reaches an UPDATE)
PATCHABLE = {
    "clinics": ("name", "language", "glucose_unit"),
    "owners": ("name", "email", "language", "glucose_unit", "webhook_url"),
    "animals": ("name", "owner_id", "birth_date", "weight_kg", "calving_date"),
    "devices": ("animal_id",),
}


def _rows(conn: Conn, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def get_row(
    conn: Conn, table: str, id_: str, *, clinic: str | None, owner: str | None = None, lock: bool = False
) -> dict[str, Any] | None:
    """One row of ``table`` if it is visible: of ``clinic`` (None: any) and, for an owner, their own."""
    owner_col = {"owners": "id", "animals": "owner_id"}.get(table)
    scope = "id" if table == "clinics" else "clinic_id"
    query = f"SELECT {_COLUMNS[table]} FROM {table} WHERE id = %(id)s AND (%(clinic)s::text IS NULL OR {scope} = %(clinic)s)"  # noqa: S608 - names from this module
    if owner is not None:
        if owner_col is None:
            return None
        query += f" AND {owner_col} = %(owner)s"
    if lock:
        query += " FOR UPDATE"
    rows = _rows(conn, query, {"id": id_, "clinic": clinic, "owner": owner})
    return rows[0] if rows else None


def list_rows(
    conn: Conn, table: str, filters: dict[str, Any], *, clinic: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of ``table`` (by id) matching ``filters`` (column → value; None values are ignored) and its total."""
    where = ["(%(clinic)s::text IS NULL OR " + ("id" if table == "clinics" else "clinic_id") + " = %(clinic)s)"]
    params: dict[str, Any] = {"clinic": clinic, "limit": limit, "offset": offset}
    for i, (column, value) in enumerate(sorted(filters.items())):
        if value is None:
            continue
        if column not in {"clinic_id", "kind", "owner_id", "species", "animal_id", "enabled"}:
            raise ValueError(f"not a filter: {column}")
        where.append(f"{column} = %(f{i})s")
        params[f"f{i}"] = value
    cond = " AND ".join(where)
    select = f"SELECT {_COLUMNS[table]}, count(*) OVER () AS total FROM {table} WHERE {cond}"  # noqa: S608
    rows = _rows(conn, select + " ORDER BY id LIMIT %(limit)s OFFSET %(offset)s", params)
    if rows:
        total = int(rows[0]["total"])
    else:
        counted = _rows(conn, f"SELECT count(*) AS total FROM {table} WHERE {cond}", params)  # noqa: S608
        total = int(counted[0]["total"])
    for row in rows:
        row.pop("total", None)
    return rows, total


def update_row(conn: Conn, table: str, id_: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply ``changes`` (columns of :data:`PATCHABLE` only) and return the row."""
    allowed = PATCHABLE[table]
    bad = set(changes) - set(allowed)
    if bad:
        raise ValueError(f"not patchable: {sorted(bad)}")
    if changes:
        sets = ", ".join(f"{column} = %({column})s" for column in allowed if column in changes)
        update = f"UPDATE {table} SET {sets} WHERE id = %(id)s"  # noqa: S608 - names from PATCHABLE
        conn.execute(update, {**changes, "id": id_})
    row = get_row(conn, table, id_, clinic=None)
    assert row is not None  # noqa: S101 - the caller found it in this transaction
    return row


def id_taken(conn: Conn, table: str, id_: str) -> bool:
    """True when ``id_`` exists in ``table`` (ids are global: they name MQTT topics and users)."""
    query = {
        "clinics": "SELECT 1 FROM clinics WHERE id = %s",
        "owners": "SELECT 1 FROM owners WHERE id = %s",
        "animals": "SELECT 1 FROM animals WHERE id = %s",
        "devices": "SELECT 1 FROM devices WHERE id = %s",
    }[table]
    return conn.execute(query, (id_,)).fetchone() is not None


def record(
    conn: Conn, actor: str, action: str, clinic_id: str | None, kind: str, object_id: str, **detail: Any
) -> None:
    """Append one line to the audit log (never a secret: callers pass ids and changed field names only)."""
    conn.execute(
        "INSERT INTO audit_log (actor, action, clinic_id, object_type, object_id, detail) VALUES (%s, %s, %s, %s, %s, %s)",
        (actor, action, clinic_id, kind, object_id, Jsonb(detail)),
    )
