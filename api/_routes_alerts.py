"""``/api/v1/alerts``: the clinic's alerts (list, one with its evidence), acknowledge, resolve.

Who may do what:

- admin, vet: read, acknowledge, resolve;
- staff: read and acknowledge ("seen, the vet is told"), not resolve: resolving by hand tells the rules engine that
  the episode is dealt with (it will not raise it again), which is a vet's decision;
- owner: nothing here (403): an owner reads the vet's approved messages (``/api/v1/messages``), never an alert's
  internals (thresholds, rule versions, staff notes);
- device: nothing (403).

An alert of another clinic is 404, like one that does not exist. An action on an alert in the wrong state (an
acknowledged alert acknowledged again, a resolved one resolved again) is 409.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field

from api._deps import CLINIC_READERS, VETS, Caller, Db, clinic_filter, forbid_unless, not_found
from api._models import Body, Out
from api._params import COMMON_RESPONSES, CONFLICT, ID_PATTERN, NOT_FOUND, TEXT_PATTERN, Page
from api._store_alerts import AlertFilter, AlertRow, acknowledge_alert, get_alert, list_alerts, resolve_alert
from rules._errors import AlertError
from rules._model import Category, Severity

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=COMMON_RESPONSES)

AlertStatus = Literal["open", "acknowledged", "resolved"]
ACKNOWLEDGERS = CLINIC_READERS  # admin, vet, staff


class AlertOut(Out):
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


class AlertPage(Out):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class HistoryOut(Out):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class AlertDetailOut(AlertOut):
    evidence: dict[str, Any] = Field(
        description="values (sampled), window, threshold, extreme value, rule id, source tag, basis, rule version"
    )
    history: list[HistoryOut]
    draft_ids: list[int]


class ResolveIn(Body):
    note: Annotated[
        str, Field(max_length=2000, pattern=TEXT_PATTERN, description="why it is resolved (kept in the audit log)")
    ] = ""


def _out(row: AlertRow, language: str, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    data = asdict(row)
    # the explanation in the caller's language when the evidence has it (alerts store the clinic's language)
    if evidence is not None and isinstance(evidence.get(f"explanation_{language}"), str):
        data["explanation"] = evidence[f"explanation_{language}"]
    return data


@router.get("")
def get_alerts(
    caller: Caller,
    conn: Db,
    page: Page,
    status_: Annotated[list[AlertStatus] | None, Query(alias="status")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    category: Annotated[list[Category] | None, Query()] = None,
    animal: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> AlertPage:
    """The clinic's alerts, most severe first, then the most recently seen; each filter may be repeated."""
    forbid_unless(caller, CLINIC_READERS)
    flt = AlertFilter(status=status_ or (), severity=severity or (), category=category or (), animal=animal)
    rows, total = list_alerts(conn, clinic_filter(caller), flt, limit=page.limit, offset=page.offset)
    return AlertPage(
        items=[AlertOut.model_validate(asdict(r)) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{alert_id}", responses=NOT_FOUND)
def get_one_alert(caller: Caller, conn: Db, alert_id: int) -> AlertDetailOut:
    """One alert with its evidence, its history (audit log) and the drafts written from it."""
    forbid_unless(caller, CLINIC_READERS)
    found = get_alert(conn, clinic_filter(caller), alert_id)
    if found is None:
        raise not_found("alert", alert_id)
    return AlertDetailOut.model_validate(
        {
            **_out(found.alert, caller.language, found.evidence),
            "evidence": found.evidence,
            "history": [asdict(h) for h in found.history],
            "draft_ids": found.draft_ids,
        }
    )


@router.post("/{alert_id}/acknowledge", responses=NOT_FOUND | CONFLICT)
def post_acknowledge(caller: Caller, conn: Db, alert_id: int) -> AlertOut:
    """Acknowledge an open alert (vets and staff): it stays the one open alert of its condition."""
    forbid_unless(caller, ACKNOWLEDGERS)
    try:
        row = acknowledge_alert(conn, clinic_filter(caller), alert_id, caller.name)
    except AlertError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if row is None:
        raise not_found("alert", alert_id)
    return AlertOut.model_validate(asdict(row))


@router.post("/{alert_id}/resolve", responses=NOT_FOUND | CONFLICT)
def post_resolve(caller: Caller, conn: Db, alert_id: int, body: ResolveIn | None = None) -> AlertOut:
    """Resolve an open or acknowledged alert by hand (vets), with an optional note kept in the audit log."""
    forbid_unless(caller, VETS)
    note = body.note if body is not None else ""
    try:
        row = resolve_alert(conn, clinic_filter(caller), alert_id, caller.name, note)
    except AlertError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if row is None:
        raise not_found("alert", alert_id)
    return AlertOut.model_validate(asdict(row))
