"""Drafts over the API: list, one draft with its delivery status, approve, edit then approve, reject with a reason."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World

URL = "/api/v1/drafts"


def _outbox(db: psycopg.Connection[Any], draft_id: int) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT clinic_id, recipient, language, body, status FROM outbox WHERE draft_id = %s", (draft_id,)
    ).fetchall()


def _audit(db: psycopg.Connection[Any], draft_id: int) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT actor, action, clinic_id, detail FROM audit_log WHERE object_type = 'draft' AND object_id = %s"
        " ORDER BY id",
        (str(draft_id),),
    ).fetchall()


def test_list_and_get(client: TestClient, world: World) -> None:
    r = client.get(URL, headers=world.auth("staff"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert [d["id"] for d in page["items"]] == [world.a.draft]
    assert page["total"] == 1
    item = page["items"][0]
    assert item | {"created_at": None} == {
        "id": world.a.draft,
        "clinic_id": world.a.id,
        "animal_id": world.a.cat,
        "animal_name": "Minou a",
        "owner_id": world.a.owner,
        "audience": "owner",
        "language": "fr",
        "status": "pending",
        "severity": "urgent",  # from its alert
        "categories": ["hypoglycemia"],
        "alert_ids": [world.a.alert],
        "body": f"Draft for {world.a.cat}: glucose was low.",
        "final_body": None,
        "created_at": None,
        "decided_by": None,
        "decided_at": None,
        "reject_reason": None,
        "delivery": None,
    }
    one = client.get(f"{URL}/{world.a.draft}", headers=world.auth("staff"))
    assert one.status_code == 200
    assert one.json() == item


def test_filters(client: TestClient, world: World) -> None:
    h = world.auth("vet")

    def ids(**params: Any) -> list[int]:
        r = client.get(URL, headers=h, params=params)
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["items"]]

    assert ids(status="pending") == [world.a.draft]
    assert ids(status=["approved", "edited"]) == []
    assert ids(severity="urgent") == [world.a.draft]
    assert ids(severity="info") == []
    assert ids(category="hypoglycemia") == [world.a.draft]
    assert ids(category="mastitis") == []
    assert ids(animal=world.a.cat) == [world.a.draft]
    assert ids(animal=world.b.cat) == []
    assert client.get(URL, headers=h, params={"status": "sent"}).status_code == 422


def test_approve_as_drafted_queues_exactly_one_outbox_row(
    client: TestClient, world: World, db: psycopg.Connection[Any]
) -> None:
    r = client.post(f"{URL}/{world.a.draft}/approve", headers=world.auth("vet"))
    assert r.status_code == 200, r.text
    d = r.json()
    final = f"Draft for {world.a.cat}: glucose was low.\nValidé par : Dr A"
    assert (d["status"], d["final_body"], d["decided_by"]) == ("approved", final, "Dr A")
    assert d["body"] == f"Draft for {world.a.cat}: glucose was low."
    assert d["delivery"] | {"queued_at": None, "next_attempt_at": None} == {
        "status": "queued",
        "channel": "email",
        "recipient": f"{world.a.owner}@example.org",
        "subject": None,
        "attempts": 0,
        "last_error": None,
        "queued_at": None,
        "next_attempt_at": None,
        "sent_at": None,
    }
    assert _outbox(db, world.a.draft) == [(world.a.id, f"{world.a.owner}@example.org", "fr", final, "queued")]
    assert _audit(db, world.a.draft) == [
        ("Dr A", "draft.approve", world.a.id, {"edited": False}),
        ("Dr A", "outbox.queue", world.a.id, {}),
    ]
    # deciding it again is a conflict, and nothing more is queued
    again = client.post(f"{URL}/{world.a.draft}/approve", headers=world.auth("vet"))
    assert again.status_code == 409
    assert again.json()["detail"] == f"draft {world.a.draft} is already approved"
    reject = client.post(f"{URL}/{world.a.draft}/reject", headers=world.auth("vet"), json={"reason": "late"})
    assert reject.status_code == 409
    assert len(_outbox(db, world.a.draft)) == 1


def test_edit_then_approve_keeps_the_original(client: TestClient, world: World, db: psycopg.Connection[Any]) -> None:
    edited = "Bonjour, la glycémie de Minou était basse cette nuit. Merci de nous appeler."
    r = client.post(f"{URL}/{world.a.draft}/approve", headers=world.auth("admin"), json={"body": edited})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == "edited"
    assert d["body"] == f"Draft for {world.a.cat}: glucose was low."  # as drafted
    assert d["final_body"] == f"{edited}\nValidé par : root-admin"
    assert _outbox(db, world.a.draft)[0][3] == d["final_body"]
    assert _audit(db, world.a.draft)[0] == ("root-admin", "draft.edit_approve", world.a.id, {"edited": True})


def test_english_clinic_signs_in_english(client: TestClient, world: World, db: psycopg.Connection[Any]) -> None:
    r = client.post(f"{URL}/{world.b.draft}/approve", headers=world.auth("vet", "b"))
    assert r.json()["final_body"].endswith("\nApproved by: Dr B")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"body": ""}, ["body", "body"]),
        ({"body": "   "}, ["body", "body"]),  # only spaces: empty once stripped
        ({"body": "x" * 20_001}, ["body", "body"]),
        ({"body": "ok", "status": "approved"}, ["body", "status"]),
        ({"body": "nul \x00 character"}, ["body", "body"]),  # PostgreSQL text cannot hold it
    ],
)
def test_bad_edit_is_422_and_changes_nothing(
    client: TestClient, world: World, db: psycopg.Connection[Any], body: dict[str, Any], loc: list[str]
) -> None:
    r = client.post(f"{URL}/{world.a.draft}/approve", headers=world.auth("vet"), json=body)
    assert r.status_code == 422
    assert loc in [e["loc"] for e in r.json()["detail"]]
    assert db.execute("SELECT status FROM drafts WHERE id = %s", (world.a.draft,)).fetchone() == ("pending",)
    assert _outbox(db, world.a.draft) == []


def test_reject_needs_a_reason_and_queues_nothing(
    client: TestClient, world: World, db: psycopg.Connection[Any]
) -> None:
    url = f"{URL}/{world.a.draft}/reject"
    for body in ({}, {"reason": ""}, {"reason": "  "}):
        r = client.post(url, headers=world.auth("vet"), json=body)
        assert r.status_code == 422
        assert ["body", "reason"] in [e["loc"] for e in r.json()["detail"]]
    r = client.post(url, headers=world.auth("vet"), json={"reason": "sensor was off the skin"})
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["status"], d["reject_reason"], d["decided_by"], d["final_body"], d["delivery"]) == (
        "rejected",
        "sensor was off the skin",
        "Dr A",
        None,
        None,
    )
    assert _outbox(db, world.a.draft) == []
    assert _audit(db, world.a.draft) == [("Dr A", "draft.reject", world.a.id, {"reason": "sensor was off the skin"})]
    assert client.post(f"{URL}/{world.a.draft}/approve", headers=world.auth("vet")).status_code == 409


def test_delivery_status_follows_the_outbox(client: TestClient, world: World, db: psycopg.Connection[Any]) -> None:
    client.post(f"{URL}/{world.a.draft}/approve", headers=world.auth("vet"))
    # what the delivery worker writes after a failed attempt
    db.execute(
        "UPDATE outbox SET status = 'failed', attempts = 3, last_error = 'SMTP 550 mailbox unavailable',"
        " subject = 'Minou' WHERE draft_id = %s",
        (world.a.draft,),
    )
    delivery = client.get(f"{URL}/{world.a.draft}", headers=world.auth("staff")).json()["delivery"]
    assert (delivery["status"], delivery["attempts"], delivery["last_error"], delivery["subject"]) == (
        "failed",
        3,
        "SMTP 550 mailbox unavailable",
        "Minou",
    )


def test_staff_reads_but_may_not_decide(client: TestClient, world: World, db: psycopg.Connection[Any]) -> None:
    h = world.auth("staff")
    assert client.post(f"{URL}/{world.a.draft}/approve", headers=h).status_code == 403
    assert client.post(f"{URL}/{world.a.draft}/reject", headers=h, json={"reason": "no"}).status_code == 403
    assert db.execute("SELECT status FROM drafts WHERE id = %s", (world.a.draft,)).fetchone() == ("pending",)


@pytest.mark.parametrize("role", ["owner", "device"])
def test_owner_and_device_never_see_a_draft(client: TestClient, world: World, role: str) -> None:
    h = world.auth(role)
    assert client.get(URL, headers=h).status_code == 403
    assert client.get(f"{URL}/{world.a.draft}", headers=h).status_code == 403
    assert client.post(f"{URL}/{world.a.draft}/approve", headers=h).status_code == 403
    assert client.post(f"{URL}/{world.a.draft}/reject", headers=h, json={"reason": "no"}).status_code == 403


def test_foreign_draft_is_404_and_untouched(client: TestClient, world: World, db: psycopg.Connection[Any]) -> None:
    h = world.auth("vet")
    assert client.get(f"{URL}/{world.b.draft}", headers=h).status_code == 404
    assert client.post(f"{URL}/{world.b.draft}/approve", headers=h).status_code == 404
    assert client.post(f"{URL}/{world.b.draft}/reject", headers=h, json={"reason": "no"}).status_code == 404
    assert client.get(f"{URL}/424242", headers=h).status_code == 404
    assert db.execute("SELECT status FROM drafts WHERE id = %s", (world.b.draft,)).fetchone() == ("pending",)
    assert _outbox(db, world.b.draft) == []
    assert _audit(db, world.b.draft) == []


def test_two_vets_approving_at_once_queue_one_delivery(
    client: TestClient, world: World, db: psycopg.Connection[Any], db_dsn: str
) -> None:
    url = f"{URL}/{world.a.draft}/approve"
    with psycopg.connect(db_dsn) as holder, ThreadPoolExecutor(2) as pool:
        # hold the draft's row so that both requests are inside their transaction, waiting for it, at once
        holder.execute("SELECT 1 FROM drafts WHERE id = %s FOR UPDATE", (world.a.draft,))
        futures = [
            pool.submit(client.post, url, headers=world.auth("vet"), json={"body": f"Texte {i}"}) for i in range(2)
        ]
        deadline = time.monotonic() + 60
        while True:
            waiting = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting is not None and waiting[0] >= 2:
                break
            assert time.monotonic() < deadline, "the two approvals never waited for the row"
            time.sleep(0.05)
        holder.commit()
        responses = [f.result(timeout=60) for f in futures]
    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert _outbox(db, world.a.draft) == [
        (world.a.id, f"{world.a.owner}@example.org", "fr", winner["final_body"], "queued")
    ]
    assert [a[1] for a in _audit(db, world.a.draft)] == ["draft.edit_approve", "outbox.queue"]
