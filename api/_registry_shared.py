"""What the registry routes share (``_routes_clinics``, ``_routes_owners``, ``_routes_animals``, ``_routes_devices``).

The field types of their bodies, the tenancy helpers, and :class:`Resource`, the list / get / patch shape every
registry resource repeats:

- **list**: the caller's role among ``readers`` (else 403), the rows of the caller's clinic (every clinic for an
  admin) matching the filters, by id, one page;
- **get**: the row if the caller may see it (another clinic's, or another owner's, is 404 like a missing one);
- **patch**: vets and admins; the row is locked, the fields the body names (and only those) are changed, the change
  is audited as ``{kind}.update`` with the changed field names.

Ids are global (they name MQTT topics), so creating an id that exists anywhere is 409. Nothing is deleted: readings,
alerts and the audit log refer to these rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from api._accounts import Conn, Principal, Role
from api._deps import CLINIC_READERS, VETS, clinic_filter, forbid_unless, not_found
from api._models import Body, Out
from api._params import ID_PATTERN, Paging
from api._store_registry import get_row, id_taken, list_rows, record, update_row

NewId = Annotated[str, Field(pattern=ID_PATTERN, description="letters, digits and _ . : - (at most 64)")]
RefId = Annotated[str, Field(pattern=ID_PATTERN)]
PathId = Annotated[str, Path(pattern=ID_PATTERN, description="an id (letters, digits and _ . : -)")]
QueryId = Annotated[str | None, Query(pattern=ID_PATTERN)]
Language = Literal["fr", "en"]
GlucoseUnit = Literal["mg/dL", "mmol/L", "g/L"]
# text the database stores: no control characters (PostgreSQL text cannot even hold NUL)
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such object in the caller's clinic"}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "the id is already taken"}}
READERS_AND_OWNERS: frozenset[Role] = CLINIC_READERS | {"owner"}


def invalid(loc: tuple[str | int, ...], msg: str, value: Any = None) -> RequestValidationError:
    """A 422 naming the field at ``loc`` (the same shape as FastAPI's own validation errors)."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}])


def target_clinic(conn: Conn, caller: Principal, clinic_id: str | None) -> str:
    """The clinic a new row goes to: the caller's own, or (an admin) the one named, which must exist."""
    mine = clinic_filter(caller)
    if mine is None and clinic_id is None:
        raise invalid(("body", "clinic_id"), "an admin must name the clinic")
    target = clinic_id or mine
    assert target is not None  # noqa: S101 - narrowed above
    if get_row(conn, "clinics", target, clinic=mine) is None:
        raise not_found("clinic", target)
    return target


def ensure_free(conn: Conn, table: str, id_: str) -> None:
    """409 when ``id_`` exists in ``table`` (in any clinic)."""
    if id_taken(conn, table, id_):
        raise HTTPException(status.HTTP_409_CONFLICT, f"id {id_!r} is already taken")


def visible(conn: Conn, caller: Principal, table: str, id_: str, *, lock: bool = False) -> dict[str, Any]:
    """The row if the caller may see it (their clinic; an owner: their own), else 404."""
    owner = caller.owner_id if caller.role == "owner" else None
    row = get_row(conn, table, id_, clinic=clinic_filter(caller), owner=owner, lock=lock)
    if row is None:
        raise not_found(table.removesuffix("s"), id_)
    return row


OutT = TypeVar("OutT", bound=Out)
PageT = TypeVar("PageT", bound=Out)
Check = Callable[[dict[str, Any], dict[str, Any]], None]  # (the row before, the changes) -> None or raise


@dataclass(frozen=True, slots=True)
class Resource(Generic[OutT, PageT]):
    """One registry table served as ``out`` rows and ``page`` lists (the response models of its routes)."""

    table: str  # "owners"
    out: type[OutT]
    page: type[PageT]

    @property
    def kind(self) -> str:
        """The singular: the audit log's object type, the 404's wording."""
        return self.table.removesuffix("s")

    def list_page(
        self, caller: Principal, conn: Conn, paging: Paging, filters: dict[str, Any], *, readers: frozenset[Role]
    ) -> PageT:
        """A page of the rows the caller may see, matching ``filters`` (None values ignored)."""
        forbid_unless(caller, readers)
        rows, total = list_rows(
            conn, self.table, filters, clinic=clinic_filter(caller), limit=paging.limit, offset=paging.offset
        )
        return self.empty(paging, items=[self.out(**r) for r in rows], total=total)

    def empty(self, paging: Paging, *, items: list[OutT] | None = None, total: int = 0) -> PageT:
        """A page (empty unless ``items``)."""
        return self.page.model_validate(
            {"items": items or [], "total": total, "limit": paging.limit, "offset": paging.offset}
        )

    def get(self, caller: Principal, conn: Conn, id_: str, *, readers: frozenset[Role]) -> OutT:
        """One row the caller may see."""
        forbid_unless(caller, readers)
        return self.out(**visible(conn, caller, self.table, id_))

    def patch(
        self,
        caller: Principal,
        conn: Conn,
        id_: str,
        body: Body,
        *,
        not_null: tuple[str, ...] = (),
        check: Check | None = None,
    ) -> OutT:
        """Change the fields ``body`` names (vets and admins): ``not_null`` fields refuse null, ``check`` sees the
        locked row and the changes before they are written; audited as ``{kind}.update``."""
        forbid_unless(caller, VETS)
        row = visible(conn, caller, self.table, id_, lock=True)
        changes = {name: getattr(body, name) for name in type(body).model_fields if name in body.model_fields_set}
        for name in not_null:
            if name in changes and changes[name] is None:
                raise invalid(("body", name), "may not be null")
        if check is not None:
            check(row, changes)
        updated = update_row(conn, self.table, id_, changes)
        clinic = row["clinic_id"] if self.table != "clinics" else id_
        record(conn, caller.name, f"{self.kind}.update", clinic, self.kind, id_, fields=sorted(changes))
        return self.out(**updated)
