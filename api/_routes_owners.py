"""``/api/v1/owners``: owners and farms. Admins and vets create and change, staff read; an owner account reads its
own record (no other owner's: 404). A device account: 403.

An owner's ``webhook_url`` is where the delivery worker POSTs approved messages: http(s) without credentials, and
not an IP address of a non-public range (422 on ``webhook_url``) unless ``VIGIE_WEBHOOK_ALLOW_PRIVATE``; a host
name is resolved and checked at each delivery (``api/_webhook_target.py``, docs/delivery.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from pydantic import BeforeValidator, Field

from api._deps import CLINIC_READERS, VETS, AppSettings, Caller, Db, forbid_unless
from api._models import Body, Out
from api._params import Page
from api._registry_shared import (
    CONFLICT,
    NOT_FOUND,
    READERS_AND_OWNERS,
    GlucoseUnit,
    Language,
    Name,
    NewId,
    PathId,
    QueryId,
    RefId,
    Resource,
    ensure_free,
    invalid,
    target_clinic,
    visible,
)
from api._store_registry import record, update_row
from api._webhook_target import url_problem
from vigie import registry
from vigie.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["registry"])

Email = Annotated[
    str, Field(max_length=254, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
]


def _webhook_shape(value: Any) -> Any:
    """The checks of a webhook URL that need no setting: http(s), a host, no credentials (a clear 422 message)."""
    if isinstance(value, str):
        problem = url_problem(value, allow_private=True)
        if problem is not None:
            raise ValueError(problem)
    return value


# the pattern is the schema's; the before-validator (run first) gives refusals a clear message
WebhookUrl = Annotated[
    str, Field(max_length=2000, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$"), BeforeValidator(_webhook_shape)
]


class OwnerOut(Out):
    id: str
    clinic_id: str
    kind: str
    name: str
    email: str | None
    language: str | None
    glucose_unit: str | None
    webhook_url: str | None
    created_at: datetime


class OwnerPage(Out):
    items: list[OwnerOut]
    total: int
    limit: int
    offset: int


class OwnerIn(Body):
    id: NewId
    clinic_id: RefId | None = Field(default=None, description="an admin names the clinic; others get their own")
    kind: Literal["owner", "farm"] = "owner"
    name: Name
    email: Email | None = None
    language: Language | None = Field(default=None, description="null: the clinic's language")
    glucose_unit: GlucoseUnit | None = Field(default=None, description="null: the clinic's unit")
    webhook_url: WebhookUrl | None = None


class OwnerPatch(Body):
    name: Name | None = None
    email: Email | None = None
    language: Language | None = None
    glucose_unit: GlucoseUnit | None = None
    webhook_url: WebhookUrl | None = None


OWNERS = Resource("owners", OwnerOut, OwnerPage)


def _webhook_allowed(settings: Settings, url: str | None) -> None:
    """422 on ``webhook_url`` naming a non-public IP address (unless ``webhook_allow_private``); a host name is
    checked by the delivery worker each time it connects (``api/_webhook_target.py``)."""
    if url is not None:
        problem = url_problem(url, allow_private=settings.webhook_allow_private)
        if problem is not None:
            raise invalid(("body", "webhook_url"), problem, url)


@router.get("/owners", tags=["owners"])
def get_owners(
    caller: Caller,
    conn: Db,
    page: Page,
    clinic_id: QueryId = None,
    kind: Literal["owner", "farm"] | None = None,
) -> OwnerPage:
    """Owners and farms of the caller's clinic (every clinic for an admin), by id."""
    return OWNERS.list_page(caller, conn, page, {"clinic_id": clinic_id, "kind": kind}, readers=CLINIC_READERS)


@router.post("/owners", tags=["owners"], status_code=status.HTTP_201_CREATED, responses=NOT_FOUND | CONFLICT)
def post_owner(caller: Caller, conn: Db, settings: AppSettings, body: OwnerIn) -> OwnerOut:
    """Register an owner or a farm."""
    forbid_unless(caller, VETS)
    _webhook_allowed(settings, body.webhook_url)
    clinic = target_clinic(conn, caller, body.clinic_id)
    ensure_free(conn, "owners", body.id)
    registry.add_owner(
        conn, body.id, clinic=clinic, name=body.name, kind=body.kind, email=body.email, language=body.language
    )
    update_row(conn, "owners", body.id, {"glucose_unit": body.glucose_unit, "webhook_url": body.webhook_url})
    record(conn, caller.name, "owner.create", clinic, "owner", body.id)
    return OwnerOut(**visible(conn, caller, "owners", body.id))


@router.get("/owners/{owner_id}", tags=["owners"], responses=NOT_FOUND)
def get_owner(caller: Caller, conn: Db, owner_id: PathId) -> OwnerOut:
    """One owner or farm (an owner account reads its own record)."""
    return OWNERS.get(caller, conn, owner_id, readers=READERS_AND_OWNERS)


@router.patch("/owners/{owner_id}", tags=["owners"], responses=NOT_FOUND)
def patch_owner(caller: Caller, conn: Db, settings: AppSettings, owner_id: PathId, body: OwnerPatch) -> OwnerOut:
    """Change an owner's name, contact and preferences (fields left out are kept; null clears an optional one)."""
    return OWNERS.patch(
        caller,
        conn,
        owner_id,
        body,
        not_null=("name",),
        check=lambda _row, changes: _webhook_allowed(settings, changes.get("webhook_url")),
    )
