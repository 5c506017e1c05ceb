"""Command paths: backtest (text, JSON, scores, bad input), backtest-animals, alerts and drafts."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from tests.rules.db_helpers import NOW, hypo, seed

Run = Callable[..., tuple[int, str, str]]


def _recording(tmp_path: Path) -> tuple[Path, Path, Path]:
    lines = []
    start = NOW - timedelta(hours=6)
    for i in range(72):
        t = start + timedelta(minutes=5 * i)
        value = (
            45.0
            if 40 <= i < 52
            else 150.0
            if i < 36 or i > 56
            else 150.0 - (i - 35) * 20
            if i < 40
            else 60 + (i - 51) * 20
        )
        lines.append(
            {
                "time": t.isoformat().replace("+00:00", "Z"),
                "device_id": "cgm-rex",
                "animal_id": "rex",
                "metric": "glucose",
                "value": value,
                "unit": "mg/dL",
            }
        )
    rec = tmp_path / "rec.jsonl"
    rec.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    labels = tmp_path / "rec.labels.jsonl"
    label = {
        "animal_id": "rex",
        "device_id": "cgm-rex",
        "category": "hypoglycemia",
        "recipe": "hypoglycaemia",
        "start": (start + timedelta(minutes=5 * 36)).isoformat(),
        "end": (start + timedelta(minutes=5 * 56)).isoformat(),
        "onset": (start + timedelta(minutes=5 * 40)).isoformat(),  # the first reading < 60 mg/dL
        "parameters": {},
    }
    labels.write_text(json.dumps(label) + "\n")
    animals = tmp_path / "animals.json"
    animals.write_text(json.dumps([{"animal_id": "rex", "species": "dog"}]))
    return rec, labels, animals


def test_backtest_json_lists_alerts_and_scores_them(run_cli: Run, tmp_path: Path) -> None:
    rec, labels, animals = _recording(tmp_path)
    code, out, err = run_cli("backtest", str(rec), "--animals", str(animals), "--json")
    assert code == 0, err
    alerts = json.loads(out)
    assert [
        (a["animal_id"], a["category"], a["rule"], a["severity"]) for a in alerts if a["category"] == "hypoglycemia"
    ] == [("rex", "hypoglycemia", "hypoglycemia", "urgent")]
    assert set(alerts[0]) == {"animal_id", "category", "rule", "severity", "start", "end"}
    code, out, _ = run_cli("backtest", str(rec), "--animals", str(animals), "--labels", str(labels), "--json")
    scores = json.loads(out)["scores"]["hypoglycemia"]
    assert (scores["recall"], scores["precision"], scores["false_alerts"]) == (1.0, 1.0, 0)
    # early warning: 110 then 90 mg/dL, falling ≥ 2.8 mg/dL/min: < 60 within 20 min; 10 min after the label's start,
    # 10 min before the onset (the first reading < 60): 0 from the onset
    assert (scores["median_delay_from_start_min"], scores["median_delay_min"]) == (10.0, 0.0)
    code, out, _ = run_cli("backtest", str(rec), "--animals", str(animals), "--labels", str(labels))
    assert code == 0
    assert "hypoglycemia" in out
    assert "recall" in out
    assert "from start" in out
    assert "from the onset of the true low" in out


def test_backtest_bad_input_is_one_line(run_cli: Run, tmp_path: Path) -> None:
    rec, _, _ = _recording(tmp_path)
    code, _, err = run_cli("backtest", str(rec), "--animals", str(tmp_path / "missing.json"))
    assert code == 1
    assert err.count("\n") == 1
    assert "missing.json" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"species": "dog"}]))
    code, _, err = run_cli("backtest", str(rec), "--animals", str(bad))
    assert code == 1
    assert "animal_id" in err


def test_backtest_animals_of_a_scenario(run_cli: Run) -> None:
    code, out, _ = run_cli("backtest-animals", "default")
    animals = json.loads(out)
    assert code == 0
    assert {"animal_id": "rex", "species": "dog", "clinic_id": "vet-parc"} in animals
    assert sum(a["species"] == "cow" for a in animals) == 60


def test_rules_once_then_vet_commands(run_cli: Run, db: psycopg.Connection[Any], db_dsn: str, tmp_path: Path) -> None:
    seed(db)
    hypo(db, end=datetime.now(UTC) - timedelta(minutes=1))  # `vigie rules` evaluates as of the wall clock
    env = {"VIGIE_DATABASE_URL": db_dsn}
    code, out, err = run_cli("rules", "--once", env=env)
    assert code == 0, err
    assert json.loads(out)["animals"] == 1
    code, out, _ = run_cli("alerts", "list", "--json", env=env)
    listed = json.loads(out)
    assert code == 0
    assert [(a["category"], a["status"]) for a in listed] == [("hypoglycemia", "open")]
    code, out, _ = run_cli("drafts", "list", "--json", env=env)
    drafts = json.loads(out)
    assert [d["status"] for d in drafts] == ["pending"]
    code, out, _ = run_cli("drafts", "approve", str(drafts[0]["id"]), "--by", "dr.vidal", env=env)
    assert code == 0
    assert "queued" in out
    assert db.execute("SELECT count(*) FROM outbox").fetchone() == (1,)
    code, _, err = run_cli("drafts", "reject", "999", "--by", "dr.vidal", "--reason", "x", env=env)
    assert code == 1
    assert "no draft 999" in err
    code, out, _ = run_cli(
        "overrides", "set", "c1", "hypoglycemia", "threshold=65", "--animal", "rex", "--by", "dr.vidal", env=env
    )
    assert code == 0
    assert db.execute("SELECT params FROM rule_overrides").fetchone() == ({"threshold": 65},)
