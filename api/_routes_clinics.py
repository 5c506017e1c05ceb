"""``/api/v1/clinics``: an admin creates and lists every clinic; a clinic's vets and staff read their own, its vets
(and admins) change its name, language and glucose unit. Other roles: 403. Another clinic is 404."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status

from api._deps import CLINIC_READERS, Caller, Db, forbid_unless
from api._models import Body, Out
from api._params import Page
from api._registry_shared import (
    CONFLICT,
    NOT_FOUND,
    GlucoseUnit,
    Language,
    Name,
    NewId,
    PathId,
    Resource,
    ensure_free,
    visible,
)
from api._store_registry import record
from vigie import registry

router = APIRouter(prefix="/api/v1", tags=["registry"])


class ClinicOut(Out):
    id: str
    name: str
    language: str
    glucose_unit: str
    created_at: datetime


class ClinicPage(Out):
    items: list[ClinicOut]
    total: int
    limit: int
    offset: int


class ClinicIn(Body):
    id: NewId
    name: Name
    language: Language = "fr"
    glucose_unit: GlucoseUnit = "mg/dL"


class ClinicPatch(Body):
    name: Name | None = None
    language: Language | None = None
    glucose_unit: GlucoseUnit | None = None


CLINICS = Resource("clinics", ClinicOut, ClinicPage)


@router.get("/clinics", tags=["clinics"])
def get_clinics(caller: Caller, conn: Db, page: Page) -> ClinicPage:
    """Clinics: every clinic for an admin, their own for a clinic's vets and staff."""
    return CLINICS.list_page(caller, conn, page, {}, readers=CLINIC_READERS)


@router.post("/clinics", tags=["clinics"], status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def post_clinic(caller: Caller, conn: Db, body: ClinicIn) -> ClinicOut:
    """Register a clinic (admins only)."""
    forbid_unless(caller, frozenset({"admin"}))
    ensure_free(conn, "clinics", body.id)
    registry.add_clinic(conn, body.id, name=body.name, language=body.language)
    conn.execute("UPDATE clinics SET glucose_unit = %s WHERE id = %s", (body.glucose_unit, body.id))
    record(conn, caller.name, "clinic.create", body.id, "clinic", body.id)
    return ClinicOut(**visible(conn, caller, "clinics", body.id))


@router.get("/clinics/{clinic_id}", tags=["clinics"], responses=NOT_FOUND)
def get_clinic(caller: Caller, conn: Db, clinic_id: PathId) -> ClinicOut:
    """One clinic."""
    return CLINICS.get(caller, conn, clinic_id, readers=CLINIC_READERS)


@router.patch("/clinics/{clinic_id}", tags=["clinics"], responses=NOT_FOUND)
def patch_clinic(caller: Caller, conn: Db, clinic_id: PathId, body: ClinicPatch) -> ClinicOut:
    """Change a clinic's name, language or glucose unit (fields left out are kept)."""
    return CLINICS.patch(caller, conn, clinic_id, body, not_null=("name", "language", "glucose_unit"))
