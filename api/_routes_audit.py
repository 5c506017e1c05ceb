"""``/api/v1/audit``: the clinic's append-only audit log (vets and admins), newest first, paginated.

Filters: ``object_type`` and ``object_id`` (one alert, one draft, one rule's overrides), ``action`` and ``actor``.
Staff, owners and devices get 403: the log holds rejection reasons and notes that are the vets' own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from psycopg import sql

from api._deps import VETS, Caller, Db, clinic_filter, forbid_unless
from api._models import Out
from api._params import COMMON_RESPONSES, TEXT_PATTERN, Page
from rules._store import Conn

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=COMMON_RESPONSES)


class AuditOut(Out):
    id: int
    at: datetime
    actor: str
    action: str
    clinic_id: str | None
    object_type: str
    object_id: str
    detail: dict[str, Any]


class AuditPage(Out):
    items: list[AuditOut]
    total: int
    limit: int
    offset: int


def audit_entries(
    conn: Conn,
    clinic: str | None,
    *,
    filters: dict[str, str | None],
    limit: int,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the audit log of ``clinic`` (None: every clinic), newest first, with ``filters`` (column -> value:
    object_type, object_id, action, actor); and the total count."""
    conds: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if clinic is not None:
        conds.append(sql.SQL("clinic_id = %s"))
        params.append(clinic)
    for column, value in filters.items():
        if value is not None:
            conds.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    where = sql.SQL(" AND ").join(conds)
    total = conn.execute(sql.SQL("SELECT count(*) FROM audit_log WHERE {}").format(where), params).fetchone()
    rows = conn.execute(
        sql.SQL(
            "SELECT id, at, actor, action, clinic_id, object_type, object_id, detail FROM audit_log WHERE {}"
            " ORDER BY at DESC, id DESC LIMIT %s OFFSET %s"
        ).format(where),
        [*params, limit, offset],
    ).fetchall()
    keys = ("id", "at", "actor", "action", "clinic_id", "object_type", "object_id", "detail")
    return [dict(zip(keys, r, strict=True)) for r in rows], int(total[0]) if total else 0


@router.get("")
def get_audit(
    caller: Caller,
    conn: Db,
    page: Page,
    object_type: Annotated[
        str | None, Query(max_length=32, pattern=TEXT_PATTERN, description="alert, draft, rule, ...")
    ] = None,
    object_id: Annotated[str | None, Query(max_length=128, pattern=TEXT_PATTERN)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=TEXT_PATTERN, description="e.g. draft.approve")] = None,
    actor: Annotated[str | None, Query(max_length=128, pattern=TEXT_PATTERN)] = None,
) -> AuditPage:
    """The audit log of the caller's clinic (an admin: of every clinic), newest first."""
    forbid_unless(caller, VETS)
    filters = {"object_type": object_type, "object_id": object_id, "action": action, "actor": actor}
    rows, total = audit_entries(conn, clinic_filter(caller), filters=filters, limit=page.limit, offset=page.offset)
    return AuditPage(
        items=[AuditOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )
