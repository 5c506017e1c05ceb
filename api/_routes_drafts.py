"""``/api/v1/drafts``: recommendation drafts a vet approves (as drafted or edited) or rejects with a reason.

Who may do what:

- admin, vet: read, approve, edit then approve, reject;
- staff: read only (403 on the decisions);
- owner: nothing here (403): an owner reads approved messages only (``/api/v1/messages``), never a draft;
- device: nothing (403).

A draft of another clinic is 404. Deciding a draft that is already decided is 409. An approval queues exactly one
outbox row with the final text (the edited text, or the draft's own) and the vet's name; the draft's own text is
kept in ``body``. Each response carries the delivery status of that outbox row once there is one.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field

from api._deps import CLINIC_READERS, VETS, Caller, Db, clinic_filter, forbid_unless, not_found
from api._models import Body, Out
from api._params import COMMON_RESPONSES, ID_PATTERN, REQUIRED_TEXT_PATTERN, Page
from api._store_drafts import DraftFilter, DraftRow, approve_draft, get_draft, list_drafts, reject_draft
from rules._errors import DraftError
from rules._model import Category, Severity

router = APIRouter(prefix="/api/v1/drafts", tags=["drafts"], responses=COMMON_RESPONSES)

DraftStatus = Literal["pending", "approved", "edited", "rejected"]
_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "the draft is already decided"}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such draft in the caller's clinic"}}


class DeliveryOut(Out):
    status: Literal["queued", "sending", "sent", "failed"]
    channel: str
    recipient: str | None
    subject: str | None
    attempts: int
    last_error: str | None
    queued_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None


class DraftOut(Out):
    id: int
    clinic_id: str
    animal_id: str | None
    animal_name: str | None
    owner_id: str | None
    audience: str
    language: str
    status: DraftStatus
    severity: str | None = Field(description="the worst severity of the draft's alerts")
    categories: list[str]
    alert_ids: list[int]
    body: str = Field(description="the text as drafted (kept when the vet edits it)")
    final_body: str | None = Field(description="the text as approved; only this reaches the owner")
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reject_reason: str | None
    delivery: DeliveryOut | None = Field(description="the outbox row of an approved draft (list: always null)")


class DraftPage(Out):
    items: list[DraftOut]
    total: int
    limit: int
    offset: int


class ApproveIn(Body):
    body: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=20_000,
            pattern=REQUIRED_TEXT_PATTERN,
            description="the vet's edited text; omit it to approve as drafted",
        ),
    ] = None


class RejectIn(Body):
    reason: Annotated[
        str,
        Field(min_length=1, max_length=2000, pattern=REQUIRED_TEXT_PATTERN, description="why the draft is not sent"),
    ]


def _out(row: DraftRow) -> DraftOut:
    data: dict[str, Any] = asdict(row)
    return DraftOut.model_validate(data)


@router.get("")
def get_drafts(
    caller: Caller,
    conn: Db,
    page: Page,
    status_: Annotated[list[DraftStatus] | None, Query(alias="status")] = None,
    severity: Annotated[list[Severity] | None, Query(description="the worst severity of the draft's alerts")] = None,
    category: Annotated[list[Category] | None, Query(description="a category of one of the draft's alerts")] = None,
    animal: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> DraftPage:
    """The clinic's drafts, pending first, then the newest; each filter may be repeated."""
    forbid_unless(caller, CLINIC_READERS)
    flt = DraftFilter(status=status_ or (), severity=severity or (), category=category or (), animal=animal)
    rows, total = list_drafts(conn, clinic_filter(caller), flt, limit=page.limit, offset=page.offset)
    return DraftPage(items=[_out(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{draft_id}", responses=_NOT_FOUND)
def get_one_draft(caller: Caller, conn: Db, draft_id: int) -> DraftOut:
    """One draft with its delivery status (queued, sending, sent or failed; attempts; last error)."""
    forbid_unless(caller, CLINIC_READERS)
    row = get_draft(conn, clinic_filter(caller), draft_id)
    if row is None:
        raise not_found("draft", draft_id)
    return _out(row)


@router.post("/{draft_id}/approve", responses=_NOT_FOUND | _CONFLICT)
def post_approve(caller: Caller, conn: Db, draft_id: int, body: ApproveIn | None = None) -> DraftOut:
    """Approve a pending draft (vets): as drafted, or with ``body`` as the edited text. Queues its delivery."""
    forbid_unless(caller, VETS)
    try:
        row = approve_draft(conn, clinic_filter(caller), draft_id, caller.name, None if body is None else body.body)
    except DraftError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if row is None:
        raise not_found("draft", draft_id)
    return _out(row)


@router.post("/{draft_id}/reject", responses=_NOT_FOUND | _CONFLICT)
def post_reject(caller: Caller, conn: Db, draft_id: int, body: RejectIn) -> DraftOut:
    """Reject a pending draft with a reason (vets). Nothing is sent."""
    forbid_unless(caller, VETS)
    try:
        row = reject_draft(conn, clinic_filter(caller), draft_id, caller.name, body.reason)
    except DraftError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if row is None:
        raise not_found("draft", draft_id)
    return _out(row)
