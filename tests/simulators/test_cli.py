"""The commands: simulate (--out, --register, MQTT), record, replay, bench; bad input gives one line, no traceback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from simulators._run import generate_to_file, timeline
from simulators._scenario import load_scenario
from tests.conftest import Broker
from vigie.settings import Settings

RunCli = Callable[..., tuple[int, str, str]]

SMALL = """
name = "cli"
duration = "2h"
seed = 3

[[clinics]]
id = "cli-clinic"

[[owners]]
id = "cli-owner"
clinic = "cli-clinic"

[[animals]]
id = "cli-dog"
species = "dog"
clinic = "cli-clinic"
owner = "cli-owner"
weight = 18

[[animals]]
id = "cli-cow"
species = "cow"
clinic = "cli-clinic"
count = 3

[[devices]]
id = "cli-cgm"
kind = "cgm"
animal = "cli-dog"

[[devices]]
id = "cli-robot"
kind = "milking"
animals = ["cli-cow-*"]

[[anomalies]]
recipe = "hypoglycaemia"
animal = "cli-dog"
start = "end-1h"
"""


def env_of(settings: Settings) -> dict[str, str]:
    return {
        "VIGIE_DATABASE_URL": settings.dsn,
        "VIGIE_MQTT_URL": f"mqtt://{settings.mqtt.host}:{settings.mqtt.port}",
        "VIGIE_TOPIC_ROOT": settings.topic_root,
    }


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def test_simulate_out_writes_readings_and_labels(run_cli: RunCli, small: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    code, stdout, stderr = run_cli("simulate", str(small), "--out", str(out), "--json", "--seed", "9")
    assert code == 0, stderr
    result = json.loads(stdout)
    lines = out.read_bytes().splitlines()
    assert result["readings"] == len(lines) > 0
    labels = [orjson.loads(x) for x in (tmp_path / "run.labels.jsonl").read_bytes().splitlines()]
    assert result["labels"] == len(labels)
    assert any(lab["recipe"] == "hypoglycaemia" and lab["animal_id"] == "cli-dog" for lab in labels)
    newest = max(orjson.loads(x)["time"] for x in lines)
    assert newest <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_simulate_registers_then_publishes(
    run_cli: RunCli, small: Path, settings: Settings, db: psycopg.Connection[Any]
) -> None:
    code, stdout, stderr = run_cli("simulate", str(small), "--register", "--json", env=env_of(settings))
    assert code == 0, stderr
    counts = json.loads(stdout)
    assert counts["messages"] > 0
    assert counts["readings"] >= counts["messages"]
    assert counts["devices"] == 2
    devices = db.execute("SELECT id, animal_id FROM devices ORDER BY id").fetchall()
    assert devices == [("cli-cgm", "cli-dog"), ("cli-robot", None)]
    assert db.execute("SELECT count(*) FROM animals").fetchone() == (4,)
    assert db.execute("SELECT weight_kg FROM animals WHERE id = 'cli-dog'").fetchone() == (18.0,)
    # registering again skips what exists
    code, stdout, stderr = run_cli("simulate", str(small), "--register", "--duration", "10m", env=env_of(settings))
    assert code == 0, stderr
    assert "registered 0 new entries (8 already there)" in stdout
    assert "published" in stdout


def test_record_and_replay_commands(run_cli: RunCli, broker: Broker, topic_root: str, tmp_path: Path) -> None:
    env = {"VIGIE_MQTT_URL": broker.url, "VIGIE_TOPIC_ROOT": topic_root}
    recording = tmp_path / "rec.jsonl"
    recording.write_bytes(
        b'{"received": 1.0, "topic": "' + topic_root.encode() + b'/devices/d/telemetry", "payload": "{}"}\n'
    )
    code, stdout, stderr = run_cli("replay", str(recording), "--speed", "max", env=env)
    assert code == 0, stderr
    assert "replayed 1 messages" in stdout
    out = tmp_path / "cap.jsonl"
    code, stdout, stderr = run_cli("record", "--out", str(out), "--duration", "0.2s", env=env)
    assert code == 0, stderr
    assert "recorded 0 messages" in stdout
    assert out.exists()


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["simulate", "no-such-scenario", "--out", "x.jsonl"], 1, "no scenario"),
        (["simulate", "default", "--speed", "fast"], 2, "--speed"),
        (["simulate", "default", "--speed", "0"], 2, "positive"),
        (["simulate", "default", "--duration", "abc"], 2, "duration"),
        (["simulate", "default", "--duration", "40d"], 2, "days ago"),  # published: the ingest horizon applies
        (["simulate", "default", "--end", "2999-01-01T00:00:00Z", "--out", "x.jsonl"], 2, "future"),
        (["simulate", "default", "--end", "yesterday"], 2, "RFC 3339"),
        (["simulate", "default", "--faults", "bogus", "--out", "x.jsonl"], 1, "unknown fault"),
        (["simulate", "default", "--out", "x.jsonl", "--follow"], 2, "cannot --follow"),
        (["replay", "missing.jsonl"], 1, "cannot read"),
        (["record", "--out", "x.jsonl", "--count", "0"], 2, "count"),
    ],
)
def test_bad_input_is_one_line(
    run_cli: RunCli, args: list[str], code: int, needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    got, stdout, stderr = run_cli(*args)
    assert got == code, (stdout, stderr)
    assert needle in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_bad_recording_and_bad_scenario_file(run_cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    code, _, stderr = run_cli("replay", str(bad))
    assert code == 1
    assert "not a recording line" in stderr
    toml = tmp_path / "broken.toml"
    toml.write_text("[[animals]\n")
    code, _, stderr = run_cli("simulate", str(toml), "--out", str(tmp_path / "o.jsonl"))
    assert code == 1
    assert "cannot read scenario" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_week100_generates_in_under_30_seconds(tmp_path: Path) -> None:
    """The performance claim of issue 4: one week, 100 animals, --out, in under 30 s (2 cores)."""
    spec = load_scenario("week100")
    assert len(spec.animals) == 100
    assert spec.duration_s == 7 * 86_400
    result = generate_to_file(spec, tmp_path / "w.jsonl", seed=1, span=timeline(spec, duration_s=None, end=None))
    print(f"week100: {result.readings} readings, {result.labels} labels in {result.seconds:.2f} s")
    assert result.readings > 100_000
    assert result.seconds < 30


async def test_publish_scenario_registers_and_publishes(settings: Settings, small: Path) -> None:
    """The entry point for `vigie up`: register, publish the history, stop (no follow here)."""
    from simulators._run import publish_scenario

    counts = await publish_scenario(settings, str(small), follow=False)
    assert counts.messages > 0
    assert counts.devices == 2
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM devices").fetchone() == (2,)
