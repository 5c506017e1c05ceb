"""A vet's override that does not fit its rule is refused when it is set (CLI, API) and, if one is in the database
anyway, set aside when the rules are applied: it never stops the evaluation of the animal or of the others."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from rules._errors import RuleConfigError
from rules._service import run_cycle
from rules._store import set_override
from tests.rules.db_helpers import NOW, alerts, hypo, seed
from tests.rules.helpers import ruleset


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"severity": "high"}, "severity must be one of"),
        ({"threshold": "abc"}, "threshold must be a number"),
        ({"metric": "water_intake"}, "no overridable parameter 'metric'"),
        ({"predict_night_start_h": 25}, "predict_night_start_h is an hour of the day"),
        ({"spell_points": 2.5}, "spell_points must be a whole number"),
    ],
)
def test_set_override_with_the_rules_refuses_what_does_not_fit(
    db: psycopg.Connection[Any], params: dict[str, Any], why: str
) -> None:
    seed(db)
    with pytest.raises(RuleConfigError, match=why):
        set_override(db, "c1", "hypoglycemia", params, by="dr.vidal", animal_id="rex", ruleset=ruleset())
    assert db.execute("SELECT count(*) FROM rule_overrides").fetchone() == (0,)


def test_a_bad_override_in_the_database_is_set_aside_and_the_animal_still_watched(
    db: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    seed(db)
    hypo(db)
    # stored by hand (or before validation existed): the engine would raise on it
    db.execute(
        "INSERT INTO rule_overrides (clinic_id, animal_id, rule_id, params, set_by) VALUES"
        " ('c1', NULL, 'hypoglycemia', %s, 'legacy'), ('c1', 'rex', 'cgm_silent', %s, 'legacy')",
        (Jsonb({"severity": "high"}), Jsonb({"streaming_max_min": "abc"})),
    )
    caplog.set_level(logging.ERROR, logger="rules._store")
    run_cycle(db, ruleset(), NOW)
    assert [(r[1], r[3], r[4]) for r in alerts(db)] == [("hypoglycemia", "open", "urgent")]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "override of rule hypoglycemia ignored" in logged
    assert "override of rule cgm_silent ignored" in logged


def test_cli_refuses_a_bad_override_on_one_line(
    db: psycopg.Connection[Any], db_dsn: str, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    seed(db)
    db.commit()
    env = {"VIGIE_DATABASE_URL": db_dsn}
    code, _, err = run_cli("overrides", "set", "c1", "hypoglycemia", "severity=high", "--by", "dr.vidal", env=env)
    assert code == 1
    assert err.count("\n") == 1
    assert "severity must be one of" in err
    code, _, err = run_cli("overrides", "set", "c1", "no_such_rule", "threshold=1", "--by", "dr.vidal", env=env)
    assert code == 1
    assert "no rule no_such_rule" in err
    assert db.execute("SELECT count(*) FROM rule_overrides").fetchone() == (0,)
