"""Expectations of the registry, readings and analytics routes for the authorization matrix (tests/api/authz.py).

Clinics: an admin creates and lists; vets and staff read their own; vets change theirs. Owners, farms, animals,
devices: admins and vets write, staff read, an owner reads their own record and animals. Readings and analytics:
whoever reads the animal. Devices get 403 everywhere.
"""

from __future__ import annotations

from typing import Any

from tests.api.authz import ADMIN, READERS, VETS, Expect, Objects

OWNER_READERS = READERS | {"owner"}
ANIMAL = {"animal_id": "animal"}
DEVICE = {"device_id": "device"}


def _new_owner(o: Objects) -> dict[str, Any]:
    return {"id": "mx-new-owner", "clinic_id": o["clinic"], "name": "New owner", "email": "new@example.org"}


def _new_animal(o: Objects) -> dict[str, Any]:
    return {"id": "mx-new-cat", "clinic_id": o["clinic"], "owner_id": o["owner"], "species": "cat", "weight_kg": 4.0}


def _new_device(o: Objects) -> dict[str, Any]:
    return {"id": "mx-new-cgm", "kind": "cgm", "animal_id": o["animal"]}


def _rebind(o: Objects) -> dict[str, Any]:
    return {"animal_id": o["animal"]}


EXPECTED: dict[tuple[str, str], Expect] = {
    # clinics
    ("GET", "/api/v1/clinics"): Expect(roles=READERS),
    ("POST", "/api/v1/clinics"): Expect(roles=ADMIN, ok=201, body={"id": "mx-new-clinic", "name": "New"}),
    ("GET", "/api/v1/clinics/{clinic_id}"): Expect(roles=READERS, params={"clinic_id": "clinic"}),
    ("PATCH", "/api/v1/clinics/{clinic_id}"): Expect(
        roles=VETS, params={"clinic_id": "clinic"}, body={"glucose_unit": "mmol/L"}
    ),
    # owners and farms
    ("GET", "/api/v1/owners"): Expect(roles=READERS),
    ("POST", "/api/v1/owners"): Expect(roles=VETS, ok=201, body=_new_owner),
    ("GET", "/api/v1/owners/{owner_id}"): Expect(roles=OWNER_READERS, params={"owner_id": "owner"}),
    ("PATCH", "/api/v1/owners/{owner_id}"): Expect(
        roles=VETS, params={"owner_id": "owner"}, body={"email": "changed@example.org"}
    ),
    # animals
    ("GET", "/api/v1/animals"): Expect(roles=OWNER_READERS),
    ("POST", "/api/v1/animals"): Expect(roles=VETS, ok=201, body=_new_animal),
    ("GET", "/api/v1/animals/{animal_id}"): Expect(roles=OWNER_READERS, params=ANIMAL),
    ("PATCH", "/api/v1/animals/{animal_id}"): Expect(roles=VETS, params=ANIMAL, body={"weight_kg": 4.5}),
    # devices
    ("GET", "/api/v1/devices"): Expect(roles=READERS),
    ("POST", "/api/v1/devices"): Expect(roles=VETS, ok=201, body=_new_device),
    ("GET", "/api/v1/devices/{device_id}"): Expect(roles=READERS, params=DEVICE),
    ("PATCH", "/api/v1/devices/{device_id}"): Expect(roles=VETS, params=DEVICE, body=_rebind),
    ("POST", "/api/v1/devices/{device_id}/enable"): Expect(roles=VETS, params=DEVICE),
    ("POST", "/api/v1/devices/{device_id}/disable"): Expect(roles=VETS, params=DEVICE),
    ("POST", "/api/v1/devices/{device_id}/credentials"): Expect(roles=VETS, params=DEVICE),
    ("DELETE", "/api/v1/devices/{device_id}/credentials"): Expect(roles=VETS, ok=204, params=DEVICE),
    # readings
    ("GET", "/api/v1/animals/{animal_id}/readings"): Expect(roles=OWNER_READERS, params=ANIMAL),
    ("GET", "/api/v1/animals/{animal_id}/readings.csv"): Expect(roles=OWNER_READERS, params=ANIMAL),
    # analytics
    ("GET", "/api/v1/animals/{animal_id}/analytics/glucose"): Expect(roles=OWNER_READERS, params=ANIMAL),
    ("GET", "/api/v1/animals/{animal_id}/analytics/intake"): Expect(roles=OWNER_READERS, params=ANIMAL),
    ("GET", "/api/v1/animals/{animal_id}/analytics/lactation"): Expect(roles=OWNER_READERS, params=ANIMAL),
}
