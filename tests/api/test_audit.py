"""The audit log over the API: the clinic's own lines only, newest first, filtered by object, for vets and admins."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World

URL = "/api/v1/audit"


@pytest.fixture
def history(client: TestClient, world: World) -> None:
    """In clinic A: staff acknowledges the alert, the vet resolves it and approves the draft; in clinic B: the vet
    rejects the draft and sets an override."""
    a_vet, b_vet = world.auth("vet"), world.auth("vet", "b")
    assert client.post(f"/api/v1/alerts/{world.a.alert}/acknowledge", headers=world.auth("staff")).status_code == 200
    assert (
        client.post(f"/api/v1/alerts/{world.a.alert}/resolve", headers=a_vet, json={"note": "seen"}).status_code == 200
    )
    assert client.post(f"/api/v1/drafts/{world.a.draft}/approve", headers=a_vet).status_code == 200
    assert (
        client.post(f"/api/v1/drafts/{world.b.draft}/reject", headers=b_vet, json={"reason": "B only"}).status_code
        == 200
    )
    r = client.put(
        f"/api/v1/animals/{world.b.cat}/rules/hypoglycemia/override", headers=b_vet, json={"params": {"threshold": 65}}
    )
    assert r.status_code == 200


def _lines(client: TestClient, headers: dict[str, str], **params: Any) -> list[tuple[str, str, str, str]]:
    r = client.get(URL, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [(x["actor"], x["action"], x["object_type"], x["object_id"]) for x in r.json()["items"]]


def test_vet_reads_the_clinics_log_newest_first(client: TestClient, world: World, history: None) -> None:
    a, d = str(world.a.alert), str(world.a.draft)
    assert _lines(client, world.auth("vet")) == [
        ("Dr A", "outbox.queue", "draft", d),
        ("Dr A", "draft.approve", "draft", d),
        ("Dr A", "alert.resolve", "alert", a),
        ("staff-a", "alert.acknowledge", "alert", a),
    ]
    r = client.get(URL, headers=world.auth("vet"), params={"action": "alert.resolve"})
    (line,) = r.json()["items"]
    assert (line["clinic_id"], line["detail"]) == (world.a.id, {"note": "seen"})
    assert "B only" not in client.get(URL, headers=world.auth("vet")).text


def test_filter_by_object_actor_and_action(client: TestClient, world: World, history: None) -> None:
    h = world.auth("vet")
    a, d = str(world.a.alert), str(world.a.draft)
    assert _lines(client, h, object_type="alert", object_id=a) == [
        ("Dr A", "alert.resolve", "alert", a),
        ("staff-a", "alert.acknowledge", "alert", a),
    ]
    assert _lines(client, h, object_type="draft") == [
        ("Dr A", "outbox.queue", "draft", d),
        ("Dr A", "draft.approve", "draft", d),
    ]
    assert _lines(client, h, actor="staff-a") == [("staff-a", "alert.acknowledge", "alert", a)]
    assert _lines(client, h, object_type="draft", object_id=str(world.b.draft)) == []  # clinic B's draft
    rules = _lines(client, world.auth("vet", "b"), object_type="rule", object_id="hypoglycemia")
    assert rules == [("Dr B", "override.set", "rule", "hypoglycemia")]


def test_pagination(client: TestClient, world: World, history: None) -> None:
    h = world.auth("vet")
    pages = [client.get(URL, headers=h, params={"limit": 3, "offset": o}).json() for o in (0, 3)]
    assert [len(p["items"]) for p in pages] == [3, 1]
    assert pages[0]["total"] == pages[1]["total"] == 4
    assert client.get(URL, headers=h, params={"limit": 501}).status_code == 422


def test_admin_reads_every_clinic(client: TestClient, world: World, history: None) -> None:
    lines = _lines(client, world.auth("admin"))
    assert lines[:2] == [
        ("Dr B", "override.set", "rule", "hypoglycemia"),
        ("Dr B", "draft.reject", "draft", str(world.b.draft)),
    ]
    assert lines[2:] == _lines(client, world.auth("vet"))


@pytest.mark.parametrize("role", ["staff", "owner", "device"])
def test_others_may_not_read_the_log(client: TestClient, world: World, role: str) -> None:
    assert client.get(URL, headers=world.auth(role)).status_code == 403
