"""``/api/v1/clinics``, ``/owners``, ``/animals``, ``/devices``: the registry.

Who may do what:

- clinics: an admin creates and lists every clinic; a clinic's vets and staff read their own, its vets (and admins)
  change its name, language and glucose unit;
- owners / farms, animals, devices: admins and vets create and change, staff read; an owner reads their own record
  and their own animals (no device, no other owner);
- provisioning a device (``POST /devices``, ``POST /devices/{id}/credentials``) returns its MQTT password once; only
  Mosquitto's hash is stored, and neither the password nor the hash is logged or written to the audit log.
  ``/enable`` and ``/disable`` switch the device; a disabled device's telemetry is quarantined by ingest and it is
  left out of the broker's password file the next time ``vigie broker config`` runs;
- a device account: nothing (403).

A row of another clinic is 404, like one that does not exist. Ids are global (they name MQTT topics), so creating an
id that exists anywhere is 409. Nothing is deleted: readings, alerts and the audit log refer to these rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, Field, field_validator

from api._accounts import Conn, Principal, Role
from api._deps import CLINIC_READERS, VETS, AppSettings, Caller, Db, clinic_filter, forbid_unless, not_found
from api._models import Body, Out
from api._params import ID_PATTERN, Page
from api._store_registry import get_row, id_taken, list_rows, record, update_row
from api._webhook_target import url_problem
from vigie import broker, registry
from vigie.errors import RegistryError
from vigie.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["registry"])

NewId = Annotated[str, Field(pattern=ID_PATTERN, description="letters, digits and _ . : - (at most 64)")]
RefId = Annotated[str, Field(pattern=ID_PATTERN)]
PathId = Annotated[str, Path(pattern=ID_PATTERN, description="an id (letters, digits and _ . : -)")]
QueryId = Annotated[str | None, Query(pattern=ID_PATTERN)]
Language = Literal["fr", "en"]
GlucoseUnit = Literal["mg/dL", "mmol/L", "g/L"]
Species = Literal["dog", "cat", "horse", "pony", "donkey", "cow"]
DeviceKind = Literal["cgm", "feeder", "milking"]
# text the database stores: no control characters (PostgreSQL text cannot even hold NUL)
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
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
Weight = Annotated[float, Field(gt=0, lt=2000, description="kg")]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such object in the caller's clinic"}}
_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "the id is already taken"}}
READERS_AND_OWNERS: frozenset[Role] = CLINIC_READERS | {"owner"}


def invalid(loc: tuple[str | int, ...], msg: str, value: Any = None) -> RequestValidationError:
    """A 422 naming the field at ``loc`` (the same shape as FastAPI's own validation errors)."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}])


def _target_clinic(conn: Conn, caller: Principal, clinic_id: str | None) -> str:
    """The clinic a new row goes to: the caller's own, or (an admin) the one named, which must exist."""
    mine = clinic_filter(caller)
    if mine is None and clinic_id is None:
        raise invalid(("body", "clinic_id"), "an admin must name the clinic")
    target = clinic_id or mine
    assert target is not None  # noqa: S101 - narrowed above
    if get_row(conn, "clinics", target, clinic=mine) is None:
        raise not_found("clinic", target)
    return target


def _webhook_allowed(settings: Settings, url: str | None) -> None:
    """422 on ``webhook_url`` naming a non-public IP address (unless ``webhook_allow_private``); a host name is
    checked by the delivery worker each time it connects (``api/_webhook_target.py``)."""
    if url is not None:
        problem = url_problem(url, allow_private=settings.webhook_allow_private)
        if problem is not None:
            raise invalid(("body", "webhook_url"), problem, url)


def _taken(conn: Conn, table: str, id_: str) -> None:
    if id_taken(conn, table, id_):
        raise HTTPException(status.HTTP_409_CONFLICT, f"id {id_!r} is already taken")


def _visible(conn: Conn, caller: Principal, table: str, id_: str, *, lock: bool = False) -> dict[str, Any]:
    owner = caller.owner_id if caller.role == "owner" else None
    row = get_row(conn, table, id_, clinic=clinic_filter(caller), owner=owner, lock=lock)
    if row is None:
        raise not_found(table.removesuffix("s"), id_)
    return row


def _changes(body: Body, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(body, name) for name in fields if name in body.model_fields_set}


def _not_null(changes: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in changes and changes[name] is None:
            raise invalid(("body", name), "may not be null")


# --- clinics -----------------------------------------------------------------------------------------------------


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


@router.get("/clinics", tags=["clinics"])
def get_clinics(caller: Caller, conn: Db, page: Page) -> ClinicPage:
    """Clinics: every clinic for an admin, their own for a clinic's vets and staff."""
    forbid_unless(caller, CLINIC_READERS)
    rows, total = list_rows(conn, "clinics", {}, clinic=clinic_filter(caller), limit=page.limit, offset=page.offset)
    return ClinicPage(items=[ClinicOut(**r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/clinics", tags=["clinics"], status_code=status.HTTP_201_CREATED, responses=_CONFLICT)
def post_clinic(caller: Caller, conn: Db, body: ClinicIn) -> ClinicOut:
    """Register a clinic (admins only)."""
    forbid_unless(caller, frozenset({"admin"}))
    _taken(conn, "clinics", body.id)
    registry.add_clinic(conn, body.id, name=body.name, language=body.language)
    conn.execute("UPDATE clinics SET glucose_unit = %s WHERE id = %s", (body.glucose_unit, body.id))
    record(conn, caller.name, "clinic.create", body.id, "clinic", body.id)
    return ClinicOut(**_visible(conn, caller, "clinics", body.id))


@router.get("/clinics/{clinic_id}", tags=["clinics"], responses=_NOT_FOUND)
def get_clinic(caller: Caller, conn: Db, clinic_id: PathId) -> ClinicOut:
    """One clinic."""
    forbid_unless(caller, CLINIC_READERS)
    return ClinicOut(**_visible(conn, caller, "clinics", clinic_id))


@router.patch("/clinics/{clinic_id}", tags=["clinics"], responses=_NOT_FOUND)
def patch_clinic(caller: Caller, conn: Db, clinic_id: PathId, body: ClinicPatch) -> ClinicOut:
    """Change a clinic's name, language or glucose unit (fields left out are kept)."""
    forbid_unless(caller, VETS)
    _visible(conn, caller, "clinics", clinic_id, lock=True)
    changes = _changes(body, ("name", "language", "glucose_unit"))
    _not_null(changes, "name", "language", "glucose_unit")
    row = update_row(conn, "clinics", clinic_id, changes)
    record(conn, caller.name, "clinic.update", clinic_id, "clinic", clinic_id, fields=sorted(changes))
    return ClinicOut(**row)


# --- owners / farms ----------------------------------------------------------------------------------------------


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


@router.get("/owners", tags=["owners"])
def get_owners(
    caller: Caller,
    conn: Db,
    page: Page,
    clinic_id: QueryId = None,
    kind: Literal["owner", "farm"] | None = None,
) -> OwnerPage:
    """Owners and farms of the caller's clinic (every clinic for an admin), by id."""
    forbid_unless(caller, CLINIC_READERS)
    rows, total = list_rows(
        conn,
        "owners",
        {"clinic_id": clinic_id, "kind": kind},
        clinic=clinic_filter(caller),
        limit=page.limit,
        offset=page.offset,
    )
    return OwnerPage(items=[OwnerOut(**r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/owners", tags=["owners"], status_code=status.HTTP_201_CREATED, responses=_NOT_FOUND | _CONFLICT)
def post_owner(caller: Caller, conn: Db, settings: AppSettings, body: OwnerIn) -> OwnerOut:
    """Register an owner or a farm."""
    forbid_unless(caller, VETS)
    _webhook_allowed(settings, body.webhook_url)
    clinic = _target_clinic(conn, caller, body.clinic_id)
    _taken(conn, "owners", body.id)
    registry.add_owner(
        conn, body.id, clinic=clinic, name=body.name, kind=body.kind, email=body.email, language=body.language
    )
    update_row(conn, "owners", body.id, {"glucose_unit": body.glucose_unit, "webhook_url": body.webhook_url})
    record(conn, caller.name, "owner.create", clinic, "owner", body.id)
    return OwnerOut(**_visible(conn, caller, "owners", body.id))


@router.get("/owners/{owner_id}", tags=["owners"], responses=_NOT_FOUND)
def get_owner(caller: Caller, conn: Db, owner_id: PathId) -> OwnerOut:
    """One owner or farm (an owner account reads its own record)."""
    forbid_unless(caller, READERS_AND_OWNERS)
    return OwnerOut(**_visible(conn, caller, "owners", owner_id))


@router.patch("/owners/{owner_id}", tags=["owners"], responses=_NOT_FOUND)
def patch_owner(caller: Caller, conn: Db, settings: AppSettings, owner_id: PathId, body: OwnerPatch) -> OwnerOut:
    """Change an owner's name, contact and preferences (fields left out are kept; null clears an optional one)."""
    forbid_unless(caller, VETS)
    _webhook_allowed(settings, body.webhook_url)
    row = _visible(conn, caller, "owners", owner_id, lock=True)
    changes = _changes(body, ("name", "email", "language", "glucose_unit", "webhook_url"))
    _not_null(changes, "name")
    updated = update_row(conn, "owners", owner_id, changes)
    record(conn, caller.name, "owner.update", row["clinic_id"], "owner", owner_id, fields=sorted(changes))
    return OwnerOut(**updated)


# --- animals -----------------------------------------------------------------------------------------------------


class AnimalOut(Out):
    id: str
    clinic_id: str
    owner_id: str | None
    name: str
    species: str
    birth_date: date | None
    weight_kg: float | None
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


class AnimalIn(Body):
    id: NewId
    clinic_id: RefId | None = Field(default=None, description="an admin names the clinic; others get their own")
    owner_id: RefId | None = None
    name: Name | None = Field(default=None, description="default: the id")
    species: Species
    birth_date: date | None = None
    weight_kg: Weight | None = None

    _birth = field_validator("birth_date")(_past)


class AnimalPatch(Body):
    name: Name | None = None
    owner_id: RefId | None = None
    birth_date: date | None = None
    weight_kg: Weight | None = None

    _birth = field_validator("birth_date")(_past)


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
    filters: dict[str, Any] = {"clinic_id": clinic_id, "owner_id": owner_id, "species": species}
    if caller.role == "owner":
        if owner_id not in (None, caller.owner_id):
            return AnimalPage(items=[], total=0, limit=page.limit, offset=page.offset)
        filters["owner_id"] = caller.owner_id
    rows, total = list_rows(
        conn, "animals", filters, clinic=clinic_filter(caller), limit=page.limit, offset=page.offset
    )
    return AnimalPage(items=[AnimalOut(**r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/animals", tags=["animals"], status_code=status.HTTP_201_CREATED, responses=_NOT_FOUND | _CONFLICT)
def post_animal(caller: Caller, conn: Db, body: AnimalIn) -> AnimalOut:
    """Register an animal (its owner, when given, belongs to the same clinic)."""
    forbid_unless(caller, VETS)
    clinic = _target_clinic(conn, caller, body.clinic_id)
    _owner_in(conn, body.owner_id, clinic)
    _taken(conn, "animals", body.id)
    registry.add_animal(
        conn,
        body.id,
        species=body.species,
        clinic=clinic,
        name=body.name,
        owner=body.owner_id,
        birth_date=body.birth_date,
        weight_kg=body.weight_kg,
    )
    record(conn, caller.name, "animal.create", clinic, "animal", body.id)
    return AnimalOut(**_visible(conn, caller, "animals", body.id))


@router.get("/animals/{animal_id}", tags=["animals"], responses=_NOT_FOUND)
def get_animal(caller: Caller, conn: Db, animal_id: PathId) -> AnimalOut:
    """One animal (an owner reads only their own)."""
    forbid_unless(caller, READERS_AND_OWNERS)
    return AnimalOut(**_visible(conn, caller, "animals", animal_id))


@router.patch("/animals/{animal_id}", tags=["animals"], responses=_NOT_FOUND)
def patch_animal(caller: Caller, conn: Db, animal_id: PathId, body: AnimalPatch) -> AnimalOut:
    """Change an animal's name, owner, birth date or weight (fields left out are kept; null clears)."""
    forbid_unless(caller, VETS)
    row = _visible(conn, caller, "animals", animal_id, lock=True)
    changes = _changes(body, ("name", "owner_id", "birth_date", "weight_kg"))
    _not_null(changes, "name")
    _owner_in(conn, changes.get("owner_id"), row["clinic_id"])
    updated = update_row(conn, "animals", animal_id, changes)
    record(conn, caller.name, "animal.update", row["clinic_id"], "animal", animal_id, fields=sorted(changes))
    return AnimalOut(**updated)


# --- devices -----------------------------------------------------------------------------------------------------


class DeviceOut(Out):
    id: str
    kind: str
    clinic_id: str
    animal_id: str | None
    enabled: bool
    has_credentials: bool
    last_seen: datetime | None
    availability: str | None
    availability_at: datetime | None
    created_at: datetime


class DevicePage(Out):
    items: list[DeviceOut]
    total: int
    limit: int
    offset: int


class MqttCredentials(Out):
    """Shown once: only a hash is kept. The broker accepts them once ``vigie broker config`` has run again."""

    username: str
    password: str
    telemetry_topic: str
    status_topic: str


class ProvisionedOut(Out):
    device: DeviceOut
    mqtt: MqttCredentials | None


class DeviceIn(Body):
    id: NewId
    kind: DeviceKind
    animal_id: RefId | None = Field(default=None, description="the animal it measures; null: it serves many")
    clinic_id: RefId | None = Field(
        default=None, description="a device serving many animals: an admin names the clinic, others get their own"
    )
    credentials: bool = Field(default=True, description="issue MQTT credentials now (shown once)")


class DevicePatch(Body):
    animal_id: RefId | None = Field(default=None, description="bind to another animal of the clinic; null: unbind")


def _credentials(conn: Conn, settings: Settings, device_id: str) -> MqttCredentials:
    password = broker.issue_credentials(conn, device_id)
    root = settings.topic_root
    return MqttCredentials(
        username=device_id,
        password=password,
        telemetry_topic=f"{root}/devices/{device_id}/telemetry",
        status_topic=f"{root}/devices/{device_id}/status",
    )


def _device_id_allowed(settings: Settings, device_id: str) -> None:
    """A device may not be named like the ingest worker (its user or client id): the broker would refuse it."""
    user = settings.mqtt.username
    if device_id == settings.ingest_client_id or (user and device_id.startswith(user)):
        raise invalid(("body", "id"), "this id is reserved for the ingest worker", device_id)


@router.get("/devices", tags=["devices"])
def get_devices(
    caller: Caller,
    conn: Db,
    page: Page,
    clinic_id: QueryId = None,
    animal_id: QueryId = None,
    kind: DeviceKind | None = None,
    enabled: bool | None = None,
) -> DevicePage:
    """Devices of the caller's clinic (every clinic for an admin), by id."""
    forbid_unless(caller, CLINIC_READERS)
    rows, total = list_rows(
        conn,
        "devices",
        {"clinic_id": clinic_id, "animal_id": animal_id, "kind": kind, "enabled": enabled},
        clinic=clinic_filter(caller),
        limit=page.limit,
        offset=page.offset,
    )
    return DevicePage(items=[DeviceOut(**r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/devices", tags=["devices"], status_code=status.HTTP_201_CREATED, responses=_NOT_FOUND | _CONFLICT)
def post_device(caller: Caller, conn: Db, settings: AppSettings, body: DeviceIn) -> ProvisionedOut:
    """Provision a device: register it (on one animal, or serving many animals of a clinic) and, unless
    ``credentials`` is false, give it an MQTT password, returned this once."""
    forbid_unless(caller, VETS)
    _device_id_allowed(settings, body.id)
    if body.animal_id is not None:
        animal = _visible(conn, caller, "animals", body.animal_id)
        if body.clinic_id is not None and body.clinic_id != animal["clinic_id"]:
            raise invalid(("body", "clinic_id"), "a device belongs to its animal's clinic", body.clinic_id)
        clinic = str(animal["clinic_id"])
    else:
        clinic = _target_clinic(conn, caller, body.clinic_id)
    _taken(conn, "devices", body.id)
    try:
        registry.add_device(
            conn, body.id, kind=body.kind, animal=body.animal_id, clinic=None if body.animal_id else clinic
        )
    except RegistryError as exc:  # a concurrent registration of the same id
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    mqtt = _credentials(conn, settings, body.id) if body.credentials else None
    record(conn, caller.name, "device.provision", clinic, "device", body.id, credentials=mqtt is not None)
    return ProvisionedOut(device=DeviceOut(**_visible(conn, caller, "devices", body.id)), mqtt=mqtt)


@router.get("/devices/{device_id}", tags=["devices"], responses=_NOT_FOUND)
def get_device(caller: Caller, conn: Db, device_id: PathId) -> DeviceOut:
    """One device."""
    forbid_unless(caller, CLINIC_READERS)
    return DeviceOut(**_visible(conn, caller, "devices", device_id))


@router.patch("/devices/{device_id}", tags=["devices"], responses=_NOT_FOUND)
def patch_device(caller: Caller, conn: Db, device_id: PathId, body: DevicePatch) -> DeviceOut:
    """Bind a device to another animal of its clinic, or unbind it (``animal_id`` null)."""
    forbid_unless(caller, VETS)
    row = _visible(conn, caller, "devices", device_id, lock=True)
    changes = _changes(body, ("animal_id",))
    if (
        changes.get("animal_id") is not None
        and get_row(conn, "animals", changes["animal_id"], clinic=row["clinic_id"]) is None
    ):
        raise not_found("animal", changes["animal_id"])
    updated = update_row(conn, "devices", device_id, changes)
    record(conn, caller.name, "device.update", row["clinic_id"], "device", device_id, fields=sorted(changes))
    return DeviceOut(**updated)


def _switch(caller: Principal, conn: Conn, device_id: str, *, enabled: bool) -> DeviceOut:
    forbid_unless(caller, VETS)
    row = _visible(conn, caller, "devices", device_id, lock=True)
    registry.set_device_enabled(conn, device_id, enabled=enabled)
    action = "device.enable" if enabled else "device.disable"
    record(conn, caller.name, action, row["clinic_id"], "device", device_id)
    return DeviceOut(**_visible(conn, caller, "devices", device_id))


@router.post("/devices/{device_id}/enable", tags=["devices"], responses=_NOT_FOUND)
def post_enable(caller: Caller, conn: Db, device_id: PathId) -> DeviceOut:
    """Enable a device (idempotent)."""
    return _switch(caller, conn, device_id, enabled=True)


@router.post("/devices/{device_id}/disable", tags=["devices"], responses=_NOT_FOUND)
def post_disable(caller: Caller, conn: Db, device_id: PathId) -> DeviceOut:
    """Disable a device (idempotent): ingest quarantines its telemetry; regenerate the broker configuration to
    refuse its connection."""
    return _switch(caller, conn, device_id, enabled=False)


@router.post("/devices/{device_id}/credentials", tags=["devices"], responses=_NOT_FOUND)
def post_credentials(caller: Caller, conn: Db, settings: AppSettings, device_id: PathId) -> MqttCredentials:
    """Give a device a new MQTT password (the previous one stops working), returned this once."""
    forbid_unless(caller, VETS)
    row = _visible(conn, caller, "devices", device_id, lock=True)
    creds = _credentials(conn, settings, device_id)
    record(conn, caller.name, "device.credentials", row["clinic_id"], "device", device_id)
    return creds


@router.delete(
    "/devices/{device_id}/credentials", tags=["devices"], status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND
)
def delete_credentials(caller: Caller, conn: Db, device_id: PathId) -> None:
    """Revoke a device's MQTT password (refused by the broker once its configuration is regenerated)."""
    forbid_unless(caller, VETS)
    row = _visible(conn, caller, "devices", device_id, lock=True)
    broker.revoke_credentials(conn, device_id)
    record(conn, caller.name, "device.revoke", row["clinic_id"], "device", device_id)
