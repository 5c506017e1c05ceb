"""``/api/v1/devices``: admins and vets provision, bind, switch and (re)issue credentials; staff read; owners and
device accounts: 403. Another clinic's device is 404.

Provisioning (``POST /devices``, ``POST /devices/{id}/credentials``) returns the MQTT password once; only
Mosquitto's hash is stored, and neither the password nor the hash is logged or written to the audit log.
``/enable`` and ``/disable`` switch the device; a disabled device's telemetry is quarantined by ingest and it is left
out of the broker's password file the next time ``vigie broker config`` runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import Field

from api._accounts import Conn, Principal
from api._deps import CLINIC_READERS, VETS, AppSettings, Caller, Db, forbid_unless, not_found
from api._models import Body, Out
from api._params import Page
from api._registry_shared import (
    CONFLICT,
    NOT_FOUND,
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
from vigie import broker, registry
from vigie.errors import RegistryError
from vigie.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["registry"])

DeviceKind = Literal["cgm", "feeder", "milking"]


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


DEVICES = Resource("devices", DeviceOut, DevicePage)


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
    filters = {"clinic_id": clinic_id, "animal_id": animal_id, "kind": kind, "enabled": enabled}
    return DEVICES.list_page(caller, conn, page, filters, readers=CLINIC_READERS)


@router.post("/devices", tags=["devices"], status_code=status.HTTP_201_CREATED, responses=NOT_FOUND | CONFLICT)
def post_device(caller: Caller, conn: Db, settings: AppSettings, body: DeviceIn) -> ProvisionedOut:
    """Provision a device: register it (on one animal, or serving many animals of a clinic) and, unless
    ``credentials`` is false, give it an MQTT password, returned this once."""
    forbid_unless(caller, VETS)
    _device_id_allowed(settings, body.id)
    if body.animal_id is not None:
        animal = visible(conn, caller, "animals", body.animal_id)
        if body.clinic_id is not None and body.clinic_id != animal["clinic_id"]:
            raise invalid(("body", "clinic_id"), "a device belongs to its animal's clinic", body.clinic_id)
        clinic = str(animal["clinic_id"])
    else:
        clinic = target_clinic(conn, caller, body.clinic_id)
    ensure_free(conn, "devices", body.id)
    try:
        registry.add_device(
            conn, body.id, kind=body.kind, animal=body.animal_id, clinic=None if body.animal_id else clinic
        )
    except RegistryError as exc:  # a concurrent registration of the same id
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    mqtt = _credentials(conn, settings, body.id) if body.credentials else None
    record(conn, caller.name, "device.provision", clinic, "device", body.id, credentials=mqtt is not None)
    return ProvisionedOut(device=DeviceOut(**visible(conn, caller, "devices", body.id)), mqtt=mqtt)


@router.get("/devices/{device_id}", tags=["devices"], responses=NOT_FOUND)
def get_device(caller: Caller, conn: Db, device_id: PathId) -> DeviceOut:
    """One device."""
    return DEVICES.get(caller, conn, device_id, readers=CLINIC_READERS)


def _animal_of_clinic(conn: Conn, row: dict[str, object], changes: dict[str, object]) -> None:
    animal = changes.get("animal_id")
    if animal is not None and get_row(conn, "animals", str(animal), clinic=str(row["clinic_id"])) is None:
        raise not_found("animal", animal)


@router.patch("/devices/{device_id}", tags=["devices"], responses=NOT_FOUND)
def patch_device(caller: Caller, conn: Db, device_id: PathId, body: DevicePatch) -> DeviceOut:
    """Bind a device to another animal of its clinic, or unbind it (``animal_id`` null)."""
    return DEVICES.patch(
        caller, conn, device_id, body, check=lambda row, changes: _animal_of_clinic(conn, row, changes)
    )


def _switch(caller: Principal, conn: Conn, device_id: str, *, enabled: bool) -> DeviceOut:
    forbid_unless(caller, VETS)
    row = visible(conn, caller, "devices", device_id, lock=True)
    registry.set_device_enabled(conn, device_id, enabled=enabled)
    action = "device.enable" if enabled else "device.disable"
    record(conn, caller.name, action, row["clinic_id"], "device", device_id)
    return DeviceOut(**visible(conn, caller, "devices", device_id))


@router.post("/devices/{device_id}/enable", tags=["devices"], responses=NOT_FOUND)
def post_enable(caller: Caller, conn: Db, device_id: PathId) -> DeviceOut:
    """Enable a device (idempotent)."""
    return _switch(caller, conn, device_id, enabled=True)


@router.post("/devices/{device_id}/disable", tags=["devices"], responses=NOT_FOUND)
def post_disable(caller: Caller, conn: Db, device_id: PathId) -> DeviceOut:
    """Disable a device (idempotent): ingest quarantines its telemetry; regenerate the broker configuration to
    refuse its connection."""
    return _switch(caller, conn, device_id, enabled=False)


@router.post("/devices/{device_id}/credentials", tags=["devices"], responses=NOT_FOUND)
def post_credentials(caller: Caller, conn: Db, settings: AppSettings, device_id: PathId) -> MqttCredentials:
    """Give a device a new MQTT password (the previous one stops working), returned this once."""
    forbid_unless(caller, VETS)
    row = visible(conn, caller, "devices", device_id, lock=True)
    creds = _credentials(conn, settings, device_id)
    record(conn, caller.name, "device.credentials", row["clinic_id"], "device", device_id)
    return creds


@router.delete(
    "/devices/{device_id}/credentials", tags=["devices"], status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
def delete_credentials(caller: Caller, conn: Db, device_id: PathId) -> None:
    """Revoke a device's MQTT password (refused by the broker once its configuration is regenerated)."""
    forbid_unless(caller, VETS)
    row = visible(conn, caller, "devices", device_id, lock=True)
    broker.revoke_credentials(conn, device_id)
    record(conn, caller.name, "device.revoke", row["clinic_id"], "device", device_id)
