"""Alerts over the API: ranked and filtered lists, one alert with its evidence and history, acknowledge, resolve."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api._app import create_app
from tests.api.conftest import World
from vigie.settings import Settings

URL = "/api/v1/alerts"


def _add_alert(
    db: psycopg.Connection[Any], world: World, *, severity: str, category: str, rule: str, hours_ago: float, **kw: Any
) -> int:
    end = world.now - timedelta(hours=hours_ago)
    row = db.execute(
        "INSERT INTO alerts (clinic_id, animal_id, category, rule_id, rule_version, severity, status, window_start,"
        " window_end, evidence, explanation, onset) VALUES (%s, %s, %s, %s, 'v1', %s, %s, %s, %s, %s, 'x', %s)"
        " RETURNING id",
        (
            kw.get("clinic", world.a.id),
            kw.get("animal", world.a.cow),
            category,
            rule,
            severity,
            kw.get("status", "open"),
            end - timedelta(hours=1),
            end,
            Jsonb(kw.get("evidence", {})),
            end - timedelta(hours=1),
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_list_ranks_by_severity_then_recency(client: TestClient, world: World, db: psycopg.Connection[Any]) -> None:
    info_new = _add_alert(db, world, severity="info", category="data_gap", rule="robot_silent", hours_ago=0)
    review_old = _add_alert(db, world, severity="review", category="ketosis", rule="ketosis_fp", hours_ago=30)
    review_new = _add_alert(db, world, severity="review", category="lameness", rule="lameness_visits", hours_ago=2)
    r = client.get(URL, headers=world.auth("vet"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert [a["id"] for a in page["items"]] == [world.a.alert, review_new, review_old, info_new]
    assert page["total"] == 4
    assert {a["clinic_id"] for a in page["items"]} == {world.a.id}  # nothing of clinic B


def test_filters_and_pagination(client: TestClient, world: World, db: psycopg.Connection[Any]) -> None:
    ketosis = _add_alert(db, world, severity="review", category="ketosis", rule="ketosis_fp", hours_ago=1)
    gap = _add_alert(
        db, world, severity="info", category="data_gap", rule="robot_silent", hours_ago=1, status="resolved"
    )
    h = world.auth("staff")

    def ids(**params: Any) -> list[int]:
        r = client.get(URL, headers=h, params=params)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["items"]]

    assert ids(status="resolved") == [gap]
    assert ids(status=["open", "acknowledged"]) == [world.a.alert, ketosis]
    assert ids(severity="urgent") == [world.a.alert]
    assert ids(category="ketosis") == [ketosis]
    assert ids(animal=world.a.cat) == [world.a.alert]
    assert ids(animal=world.b.cat) == []  # another clinic's animal: nothing, not an error
    assert ids(limit=1) == [world.a.alert]
    r = client.get(URL, headers=h, params={"limit": 1, "offset": 1})
    assert [a["id"] for a in r.json()["items"]] == [ketosis]
    assert r.json() | {"items": []} == {"items": [], "total": 3, "limit": 1, "offset": 1}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"status": "closed"}, ["query", "status", 0]),
        ({"severity": "high"}, ["query", "severity", 0]),
        ({"category": "flu"}, ["query", "category", 0]),
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 501}, ["query", "limit"]),  # above api_page_max
        ({"offset": -1}, ["query", "offset"]),
        ({"animal": "cat a"}, ["query", "animal"]),
    ],
)
def test_bad_filters_are_422_naming_the_field(
    client: TestClient, world: World, params: dict[str, Any], loc: list[Any]
) -> None:
    r = client.get(URL, headers=world.auth("vet"), params=params)
    assert r.status_code == 422
    assert loc in [e["loc"] for e in r.json()["detail"]]


def test_admin_sees_every_clinic(client: TestClient, world: World) -> None:
    r = client.get(URL, headers=world.auth("admin"))
    assert {a["id"] for a in r.json()["items"]} == {world.a.alert, world.b.alert}


def test_one_alert_with_evidence_history_and_drafts(
    client: TestClient, world: World, db: psycopg.Connection[Any]
) -> None:
    evidence = {"threshold": 60, "extreme": 48, "explanation_fr": "Glycémie basse", "explanation_en": "Low glucose"}
    db.execute("UPDATE alerts SET evidence = %s WHERE id = %s", (Jsonb(evidence), world.a.alert))
    r = client.get(f"{URL}/{world.a.alert}", headers=world.auth("vet"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["evidence"] == evidence
    assert body["explanation"] == "Glycémie basse"  # clinic A speaks French
    assert body["draft_ids"] == [world.a.draft]
    assert body["history"] == []
    assert body["animal_name"] == "Minou a"
    en = client.get(f"{URL}/{world.b.alert}", headers=world.auth("vet", "b")).json()
    assert en["explanation"] == "glucose below 60 mg/dL for 20 min"  # no translated explanation: the stored one


def test_foreign_or_unknown_alert_is_404(client: TestClient, world: World) -> None:
    for path in (f"{URL}/{world.b.alert}", f"{URL}/999999"):
        assert client.get(path, headers=world.auth("vet")).status_code == 404
        assert client.post(f"{path}/acknowledge", headers=world.auth("vet")).status_code == 404
        assert client.post(f"{path}/resolve", headers=world.auth("vet")).status_code == 404
    foreign = client.get(f"{URL}/{world.b.alert}", headers=world.auth("vet")).json()
    unknown = client.get(f"{URL}/999999", headers=world.auth("vet")).json()
    assert foreign["detail"].replace(str(world.b.alert), "N") == unknown["detail"].replace("999999", "N")


def test_acknowledge_by_staff_then_resolve_by_vet_with_note(
    client: TestClient, world: World, db: psycopg.Connection[Any]
) -> None:
    url = f"{URL}/{world.a.alert}"
    r = client.post(f"{url}/acknowledge", headers=world.auth("staff"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    assert r.json()["acknowledged_by"] == "staff-a"  # a staff account without a display name: its user id
    again = client.post(f"{url}/acknowledge", headers=world.auth("vet"))
    assert again.status_code == 409
    assert "not open" in again.json()["detail"]
    assert client.post(f"{url}/resolve", headers=world.auth("staff"), json={"note": "x"}).status_code == 403
    r = client.post(f"{url}/resolve", headers=world.auth("vet"), json={"note": "glucometer 110 mg/dL, sensor low"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["resolved_by"]) == ("resolved", "Dr A")
    assert client.post(f"{url}/resolve", headers=world.auth("vet")).status_code == 409
    assert client.post(f"{url}/acknowledge", headers=world.auth("vet")).status_code == 409
    rows = db.execute(
        "SELECT actor, action, clinic_id, detail FROM audit_log WHERE object_type = 'alert' AND object_id = %s"
        " ORDER BY id",
        (str(world.a.alert),),
    ).fetchall()
    assert rows == [
        ("staff-a", "alert.acknowledge", world.a.id, {}),
        ("Dr A", "alert.resolve", world.a.id, {"note": "glucometer 110 mg/dL, sensor low"}),
    ]
    history = client.get(url, headers=world.auth("vet")).json()["history"]
    assert [(h["actor"], h["action"]) for h in history] == [("staff-a", "alert.acknowledge"), ("Dr A", "alert.resolve")]
    # the other clinic's alert is untouched
    assert db.execute("SELECT status FROM alerts WHERE id = %s", (world.b.alert,)).fetchone() == ("open",)


def test_resolve_without_a_body_and_with_a_bad_body(client: TestClient, world: World) -> None:
    url = f"{URL}/{world.a.alert}/resolve"
    assert client.post(url, headers=world.auth("vet"), json={"note": "x" * 2001}).status_code == 422
    r = client.post(url, headers=world.auth("vet"), json={"note": "ok", "status": "open"})
    assert r.status_code == 422
    assert ["body", "status"] in [e["loc"] for e in r.json()["detail"]]
    assert client.post(url, headers=world.auth("vet")).json()["status"] == "resolved"


@pytest.mark.parametrize("role", ["owner", "device"])
def test_owner_and_device_see_no_alert(client: TestClient, world: World, role: str) -> None:
    h = world.auth(role)
    assert client.get(URL, headers=h).status_code == 403
    assert client.get(f"{URL}/{world.a.alert}", headers=h).status_code == 403
    assert client.post(f"{URL}/{world.a.alert}/acknowledge", headers=h).status_code == 403
    assert client.post(f"{URL}/{world.a.alert}/resolve", headers=h).status_code == 403


def test_no_token_is_401(client: TestClient, world: World) -> None:
    assert client.get(URL).status_code == 401


def test_a_lowered_page_maximum_is_422_above_it(api_settings: Settings, world: World) -> None:
    with TestClient(create_app(api_settings.model_copy(update={"api_page_max": 1}))) as small:
        r = small.get(URL, headers=world.auth("admin"), params={"limit": 2})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["query", "limit"]
        ok = small.get(URL, headers=world.auth("admin"), params={"limit": 1})
        assert (ok.status_code, len(ok.json()["items"]), ok.json()["total"]) == (200, 1, 2)


def test_openapi_documents_the_page_ceiling_and_the_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/alerts"]["get"]
    limit = next(p for p in op["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 500
    assert {"401", "403", "422"} <= set(op["responses"])
    assert {"404", "409"} <= set(spec["paths"]["/api/v1/alerts/{alert_id}/acknowledge"]["post"]["responses"])
