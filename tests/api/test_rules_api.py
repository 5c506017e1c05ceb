"""Rules over the API: effective rules with origins and version, clinic and animal overrides, their validation."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from rules._config import KINDS, load_rules
from rules._model import AnimalContext
from rules._overrides import KIND_PARAMS
from rules._store import effective_rules
from tests.api.conftest import World
from vigie.settings import Settings


def _rules_url(animal: str) -> str:
    return f"/api/v1/animals/{animal}/rules"


def _override_url(animal: str, rule: str = "hypoglycemia") -> str:
    return f"/api/v1/animals/{animal}/rules/{rule}/override"


def _clinic_url(clinic: str, rule: str = "hypoglycemia") -> str:
    return f"/api/v1/clinics/{clinic}/rules/{rule}/override"


def _rule(effective: dict[str, Any], rule_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in effective["rules"] if r["id"] == rule_id)
    return found


def test_effective_rules_of_an_animal(client: TestClient, world: World, db: psycopg.Connection[Any]) -> None:
    r = client.get(_rules_url(world.a.cat), headers=world.auth("staff"))
    assert r.status_code == 200, r.text
    eff = r.json()
    assert (eff["animal_id"], eff["species"], eff["clinic_id"], eff["overrides"]) == (
        world.a.cat,
        "cat",
        world.a.id,
        [],
    )
    assert len(eff["version"]) == 12
    hypo = _rule(eff, "hypoglycemia")
    assert (hypo["category"], hypo["kind"], hypo["source"]) == ("hypoglycemia", "threshold", "S/D/U")
    assert hypo["severity"] == {"value": "urgent", "origin": "default"}
    # a cat's default is its species' own (config/rules/pet.toml [rules.for_species.cat]: 70, not the 60 of dogs)
    assert hypo["params"]["threshold"] == {"value": 70.0, "origin": "default"}
    assert "mastitis_ec" not in {x["id"] for x in eff["rules"]}  # a cat's rules only
    assert db.execute("SELECT count(*) FROM rule_set_versions").fetchone() == (0,)  # a read writes nothing
    cow = client.get(_rules_url(world.a.cow), headers=world.auth("vet")).json()
    assert "mastitis_ec" in {x["id"] for x in cow["rules"]}
    assert cow["version"] != eff["version"]


def test_animal_override_changes_the_rules_and_the_version(
    client: TestClient, world: World, db: psycopg.Connection[Any], api_settings: Settings
) -> None:
    before = client.get(_rules_url(world.a.cat), headers=world.auth("vet")).json()
    r = client.put(
        _override_url(world.a.cat),
        headers=world.auth("vet"),
        json={"params": {"threshold": 70, "clear": 80.5, "severity": "review"}, "reason": "kept higher"},
    )
    assert r.status_code == 200, r.text
    after = r.json()
    hypo = _rule(after, "hypoglycemia")
    assert hypo["params"]["threshold"] == {"value": 70, "origin": "animal"}
    assert hypo["params"]["clear"] == {"value": 80.5, "origin": "animal"}
    assert hypo["params"]["hold_min"] == {"value": 15.0, "origin": "default"}
    assert hypo["severity"] == {"value": "review", "origin": "animal"}
    assert after["version"] != before["version"]
    assert [(o["animal_id"], o["rule_id"], o["set_by"], o["reason"]) for o in after["overrides"]] == [
        (world.a.cat, "hypoglycemia", "Dr A", "kept higher")
    ]
    # the version the API shows is the one the rules service evaluates with, and it is recorded
    ruleset = load_rules(api_settings.config_dir / "rules")
    with psycopg.connect(db.info.dsn) as conn:
        service = effective_rules(conn, ruleset, AnimalContext(world.a.cat, "cat", world.a.id))
    assert service.version == after["version"]
    assert db.execute("SELECT 1 FROM rule_set_versions WHERE version = %s", (after["version"],)).fetchone()
    audit = db.execute("SELECT actor, action, clinic_id, object_type, object_id, detail FROM audit_log").fetchall()
    assert audit == [
        (
            "Dr A",
            "override.set",
            world.a.id,
            "rule",
            "hypoglycemia",
            {
                "animal_id": world.a.cat,
                "params": {"threshold": 70, "clear": 80.5, "severity": "review"},
                "reason": "kept higher",
            },
        )
    ]
    # the other clinic's cat keeps the defaults
    other = client.get(_rules_url(world.b.cat), headers=world.auth("vet", "b")).json()
    assert _rule(other, "hypoglycemia")["params"]["threshold"] == {"value": 70.0, "origin": "default"}
    assert other["version"] == before["version"]  # same effective rules, same version


def test_clinic_override_then_animal_override_wins_then_delete(
    client: TestClient, world: World, db: psycopg.Connection[Any]
) -> None:
    vet = world.auth("vet")
    default_version = client.get(_rules_url(world.a.cat), headers=vet).json()["version"]
    r = client.put(_clinic_url(world.a.id), headers=vet, json={"params": {"threshold": 65, "urgent_below": 45}})
    assert r.status_code == 200, r.text
    assert (r.json()["animal_id"], r.json()["params"]) == (None, {"threshold": 65, "urgent_below": 45})
    clinic_eff = client.get(_rules_url(world.a.cat), headers=vet).json()
    assert _rule(clinic_eff, "hypoglycemia")["params"]["threshold"] == {"value": 65, "origin": "clinic"}
    assert client.put(_override_url(world.a.cat), headers=vet, json={"params": {"threshold": 72}}).status_code == 200
    both = client.get(_rules_url(world.a.cat), headers=vet).json()
    params = _rule(both, "hypoglycemia")["params"]
    assert params["threshold"] == {"value": 72, "origin": "animal"}
    assert params["urgent_below"] == {"value": 45, "origin": "clinic"}
    assert len({default_version, clinic_eff["version"], both["version"]}) == 3
    listed = client.get(f"/api/v1/clinics/{world.a.id}/rule-overrides", headers=world.auth("staff")).json()
    assert [(o["animal_id"], o["params"]) for o in listed] == [
        (None, {"threshold": 65, "urgent_below": 45}),
        (world.a.cat, {"threshold": 72}),
    ]
    # removing the animal's override goes back to the clinic's rules and their version
    r = client.delete(_override_url(world.a.cat), headers=vet)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == clinic_eff["version"]
    assert client.delete(_override_url(world.a.cat), headers=vet).status_code == 404
    assert client.delete(_clinic_url(world.a.id), headers=vet).status_code == 204
    assert client.get(_rules_url(world.a.cat), headers=vet).json()["version"] == default_version
    assert client.delete(_clinic_url(world.a.id), headers=vet).status_code == 404
    actions = db.execute("SELECT actor, action, detail->>'animal_id' FROM audit_log ORDER BY id").fetchall()
    assert actions == [
        ("Dr A", "override.set", None),
        ("Dr A", "override.set", world.a.cat),
        ("Dr A", "override.delete", world.a.cat),
        ("Dr A", "override.delete", None),
    ]


@pytest.mark.parametrize(
    ("params", "loc", "words"),
    [
        ({"thresold": 70}, ["body", "params", "thresold"], "no overridable parameter 'thresold'"),
        ({"threshold": "70"}, ["body", "params", "threshold"], "must be a number"),
        ({"threshold": True}, ["body", "params", "threshold"], "must be a number"),
        ({"threshold": [70]}, ["body", "params", "threshold"], "must be a number"),
        ({"min_points": 2.5}, ["body", "params", "min_points"], "whole number"),
        ({"min_points": 0}, ["body", "params", "min_points"], "whole number"),
        ({"severity": "critical"}, ["body", "params", "severity"], "severity must be one of"),
        ({"metric": "ketones"}, ["body", "params", "metric"], "no overridable parameter"),  # what it watches
        ({"op": "above"}, ["body", "params", "op"], "no overridable parameter"),
        ({}, ["body", "params"], "at least one parameter"),
    ],
)
def test_bad_override_is_422_naming_the_parameter(
    client: TestClient, world: World, db: psycopg.Connection[Any], params: dict[str, Any], loc: list[str], words: str
) -> None:
    for url in (_override_url(world.a.cat), _clinic_url(world.a.id)):
        r = client.put(url, headers=world.auth("vet"), json={"params": params})
        assert r.status_code == 422, r.text
        errors = {tuple(e["loc"]): e["msg"] for e in r.json()["detail"]}
        assert words in errors[tuple(loc)]
    assert db.execute("SELECT count(*) FROM rule_overrides").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM audit_log").fetchone() == (0,)


def test_non_finite_values_are_refused(client: TestClient, world: World) -> None:
    huge = "1" + "0" * 400  # an integer no float can hold
    for raw in (
        '{"params": {"threshold": NaN}}',
        '{"params": {"threshold": Infinity}}',
        f'{{"params": {{"threshold": {huge}}}}}',
    ):
        r = client.put(
            _override_url(world.a.cat),
            headers=world.auth("vet") | {"Content-Type": "application/json"},
            content=raw,
        )
        assert r.status_code == 422, r.text
        assert ["body", "params", "threshold"] in [e["loc"] for e in r.json()["detail"]]


def test_ids_and_text_of_the_wrong_shape_are_422(client: TestClient, world: World) -> None:
    vet = world.auth("vet")
    assert client.get(_rules_url("bad id"), headers=vet).status_code == 422
    r = client.put(_override_url(world.a.cat), headers=vet, json={"params": {"threshold": 70}, "reason": "a\x00b"})
    assert r.status_code == 422
    assert ["body", "reason"] in [e["loc"] for e in r.json()["detail"]]


def test_integer_parameters_of_the_kind_and_of_another_kind(client: TestClient, world: World) -> None:
    vet = world.auth("vet")
    ok = client.put(_override_url(world.a.cow, "mastitis_ec"), headers=vet, json={"params": {"consecutive": 3}})
    assert ok.status_code == 200, ok.text
    assert _rule(ok.json(), "mastitis_ec")["params"]["consecutive"] == {"value": 3, "origin": "animal"}
    # a parameter of another kind is not one of this rule's
    r = client.put(_override_url(world.a.cow, "mastitis_ec"), headers=vet, json={"params": {"threshold": 3}})
    assert r.status_code == 422


def test_unknown_rule_or_rule_of_another_species_is_404(client: TestClient, world: World) -> None:
    vet = world.auth("vet")
    body = {"params": {"threshold": 70}}
    assert client.put(_override_url(world.a.cat, "no_such_rule"), headers=vet, json=body).status_code == 404
    r = client.put(_override_url(world.a.cat, "mastitis_ec"), headers=vet, json={"params": {"consecutive": 3}})
    assert r.status_code == 404
    assert client.put(_clinic_url(world.a.id, "no_such_rule"), headers=vet, json=body).status_code == 404


def test_foreign_animal_and_clinic_are_404(client: TestClient, world: World, db: psycopg.Connection[Any]) -> None:
    vet = world.auth("vet")
    body = {"params": {"threshold": 70}}
    for animal in (world.b.cat, "no-such-cat"):
        assert client.get(_rules_url(animal), headers=vet).status_code == 404
        assert client.put(_override_url(animal), headers=vet, json=body).status_code == 404
        assert client.delete(_override_url(animal), headers=vet).status_code == 404
    for clinic in (world.b.id, "no-such-clinic"):
        assert client.get(f"/api/v1/clinics/{clinic}/rule-overrides", headers=vet).status_code == 404
        assert client.put(_clinic_url(clinic), headers=vet, json=body).status_code == 404
        assert client.delete(_clinic_url(clinic), headers=vet).status_code == 404
    assert db.execute("SELECT count(*) FROM rule_overrides").fetchone() == (0,)
    # an admin may set another clinic's override
    r = client.put(_clinic_url(world.b.id), headers=world.auth("admin"), json=body)
    assert r.status_code == 200, r.text
    assert r.json()["set_by"] == "root-admin"


@pytest.mark.parametrize("role", ["staff", "owner", "device"])
def test_only_vets_change_rules(client: TestClient, world: World, role: str) -> None:
    h = world.auth(role)
    body = {"params": {"threshold": 70}}
    assert client.put(_override_url(world.a.cat), headers=h, json=body).status_code == 403
    assert client.delete(_override_url(world.a.cat), headers=h).status_code == 403
    assert client.put(_clinic_url(world.a.id), headers=h, json=body).status_code == 403
    assert client.delete(_clinic_url(world.a.id), headers=h).status_code == 403
    read = client.get(_rules_url(world.a.cat), headers=h).status_code
    assert read == (200 if role == "staff" else 403)


def test_default_rules_catalogue_lists_overridable_parameters(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/rules", headers=world.auth("vet"), params={"species": "cat"})
    assert r.status_code == 200, r.text
    (cat,) = r.json()
    hypo = next(x for x in cat["rules"] if x["id"] == "hypoglycemia")
    assert hypo["overridable"]["threshold"] == "number"
    assert hypo["overridable"]["min_points"] == "integer"
    assert hypo["overridable"]["severity"] == "severity"
    assert "metric" not in hypo["overridable"]
    every = client.get("/api/v1/rules", headers=world.auth("staff")).json()
    assert {s["species"] for s in every} == {"dog", "cat", "horse", "pony", "donkey", "cow"}
    assert client.get("/api/v1/rules", headers=world.auth("owner")).status_code == 403


def test_every_kind_of_the_engine_has_its_parameters_listed() -> None:
    # a new rule kind must say which parameters a vet may override
    assert set(KIND_PARAMS) == set(KINDS)
