"""Drafts in both languages and units, and the vet's approval path with its audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from rules._drafts import AlertFacts, Recipient, compose
from rules._errors import DraftError
from rules._service import run_cycle
from rules._vet import acknowledge, approve, reject
from tests.rules.db_helpers import NOW, actions, hypo, seed
from tests.rules.helpers import ruleset

HYPO = AlertFacts(
    "hypoglycemia",
    "urgent",
    "hypoglycemia",
    NOW,
    NOW + timedelta(minutes=40),
    {"extreme": 45.0, "threshold": 60.0, "held_min": 40},
)


@pytest.mark.parametrize(
    ("lang", "unit", "low", "confirm"),
    [
        ("fr", "mg/dL", "45 mg/dL", "à confirmer au glucomètre"),
        ("fr", "mmol/L", "2,5 mmol/L", "à confirmer au glucomètre"),
        ("fr", "g/L", "0,45 g/L", "à confirmer au glucomètre"),
        ("en", "mg/dL", "45 mg/dL", "confirm with a glucometer"),
        ("en", "mmol/L", "2.5 mmol/L", "confirm with a glucometer"),
    ],
)
def test_hypoglycaemia_draft_in_the_owner_s_language_and_unit(lang: str, unit: str, low: str, confirm: str) -> None:
    to = Recipient("Rex", "dog", "Claire Martin", "Clinique du Parc", lang, unit)
    body = compose([HYPO], to, ruleset().instructions)
    assert low in body
    assert confirm in body
    assert ("Bonjour Claire Martin" if lang == "fr" else "Dear Claire Martin") in body
    # the vet decides any dose change; the draft never proposes one
    assert ("Ne modifiez pas la dose" if lang == "fr" else "Do not change the insulin dose") in body
    for proposal in ("réduisez la dose", "augmentez la dose", "reduce the dose", "increase the dose", "%"):
        assert proposal not in body.lower()
    assert ("ne remplace pas un examen" if lang == "fr" else "does not replace an examination") in body


def test_farm_draft_carries_the_farm_standing_instructions_and_red_flags() -> None:
    mastitis = AlertFacts("mastitis", "urgent", "mastitis_ec", NOW, NOW, {"quarter": "rr", "interquarter_ratio": 1.31})
    body = compose(
        [mastitis], Recipient("bocage-007", "cow", "GAEC du Bocage", "Cabinet rural", "fr"), ruleset().instructions
    )
    assert "1,31 fois" in body
    assert "CMT" in body
    assert "glucomètre" not in body
    assert "Ne modifiez pas la dose" not in body


def _pending(db: psycopg.Connection[Any]) -> int:
    seed(db)
    hypo(db)
    run_cycle(db, ruleset(), NOW)
    row = db.execute("SELECT id FROM drafts WHERE status = 'pending'").fetchone()
    assert row is not None
    return int(row[0])


def test_approval_queues_the_final_text_and_every_step_is_audited(db: psycopg.Connection[Any]) -> None:
    draft = _pending(db)
    with db.transaction():
        approve(db, draft, "dr.vidal")
    status, final = db.execute("SELECT status, final_body FROM drafts WHERE id = %s", (draft,)).fetchone() or (
        None,
        None,
    )
    assert status == "approved"
    assert str(final).endswith("Validé par : dr.vidal")
    assert db.execute("SELECT body, language, status, recipient FROM outbox").fetchall() == [
        (final, "fr", "queued", "claire@example.org")
    ]
    assert actions(db)[-2:] == ["draft.approve", "outbox.queue"]
    assert {"alert.open", "draft.create"} <= set(actions(db))
    with pytest.raises(DraftError, match="already approved"), db.transaction():
        approve(db, draft, "dr.vidal")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("UPDATE audit_log SET actor = 'someone else'")


def test_edit_then_approve_keeps_both_texts(db: psycopg.Connection[Any]) -> None:
    draft = _pending(db)
    with db.transaction():
        approve(
            db, draft, "dr.vidal", body="Bonjour, Rex a fait une hypoglycémie : donnez-lui son repas et appelez-nous."
        )
    status, body, final = (
        db.execute("SELECT status, body, final_body FROM drafts WHERE id = %s", (draft,)).fetchone() or (None,) * 3
    )
    assert status == "edited"
    assert "à confirmer au glucomètre" in str(body)
    assert str(final).startswith("Bonjour, Rex a fait une hypoglycémie")
    assert "draft.edit_approve" in actions(db)


def test_rejection_needs_a_reason_and_queues_nothing(db: psycopg.Connection[Any]) -> None:
    draft = _pending(db)
    with pytest.raises(DraftError, match="reason"):
        reject(db, draft, "dr.vidal", "  ")
    with db.transaction():
        reject(db, draft, "dr.vidal", "owner already called the clinic")
    assert db.execute("SELECT status, reject_reason FROM drafts").fetchall() == [
        ("rejected", "owner already called the clinic")
    ]
    assert db.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    assert actions(db)[-1] == "draft.reject"


def test_acknowledging_an_alert_records_who_and_when(db: psycopg.Connection[Any]) -> None:
    _pending(db)
    alert = db.execute("SELECT id FROM alerts").fetchone()
    assert alert is not None
    with db.transaction():
        acknowledge(db, int(alert[0]), "dr.vidal")
    row = db.execute("SELECT status, acknowledged_by, acknowledged_at IS NOT NULL FROM alerts").fetchone()
    assert row == ("acknowledged", "dr.vidal", True)
    run_cycle(db, ruleset(), NOW + timedelta(minutes=1), full=True)  # still low: the same alert, still acknowledged
    assert db.execute("SELECT count(*), min(status) FROM alerts WHERE category = 'hypoglycemia'").fetchone() == (
        1,
        "acknowledged",
    )
