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

This module also holds the pagination dependency the other care routes share (``Paging``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from api._deps import CLINIC_READERS, VETS, AppSettings, Caller, Db, clinic_filter, forbid_unless, not_found
from api._models import Body, Out
from api._store_alerts import AlertFilter, AlertRow, acknowledge_alert, get_alert, list_alerts, resolve_alert
from rules._errors import AlertError
from rules._model import Category, Severity
from vigie.settings import Settings

# every care route answers these besides its own (documented so that the OpenAPI document is complete)
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, unknown, revoked or expired bearer token"},
    403: {"description": "the caller's role may not do this"},
}
router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=COMMON_RESPONSES)

AlertStatus = Literal["open", "acknowledged", "resolved"]
ACKNOWLEDGERS = CLINIC_READERS  # admin, vet, staff
# what ids of the registry look like (the vigie_id domain); a query or path id of another shape is 422, not a 500
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
# free text stored in the database: PostgreSQL text cannot hold NUL characters
TEXT_PATTERN = r"^[^\x00]*$"
# required free text: at least one character that is not a space (request bodies are stripped of spaces)
REQUIRED_TEXT_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the object is not in a state that allows this action"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such object in the caller's clinic"}}


# The largest page the OpenAPI document promises: the default of ``api_page_max``. A deployment may lower the
# maximum (a larger limit is then 422 too); it cannot raise it above what the document says.
PAGE_CEILING: int = Settings.model_fields["api_page_max"].default


@dataclass(frozen=True, slots=True)
class Paging:
    """``limit`` (1 … ``api_page_max``) and ``offset`` of a list request."""

    limit: int
    offset: int


def paging(
    settings: AppSettings,
    limit: Annotated[
        int, Query(ge=1, le=PAGE_CEILING, description="page size (at most the server's api_page_max)")
    ] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Paging:
    """The page a list request asks for (422 on ``limit`` above the server's maximum)."""
    if limit > settings.api_page_max:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("query", "limit"),
                    "msg": f"Input should be less than or equal to {settings.api_page_max}",
                    "input": limit,
                    "ctx": {"le": settings.api_page_max},
                }
            ]
        )
    return Paging(limit, offset)


Page = Annotated[Paging, Depends(paging)]


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


@router.get("/{alert_id}", responses=_NOT_FOUND)
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


@router.post("/{alert_id}/acknowledge", responses=_NOT_FOUND | _CONFLICT)
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


@router.post("/{alert_id}/resolve", responses=_NOT_FOUND | _CONFLICT)
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
