"""Messages: what an owner or farmer reads. Only approved text, only about their own animals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api._accounts import add_user, issue_token
from tests.api.conftest import World

URL = "/api/v1/messages"


def _draft(db: psycopg.Connection[Any], clinic: str, animal: str, body: str, language: str = "fr") -> int:
    row = db.execute(
        "INSERT INTO drafts (clinic_id, animal_id, audience, language, body) VALUES (%s, %s, 'owner', %s, %s)"
        " RETURNING id",
        (clinic, animal, language, body),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def messages(client: TestClient, world: World, db: psycopg.Connection[Any]) -> dict[str, int]:
    """In clinic A: the cat's draft edited then approved, a rejected and a pending one for the cat, an approved one
    for the farm's cow; in clinic B: the cat's draft approved."""
    vet = world.auth("vet")
    ids = {
        "edited": world.a.draft,
        "rejected": _draft(db, world.a.id, world.a.cat, "REJECTED TEXT"),
        "pending": _draft(db, world.a.id, world.a.cat, "PENDING TEXT"),
        "cow": _draft(db, world.a.id, world.a.cow, "Pour le troupeau : traite à surveiller."),
        "foreign": world.b.draft,
    }
    edited = client.post(f"/api/v1/drafts/{ids['edited']}/approve", headers=vet, json={"body": "Texte revu."})
    assert edited.status_code == 200
    assert client.post(f"/api/v1/drafts/{ids['cow']}/approve", headers=vet).status_code == 200
    rejected = client.post(f"/api/v1/drafts/{ids['rejected']}/reject", headers=vet, json={"reason": "wrong"})
    assert rejected.status_code == 200
    assert client.post(f"/api/v1/drafts/{ids['foreign']}/approve", headers=world.auth("vet", "b")).status_code == 200
    return ids


def test_owner_reads_only_approved_messages_about_their_animals(
    client: TestClient, world: World, messages: dict[str, int]
) -> None:
    r = client.get(URL, headers=world.auth("owner"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert [m["id"] for m in page["items"]] == [messages["edited"]]
    assert page["total"] == 1
    m = page["items"][0]
    assert m | {"approved_at": None} == {
        "id": messages["edited"],
        "clinic_id": world.a.id,
        "animal_id": world.a.cat,
        "animal_name": "Minou a",
        "language": "fr",
        "subject": None,
        "body": "Texte revu.\nValidé par : Dr A",  # the vet's text only, never the draft's
        "approved_by": "Dr A",
        "approved_at": None,
        "delivery_status": "queued",
    }
    assert "glucose was low" not in r.text
    assert "REJECTED" not in r.text
    assert "PENDING" not in r.text


def test_owner_gets_404_for_drafts_and_other_owners_messages(
    client: TestClient, world: World, messages: dict[str, int]
) -> None:
    h = world.auth("owner")
    assert client.get(f"{URL}/{messages['edited']}", headers=h).json()["body"] == "Texte revu.\nValidé par : Dr A"
    for key in ("rejected", "pending", "cow", "foreign"):
        r = client.get(f"{URL}/{messages[key]}", headers=h)
        assert r.status_code == 404, key
        assert "TEXT" not in r.text
    assert client.get(URL, headers=h, params={"animal": world.a.cow}).json()["items"] == []


def test_vet_and_staff_read_their_clinics_messages(client: TestClient, world: World, messages: dict[str, int]) -> None:
    for role in ("vet", "staff"):
        r = client.get(URL, headers=world.auth(role))
        assert r.status_code == 200
        assert {m["id"] for m in r.json()["items"]} == {messages["edited"], messages["cow"]}
        cow = client.get(URL, headers=world.auth(role), params={"animal": world.a.cow}).json()["items"]
        assert [m["id"] for m in cow] == [messages["cow"]]
        assert client.get(f"{URL}/{messages['foreign']}", headers=world.auth(role)).status_code == 404
        assert client.get(f"{URL}/{messages['pending']}", headers=world.auth(role)).status_code == 404
    everything = client.get(URL, headers=world.auth("admin")).json()["items"]
    assert {m["id"] for m in everything} == {messages["edited"], messages["cow"], messages["foreign"]}


def test_message_is_in_the_language_it_was_written_in(
    client: TestClient, world: World, messages: dict[str, int]
) -> None:
    b = client.get(URL, headers=world.auth("owner", "b")).json()["items"]
    assert [(m["id"], m["language"]) for m in b] == [(messages["foreign"], "en")]
    assert b[0]["body"].endswith("\nApproved by: Dr B")


def test_pagination(client: TestClient, world: World, messages: dict[str, int]) -> None:
    h = world.auth("vet")
    first = client.get(URL, headers=h, params={"limit": 1}).json()
    second = client.get(URL, headers=h, params={"limit": 1, "offset": 1}).json()
    assert first["total"] == second["total"] == 2
    assert {first["items"][0]["id"], second["items"][0]["id"]} == {messages["edited"], messages["cow"]}
    assert client.get(URL, headers=h, params={"limit": 10_000}).status_code == 422


def test_device_reads_nothing(client: TestClient, world: World, messages: dict[str, int]) -> None:
    assert client.get(URL, headers=world.auth("device")).status_code == 403
    assert client.get(f"{URL}/{messages['edited']}", headers=world.auth("device")).status_code == 403


def test_a_farm_account_reads_its_herds_messages(
    client: TestClient, world: World, db: psycopg.Connection[Any], messages: dict[str, int]
) -> None:
    add_user(db, "farmer-a", role="owner", owner=world.a.farm)
    token = issue_token(db, "farmer-a", ttl=timedelta(hours=1)).token
    r = client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["items"]] == [messages["cow"]]
    assert r.json()["items"][0]["body"] == "Pour le troupeau : traite à surveiller.\nValidé par : Dr A"
    assert client.get(f"{URL}/{messages['edited']}", headers={"Authorization": f"Bearer {token}"}).status_code == 404
