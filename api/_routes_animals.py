"""``/api/v1/animals``: admins and vets create and change, staff read, an owner reads their own animals (another
owner's animal is 404). A device account: 403. An animal's owner, when given, belongs to its clinic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from api._accounts import Conn
from api._deps import VETS, Caller, Db, forbid_unless, not_found
from api._models import Body, Out
from api._params import Page
from api._registry_shared import (
    CONFLICT,
    NOT_FOUND,
    READERS_AND_OWNERS,
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
from api._store_registry import get_row, record
from vigie import registry

router = APIRouter(prefix="/api/v1", tags=["registry"])

Species = Literal["dog", "cat", "horse", "pony", "donkey", "cow"]
Weight = Annotated[float, Field(gt=0, lt=2000, description="kg")]


class AnimalOut(Out):
    id: str
    clinic_id: str
    owner_id: str | None
    name: str
    species: str
    birth_date: date | None
    weight_kg: float | None
    calving_date: date | None
    created_at: datetime


class AnimalPage(Out):
    items: list[AnimalOut]
    total: int
    limit: int
    offset: int


def _past(value: date | None) -> date | None:
    if value is not None and not date(1950, 1, 1) <= value <= datetime.now(UTC).date():
        raise ValueError("a birth date is between 1950-01-01 and today")
    return value


def _calved(value: date | None) -> date | None:
    if value is not None and not registry.calving_plausible(value):
        raise ValueError("a calving date is between 1990-01-01 and today")
    return value


CALVING = "a cow's last calving, day 0 of her lactation (the yield forecast and the ketosis screen use it)"


class AnimalIn(Body):
    id: NewId
    clinic_id: RefId | None = Field(default=None, description="an admin names the clinic; others get their own")
    owner_id: RefId | None = None
    name: Name | None = Field(default=None, description="default: the id")
    species: Species
    birth_date: date | None = None
    weight_kg: Weight | None = None
    calving_date: date | None = Field(default=None, description=CALVING)

    _birth = field_validator("birth_date")(_past)
    _calving = field_validator("calving_date")(_calved)

    @model_validator(mode="after")
    def _cows_calve(self) -> AnimalIn:
        if self.calving_date is not None and self.species != "cow":
            raise PydanticCustomError("value_error", "a calving date is for cows")  # loc: the body
        return self


class AnimalPatch(Body):
    name: Name | None = None
    owner_id: RefId | None = None
    birth_date: date | None = None
    weight_kg: Weight | None = None
    calving_date: date | None = Field(default=None, description=CALVING)

    _birth = field_validator("birth_date")(_past)
    _calving = field_validator("calving_date")(_calved)


ANIMALS = Resource("animals", AnimalOut, AnimalPage)


def _owner_in(conn: Conn, owner_id: str | None, clinic: str) -> None:
    """404 unless ``owner_id`` (when given) is an owner of ``clinic``."""
    if owner_id is not None and get_row(conn, "owners", owner_id, clinic=clinic) is None:
        raise not_found("owner", owner_id)


@router.get("/animals", tags=["animals"])
def get_animals(
    caller: Caller,
    conn: Db,
    page: Page,
    clinic_id: QueryId = None,
    owner_id: QueryId = None,
    species: Species | None = None,
) -> AnimalPage:
    """Animals of the caller's clinic (every clinic for an admin; their own for an owner), by id."""
    forbid_unless(caller, READERS_AND_OWNERS)
    if caller.role == "owner":
        if owner_id not in (None, caller.owner_id):
            return ANIMALS.empty(page)
        owner_id = caller.owner_id
    filters: dict[str, Any] = {"clinic_id": clinic_id, "owner_id": owner_id, "species": species}
    return ANIMALS.list_page(caller, conn, page, filters, readers=READERS_AND_OWNERS)


@router.post("/animals", tags=["animals"], status_code=status.HTTP_201_CREATED, responses=NOT_FOUND | CONFLICT)
def post_animal(caller: Caller, conn: Db, body: AnimalIn) -> AnimalOut:
    """Register an animal (its owner, when given, belongs to the same clinic)."""
    forbid_unless(caller, VETS)
    clinic = target_clinic(conn, caller, body.clinic_id)
    _owner_in(conn, body.owner_id, clinic)
    ensure_free(conn, "animals", body.id)
    registry.add_animal(
        conn,
        body.id,
        species=body.species,
        clinic=clinic,
        name=body.name,
        owner=body.owner_id,
        birth_date=body.birth_date,
        weight_kg=body.weight_kg,
        calving_date=body.calving_date,
    )
    record(conn, caller.name, "animal.create", clinic, "animal", body.id)
    return AnimalOut(**visible(conn, caller, "animals", body.id))


@router.get("/animals/{animal_id}", tags=["animals"], responses=NOT_FOUND)
def get_animal(caller: Caller, conn: Db, animal_id: PathId) -> AnimalOut:
    """One animal (an owner reads only their own)."""
    return ANIMALS.get(caller, conn, animal_id, readers=READERS_AND_OWNERS)


@router.patch("/animals/{animal_id}", tags=["animals"], responses=NOT_FOUND)
def patch_animal(caller: Caller, conn: Db, animal_id: PathId, body: AnimalPatch) -> AnimalOut:
    """Change an animal's name, owner, birth date, weight or (a cow's) calving date (fields left out are kept; null
    clears)."""

    def check(row: dict[str, Any], changes: dict[str, Any]) -> None:
        if changes.get("calving_date") is not None and row["species"] != "cow":
            raise invalid(("body", "calving_date"), "a calving date is for cows", str(changes["calving_date"]))
        _owner_in(conn, changes.get("owner_id"), row["clinic_id"])

    return ANIMALS.patch(caller, conn, animal_id, body, not_null=("name",), check=check)
