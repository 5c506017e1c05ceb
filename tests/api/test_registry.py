"""Registry routes: clinics, owners, animals, devices (provisioning with MQTT credentials shown once)."""

from __future__ import annotations

import logging

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World
from vigie import broker


def test_admin_creates_a_clinic_and_lists_every_clinic(client: TestClient, world: World) -> None:
    headers = world.auth("admin")
    r = client.post(
        "/api/v1/clinics", headers=headers, json={"id": "clinic-c", "name": "Clinic C", "glucose_unit": "mmol/L"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["glucose_unit"] == "mmol/L"
    assert r.json()["language"] == "fr"
    ids = [c["id"] for c in client.get("/api/v1/clinics", headers=headers).json()["items"]]
    assert ids == ["clinic-a", "clinic-b", "clinic-c"]
    again = client.post("/api/v1/clinics", headers=headers, json={"id": "clinic-c", "name": "Again"})
    assert again.status_code == 409


def test_a_vet_sees_only_their_clinic(client: TestClient, world: World) -> None:
    page = client.get("/api/v1/clinics", headers=world.auth("vet")).json()
    assert [c["id"] for c in page["items"]] == ["clinic-a"]
    assert page["total"] == 1
    assert client.get("/api/v1/clinics/clinic-b", headers=world.auth("vet")).status_code == 404
    assert client.post("/api/v1/clinics", headers=world.auth("vet"), json={"id": "x", "name": "x"}).status_code == 403


def test_lists_of_a_clinic_hold_none_of_another(client: TestClient, world: World) -> None:
    for path in ("/api/v1/owners", "/api/v1/animals", "/api/v1/devices"):
        r = client.get(path, headers=world.auth("staff"))
        assert r.status_code == 200, (path, r.text)
        items = r.json()["items"]
        assert items, path
        assert {i["clinic_id"] for i in items} == {"clinic-a"}, path
        # asking for the other clinic by filter gives nothing, not its rows
        other = client.get(path, headers=world.auth("staff"), params={"clinic_id": "clinic-b"})
        assert other.json()["items"] == [], path
        assert other.json()["total"] == 0
    everything = client.get("/api/v1/animals", headers=world.auth("admin")).json()
    assert {a["id"] for a in everything["items"]} == {"cat-a", "cow-a", "cat-b", "cow-b"}


def test_an_owner_sees_only_their_own_animals_and_record(client: TestClient, world: World) -> None:
    headers = world.auth("owner")
    animals = client.get("/api/v1/animals", headers=headers).json()
    assert [a["id"] for a in animals["items"]] == ["cat-a"]
    # asking for another owner's animals by filter gives nothing
    assert client.get("/api/v1/animals", headers=headers, params={"owner_id": "farm-a"}).json()["items"] == []
    assert client.get("/api/v1/animals/cat-a", headers=headers).status_code == 200
    assert client.get("/api/v1/animals/cow-a", headers=headers).status_code == 404  # the farm's cow, same clinic
    assert client.get("/api/v1/animals/cat-b", headers=headers).status_code == 404
    assert client.get("/api/v1/owners/owner-a", headers=headers).json()["email"] == "owner-a@example.org"
    assert client.get("/api/v1/owners/farm-a", headers=headers).status_code == 404
    assert client.get("/api/v1/owners", headers=headers).status_code == 403
    assert client.get("/api/v1/devices", headers=headers).status_code == 403


def test_vet_registers_an_owner_and_an_animal(client: TestClient, world: World, db_dsn: str) -> None:
    headers = world.auth("vet")
    r = client.post(
        "/api/v1/owners",
        headers=headers,
        json={"id": "martin", "name": "M. Martin", "email": "martin@example.org", "glucose_unit": "g/L"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["clinic_id"] == "clinic-a"
    r = client.post(
        "/api/v1/animals",
        headers=headers,
        json={"id": "felix", "species": "cat", "owner_id": "martin", "weight_kg": 4.2, "birth_date": "2019-05-01"},
    )
    assert r.status_code == 201, r.text
    assert r.json() | {"created_at": None} == {
        "id": "felix",
        "clinic_id": "clinic-a",
        "owner_id": "martin",
        "name": "felix",
        "species": "cat",
        "birth_date": "2019-05-01",
        "weight_kg": 4.2,
        "calving_date": None,
        "created_at": None,
    }
    r = client.patch("/api/v1/animals/felix", headers=headers, json={"name": "Félix", "weight_kg": None})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["weight_kg"], r.json()["owner_id"]) == ("Félix", None, "martin")
    with psycopg.connect(db_dsn) as conn:
        actions = conn.execute(
            "SELECT actor, action, object_id FROM audit_log WHERE object_id IN ('martin', 'felix') ORDER BY id"
        ).fetchall()
    assert actions == [
        ("Dr A", "owner.create", "martin"),
        ("Dr A", "animal.create", "felix"),
        ("Dr A", "animal.update", "felix"),
    ]


def test_references_to_another_clinic_are_not_found(client: TestClient, world: World) -> None:
    headers = world.auth("vet")
    r = client.post("/api/v1/animals", headers=headers, json={"id": "x1", "species": "dog", "owner_id": "owner-b"})
    assert r.status_code == 404
    r = client.post("/api/v1/animals", headers=headers, json={"id": "x1", "species": "dog", "clinic_id": "clinic-b"})
    assert r.status_code == 404
    r = client.patch("/api/v1/animals/cat-a", headers=headers, json={"owner_id": "owner-b"})
    assert r.status_code == 404
    r = client.patch("/api/v1/devices/cgm-a", headers=headers, json={"animal_id": "cat-b"})
    assert r.status_code == 404
    r = client.post("/api/v1/devices", headers=headers, json={"id": "cgm-x", "kind": "cgm", "animal_id": "cat-b"})
    assert r.status_code == 404
    assert client.get("/api/v1/animals", headers=world.auth("admin")).json()["total"] == 4  # nothing was created


def test_admin_must_name_the_clinic(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/owners", headers=world.auth("admin"), json={"id": "o9", "name": "O"})
    assert r.status_code == 422
    assert ["body", "clinic_id"] in [e["loc"] for e in r.json()["detail"]]
    r = client.post(
        "/api/v1/owners", headers=world.auth("admin"), json={"id": "o9", "name": "O", "clinic_id": "clinic-b"}
    )
    assert r.status_code == 201
    assert r.json()["clinic_id"] == "clinic-b"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"id": "bad id", "species": "dog"}, ["body", "id"]),
        ({"id": "rex", "species": "unicorn"}, ["body", "species"]),
        ({"id": "rex", "species": "dog", "weight_kg": -1}, ["body", "weight_kg"]),
        ({"id": "rex", "species": "dog", "birth_date": "2999-01-01"}, ["body", "birth_date"]),
        ({"id": "rex", "species": "dog", "clinic_id": "clinic-a", "extra": 1}, ["body", "extra"]),
        ({"species": "dog"}, ["body", "id"]),
    ],
    ids=["id", "species", "weight", "birth-date", "extra-field", "missing-id"],
)
def test_invalid_animals_get_422_naming_the_field(
    client: TestClient, world: World, body: dict[str, object], loc: list[str]
) -> None:
    r = client.post("/api/v1/animals", headers=world.auth("vet"), json=body)
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["detail"]]


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused(client: TestClient, world: World, raw: str) -> None:
    text = '{"id": "rex", "species": "dog", "weight_kg": %s}' % raw  # noqa: UP031 - a JSON text with a bare literal
    r = client.post(
        "/api/v1/animals", headers={**world.auth("vet"), "Content-Type": "application/json"}, content=text.encode()
    )
    assert r.status_code == 422, r.text
    assert client.get("/api/v1/animals/rex", headers=world.auth("vet")).status_code == 404


def test_pagination(client: TestClient, world: World) -> None:
    headers = world.auth("admin")
    first = client.get("/api/v1/animals", headers=headers, params={"limit": 3}).json()
    second = client.get("/api/v1/animals", headers=headers, params={"limit": 3, "offset": 3}).json()
    assert first["total"] == second["total"] == 4
    ids = [a["id"] for a in first["items"] + second["items"]]
    assert ids == sorted(["cat-a", "cow-a", "cat-b", "cow-b"])
    too_big = client.get("/api/v1/animals", headers=headers, params={"limit": 10_000})
    assert too_big.status_code == 422
    assert ["query", "limit"] in [e["loc"] for e in too_big.json()["detail"]]
    assert client.get("/api/v1/animals", headers=headers, params={"offset": -1}).status_code == 422


def test_provisioning_returns_the_password_once_and_stores_only_its_hash(
    client: TestClient, world: World, db_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = client.post(
        "/api/v1/devices", headers=world.auth("vet"), json={"id": "cgm-new", "kind": "cgm", "animal_id": "cat-a"}
    )
    assert r.status_code == 201, r.text
    out = r.json()
    password = out["mqtt"]["password"]
    assert out["device"] | {"created_at": None} == {
        "id": "cgm-new",
        "kind": "cgm",
        "clinic_id": "clinic-a",
        "animal_id": "cat-a",
        "enabled": True,
        "has_credentials": True,
        "last_seen": None,
        "availability": None,
        "availability_at": None,
        "created_at": None,
    }
    assert out["mqtt"]["username"] == "cgm-new"
    assert out["mqtt"]["telemetry_topic"].endswith("/devices/cgm-new/telemetry")
    with psycopg.connect(db_dsn) as conn:
        (hashed,) = conn.execute("SELECT credentials_hash FROM devices WHERE id = 'cgm-new'").fetchone()  # type: ignore[misc]
        dump = "\n".join(
            str(row) for table in ("devices", "audit_log") for row in conn.execute(f"SELECT * FROM {table}").fetchall()
        )
    assert broker.verify_password(password, hashed)
    assert password not in dump
    # never shown again: reading the device gives no secret
    shown = client.get("/api/v1/devices/cgm-new", headers=world.auth("vet")).text
    assert password not in shown
    assert hashed not in shown
    logged = "\n".join(f"{rec.getMessage()} {rec.args!r}" for rec in caplog.records)
    assert password not in logged
    # rotation gives a new password, and the old one stops matching
    rotated = client.post("/api/v1/devices/cgm-new/credentials", headers=world.auth("vet"))
    assert rotated.status_code == 200
    with psycopg.connect(db_dsn) as conn:
        (new_hash,) = conn.execute("SELECT credentials_hash FROM devices WHERE id = 'cgm-new'").fetchone()  # type: ignore[misc]
    assert broker.verify_password(rotated.json()["password"], new_hash)
    assert not broker.verify_password(password, new_hash)
    # revocation removes the hash
    assert client.delete("/api/v1/devices/cgm-new/credentials", headers=world.auth("vet")).status_code == 204
    assert client.get("/api/v1/devices/cgm-new", headers=world.auth("vet")).json()["has_credentials"] is False


def test_a_clinic_level_device_without_credentials(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/devices", headers=world.auth("vet"), json={"id": "feeder-1", "kind": "feeder", "credentials": False}
    )
    assert r.status_code == 201, r.text
    assert r.json()["mqtt"] is None
    assert r.json()["device"]["clinic_id"] == "clinic-a"
    assert r.json()["device"]["animal_id"] is None
    assert r.json()["device"]["has_credentials"] is False


def test_the_ingest_workers_names_are_refused(client: TestClient, world: World, api_settings: object) -> None:
    from vigie.settings import Settings

    assert isinstance(api_settings, Settings)
    r = client.post(
        "/api/v1/devices", headers=world.auth("vet"), json={"id": api_settings.ingest_client_id, "kind": "milking"}
    )
    assert r.status_code == 422
    assert ["body", "id"] in [e["loc"] for e in r.json()["detail"]]


def test_disable_and_enable_a_device(client: TestClient, world: World, db_dsn: str) -> None:
    headers = world.auth("vet")
    r = client.post("/api/v1/devices/cgm-a/disable", headers=headers)
    assert r.status_code == 200
    assert r.json()["enabled"] is False
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT enabled FROM devices WHERE id = 'cgm-a'").fetchone() == (False,)
    assert client.post("/api/v1/devices/cgm-a/disable", headers=headers).json()["enabled"] is False  # idempotent
    assert client.get("/api/v1/devices", headers=headers, params={"enabled": False}).json()["items"][0]["id"] == "cgm-a"
    assert client.post("/api/v1/devices/cgm-a/enable", headers=headers).json()["enabled"] is True
    assert client.post("/api/v1/devices/cgm-b/disable", headers=headers).status_code == 404
    assert client.post("/api/v1/devices/cgm-a/disable", headers=world.auth("staff")).status_code == 403


def test_rebinding_a_device(client: TestClient, world: World) -> None:
    headers = world.auth("vet")
    r = client.patch("/api/v1/devices/cgm-a", headers=headers, json={"animal_id": "cow-a"})
    assert r.status_code == 200, r.text
    assert r.json()["animal_id"] == "cow-a"
    r = client.patch("/api/v1/devices/cgm-a", headers=headers, json={"animal_id": None})
    assert r.json()["animal_id"] is None


def test_patch_refuses_null_names_and_keeps_what_is_left_out(client: TestClient, world: World) -> None:
    headers = world.auth("vet")
    r = client.patch("/api/v1/owners/owner-a", headers=headers, json={"name": None})
    assert r.status_code == 422
    assert ["body", "name"] in [e["loc"] for e in r.json()["detail"]]
    r = client.patch("/api/v1/owners/owner-a", headers=headers, json={"webhook_url": "https://example.org/hook"})
    assert r.status_code == 200
    assert r.json()["email"] == "owner-a@example.org"
    assert r.json()["webhook_url"] == "https://example.org/hook"
    r = client.patch("/api/v1/clinics/clinic-a", headers=headers, json={"glucose_unit": "g/L"})
    assert r.json()["glucose_unit"] == "g/L"
    assert r.json()["name"] == "Clinic A"


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/api/v1/clinics", {"id": "clinic-x", "name": "a\u0000b"}, ["body", "name"]),
        ("/api/v1/owners", {"id": "o-x", "name": "Bob", "email": "b\u0000@example.org"}, ["body", "email"]),
        ("/api/v1/owners", {"id": "o-x", "name": "Bob", "webhook_url": "https://a\u0001b"}, ["body", "webhook_url"]),
        ("/api/v1/animals", {"id": "a\u0000", "species": "dog"}, ["body", "id"]),
    ],
    ids=["clinic-name", "email", "webhook", "id"],
)
def test_control_characters_are_refused_not_a_server_error(
    client: TestClient, world: World, path: str, body: dict[str, object], loc: list[str]
) -> None:
    # PostgreSQL text cannot hold NUL: before the patterns, these were 500s (found by schemathesis)
    r = client.post(
        path, headers=world.auth("admin"), json={**body, "clinic_id": "clinic-a"} if path != "/api/v1/clinics" else body
    )
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["detail"]]


@pytest.mark.parametrize("url", ["/api/v1/animals/a%00b", "/api/v1/devices?animal_id=a%00b", "/api/v1/owners/%20"])
def test_malformed_ids_in_paths_and_queries_are_422(client: TestClient, world: World, url: str) -> None:
    assert client.get(url, headers=world.auth("vet")).status_code == 422


def test_a_cow_s_calving_date(client: TestClient, world: World) -> None:
    headers = world.auth("vet")
    r = client.post(
        "/api/v1/animals", headers=headers, json={"id": "belle", "species": "cow", "calving_date": "2026-09-30"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["calving_date"] == "2026-09-30"
    r = client.patch("/api/v1/animals/belle", headers=headers, json={"calving_date": "2026-10-02"})
    assert (r.status_code, r.json()["calving_date"]) == (200, "2026-10-02")
    assert client.get("/api/v1/animals/belle", headers=headers).json()["calving_date"] == "2026-10-02"
    refused = [
        client.post(
            "/api/v1/animals", headers=headers, json={"id": "x", "species": "dog", "calving_date": "2026-01-01"}
        ),
        client.post(
            "/api/v1/animals", headers=headers, json={"id": "x", "species": "cow", "calving_date": "2999-01-01"}
        ),
        client.patch("/api/v1/animals/belle", headers=headers, json={"calving_date": "1900-01-01"}),
        client.patch("/api/v1/animals/cat-a", headers=headers, json={"calving_date": "2026-01-01"}),
    ]
    assert [r.status_code for r in refused] == [422] * 4
    assert "a calving date is for cows" in refused[0].text
    for r in refused[1:]:
        assert ["body", "calving_date"] in [e["loc"] for e in r.json()["detail"]], r.text
    assert client.get("/api/v1/animals/cat-a", headers=headers).json()["calving_date"] is None
