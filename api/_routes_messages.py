"""``/api/v1/messages``: what owners and farmers read, the vet's approved messages about their animals.

A message is an approved draft (as drafted or edited by the vet) and only its final text is shown: a pending or
rejected draft, or the text as first drafted, is never a message (404, like an id that does not exist). The text is
in the language it was written in, the owner's (else the clinic's) when the draft was made.

- owner: the messages about the animals of the owner or farm the account speaks for;
- admin, vet, staff: the messages of their clinic (an admin: of every clinic), to see what an owner was told;
- device: nothing (403).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api._accounts import Principal, Role
from api._deps import Caller, Db, clinic_filter, forbid_unless, not_found
from api._models import Out
from api._params import COMMON_RESPONSES, ID_PATTERN, Page
from api._store_drafts import get_message, list_messages

router = APIRouter(prefix="/api/v1/messages", tags=["messages"], responses=COMMON_RESPONSES)

READERS: frozenset[Role] = frozenset({"admin", "vet", "staff", "owner"})


class MessageOut(Out):
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


class MessagePage(Out):
    items: list[MessageOut]
    total: int
    limit: int
    offset: int


def _owner(caller: Principal) -> str | None:
    # an owner account without its owner id would see nothing rather than everything
    return (caller.owner_id or "") if caller.role == "owner" else None


@router.get("")
def get_messages(
    caller: Caller, conn: Db, page: Page, animal: Annotated[str | None, Query(pattern=ID_PATTERN)] = None
) -> MessagePage:
    """Approved messages, newest first (an owner: about their own animals only)."""
    forbid_unless(caller, READERS)
    rows, total = list_messages(
        conn, clinic_filter(caller), owner=_owner(caller), animal=animal, limit=page.limit, offset=page.offset
    )
    return MessagePage(
        items=[MessageOut.model_validate(asdict(r)) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{message_id}", responses={404: {"description": "no such approved message for the caller"}})
def get_one_message(caller: Caller, conn: Db, message_id: int) -> MessageOut:
    """One approved message."""
    forbid_unless(caller, READERS)
    row = get_message(conn, clinic_filter(caller), message_id, owner=_owner(caller))
    if row is None:
        raise not_found("message", message_id)
    return MessageOut.model_validate(asdict(row))
