"""JSON lines, labels, determinism, the time model, transport faults and the MQTT message format (no broker)."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import pytest

from rules import CATEGORIES
from simulators._engine import Engine
from simulators._faults import Faults, apply_to_messages, apply_to_readings, parse_faults
from simulators._output import MAX_READINGS_PER_MESSAGE, to_messages
from simulators._publish import Pacing
from simulators._run import Timeline, generate_to_file, timeline
from simulators._scenario import load_scenario, parse_scenario
from simulators._time import DAY_S, fixed_clock, parse_duration, parse_moment
from simulators.errors import ScenarioError
from vigie.catalog import load_catalog
from vigie.settings import DEFAULT_CONFIG_DIR

from .helpers import END, scenario_raw


def _build(raw: dict[str, object]) -> Engine:
    return Engine(parse_scenario(raw, name="bad"), seed=1, start=END - DAY_S, end=END)


def _valid_vigie_json(payload: bytes) -> bool:
    """True for a Vigie JSON object whose readings all have a time, a metric and a known unit."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(body, dict) or not isinstance(body.get("seq"), int):
        return False
    readings = body.get("readings") or []
    return bool(readings) and all(r.get("unit") in ("mg/dL", "U", "g") and "T" in str(r.get("time")) for r in readings)


def small_raw() -> dict[str, object]:
    return scenario_raw(
        [
            {"id": "rex", "species": "dog", "weight": 20},
            {"id": "tom", "species": "cat"},
            {"id": "h", "species": "horse", "count": 2},
            {"id": "cow", "species": "cow", "count": 5},
        ],
        [
            {"id": "cgm-rex", "kind": "cgm", "animal": "rex", "interval_min": 5},
            {"id": "cgm-tom", "kind": "cgm", "animal": "tom", "interval_min": 15},
            {"id": "feeder", "kind": "feeder", "animals": ["h-*"]},
            {"id": "robot", "kind": "milking", "animals": ["cow-*"]},
        ],
        [
            {"recipe": "hypoglycaemia", "animal": "rex", "start": "end-3h"},
            {"recipe": "colic_acute", "animal": "h-001", "start": "end-1d"},
            {"recipe": "mastitis_clinical", "animal": "cow-002", "start": "end-2d"},
        ],
    )


def write(tmp_path: Path, name: str, *, seed: int, faults: Faults | None = None, days: float = 2) -> Path:
    sc = parse_scenario(small_raw(), name="small")
    out = tmp_path / f"{name}.jsonl"
    generate_to_file(sc, out, seed=seed, span=Timeline(END - days * DAY_S, END), faults=faults)
    return out


def test_jsonl_lines_follow_the_format_and_the_metric_catalog(tmp_path: Path) -> None:
    out = write(tmp_path, "a", seed=1)
    catalog = load_catalog(DEFAULT_CONFIG_DIR)
    lines = out.read_bytes().splitlines()
    assert len(lines) > 1000
    metrics = set()
    for line in lines:
        row = orjson.loads(line)
        assert set(row) == {"time", "device_id", "animal_id", "metric", "value", "unit"}
        moment = datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
        assert row["time"].endswith("Z")
        assert END - 2 * DAY_S <= moment.timestamp() <= END
        spec = catalog.get(row["metric"])
        assert spec is not None, row
        metrics.add(row["metric"])
        if spec.kind == "enum":
            assert row["value"] in spec.values
            assert row["unit"] is None
        elif spec.kind == "boolean":
            assert isinstance(row["value"], bool)
            assert row["unit"] is None
        else:
            assert catalog.factor(row["metric"], row["unit"]) == 1.0
            assert spec.min <= row["value"] <= spec.max, row
    assert {
        "glucose",
        "insulin_dose",
        "meal",
        "feed_intake",
        "water_intake",
        "milk_yield",
        "conductivity_rr",
    } <= metrics


def test_labels_file_beside_the_output(tmp_path: Path) -> None:
    write(tmp_path, "a", seed=1)
    labels = [orjson.loads(x) for x in (tmp_path / "a.labels.jsonl").read_bytes().splitlines()]
    recipes = {lab["recipe"] for lab in labels}
    assert {"hypoglycaemia", "colic_acute", "mastitis_clinical"} <= recipes
    for lab in labels:
        assert {"animal_id", "category", "start", "end", "parameters"} <= set(lab)
        assert lab["category"] in CATEGORIES
        assert lab["parameters"]["recipe"] == lab["recipe"]
        assert datetime.fromisoformat(lab["start"].replace("Z", "+00:00")) <= datetime.fromisoformat(
            lab["end"].replace("Z", "+00:00")
        )
    hypo = next(lab for lab in labels if lab["recipe"] == "hypoglycaemia")
    assert hypo["category"] == "hypoglycemia"
    assert hypo["animal_id"] == "rex"
    assert hypo["device_id"] == "cgm-rex"
    assert 38 <= hypo["parameters"]["nadir"] <= 55


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    a = write(tmp_path, "a", seed=11).read_bytes()
    b = write(tmp_path, "b", seed=11).read_bytes()
    c = write(tmp_path, "c", seed=12).read_bytes()
    assert a == b
    assert (tmp_path / "a.labels.jsonl").read_bytes() == (tmp_path / "b.labels.jsonl").read_bytes()
    assert a != c


def test_days_are_the_same_whichever_window_asks_for_them() -> None:
    """Generating day by day (follow mode) gives exactly the readings of one long window."""
    sc = parse_scenario(small_raw(), name="small")
    whole = Engine(sc, seed=3, start=END - 2 * DAY_S, end=END).sent_between(END - DAY_S, END)
    e = Engine(sc, seed=3, start=END - 2 * DAY_S, end=END)
    steps = np.linspace(END - DAY_S, END, 7)
    parts = [e.sent_between(lo, hi) for lo, hi in itertools.pairwise(steps)]
    joined_t = np.concatenate([p.t for p in parts])
    assert joined_t.size == whole.t.size
    assert np.array_equal(np.sort(joined_t), np.sort(whole.t))
    assert np.isclose(np.concatenate([p.value for p in parts]).sum(), whole.value.sum())


def test_time_model_never_in_the_future_nor_beyond_the_horizon() -> None:
    sc = load_scenario("default")
    now = END + 1234.0
    span = timeline(sc, duration_s=None, end=None, clock=fixed_clock(now))
    assert span.end == round(now)
    assert span.end - span.start == pytest.approx(sc.duration_s, abs=1)
    e = Engine(sc, seed=1, start=span.start, end=span.end)
    r = e.measured(span.start, span.end)
    assert r.t.max() <= now
    assert r.sent.max() <= now
    assert r.t.min() >= span.start
    sent = e.sent_between(span.start, span.end + 1)
    assert (sent.t <= sent.sent).all()
    assert sent.sent.max() <= now
    with pytest.raises(ScenarioError, match="future"):
        timeline(sc, duration_s=3600, end=now + 600, clock=fixed_clock(now))
    with pytest.raises(ScenarioError, match="days ago"):
        timeline(sc, duration_s=30 * DAY_S, end=None, clock=fixed_clock(now))


@pytest.mark.parametrize("shift_days", [0.0, 3.7, 11.2, 19.9])
def test_default_scenario_has_a_hypoglycaemia_that_is_visible_at_once(shift_days: float) -> None:
    """The `vigie up` scenario: a dog reads < 60 mg/dL for ≥ 15 min in the last 30 minutes before now, any day."""
    end = END + shift_days * DAY_S
    sc = load_scenario("default")
    assert {a.species for a in sc.animals} >= {"dog", "cat", "horse", "cow"}
    assert sum(a.species == "cow" for a in sc.animals) == 60
    assert len([d for d in sc.devices if d.kind == "milking"]) == 1
    e = Engine(sc, seed=sc.seed, start=end - 2 * DAY_S, end=end)
    r = e.measured(end - 30 * 60, end).of_metric("glucose")
    dog = e.fleet.animal_index["rex"]
    assert (r.value[r.animal == dog] < 60).sum() >= 3


def test_durations_and_moments() -> None:
    assert parse_duration("1d12h") == 1.5 * DAY_S
    assert parse_duration("90m") == 5400
    assert parse_duration("30") == 30
    for bad in ("", "abc", "5x", "h1", "1d abc"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    assert parse_moment("end-40m", start=0, end=10_000) == 10_000 - 2400
    assert parse_moment("start+1h", start=100, end=0) == 3700
    assert parse_moment("2026-11-23T00:00:00Z", start=0, end=0) == END
    with pytest.raises(ValueError, match="time zone"):
        parse_moment("2026-11-23T00:00:00", start=0, end=0)


def test_fault_specs() -> None:
    f = parse_faults(["duplicates=0.1,out_of_order", "skew=-300", "offline=3h", "malformed=0.5"])
    assert f == Faults(duplicates=0.1, out_of_order=0.05, skew_s=-300, malformed=0.5, offline_s=3 * 3600)
    for bad, match in (("bogus", "unknown fault"), ("duplicates=2", "fraction"), ("offline=x", "not a valid")):
        with pytest.raises(ScenarioError, match=match):
            parse_faults([bad])


def test_duplicates_and_reordering_in_the_file(tmp_path: Path) -> None:
    clean = write(tmp_path, "clean", seed=5).read_bytes().splitlines()
    noisy = (
        write(tmp_path, "noisy", seed=5, faults=Faults(duplicates=0.05, out_of_order=0.05)).read_bytes().splitlines()
    )
    assert len(noisy) - len(clean) == pytest.approx(0.05 * len(clean), rel=0.2)
    assert sorted(set(noisy)) == sorted(set(clean))
    times = [orjson.loads(x)["time"] for x in noisy]
    assert times != sorted(times)


def test_skew_and_offline_act_on_device_clocks_and_send_times() -> None:
    sc = parse_scenario(small_raw(), name="small")
    e = Engine(sc, seed=2, start=END - DAY_S, end=END)
    r = e.sent_between(e.fleet.start, END + 1)
    skewed = apply_to_readings(e.fleet, r, Faults(skew_s=-600))
    shift = skewed.t - r.t
    assert shift.max() <= 0
    assert shift.min() >= -600
    for d in np.unique(r.device):
        assert np.unique(shift[r.device == d]).size == 1  # one constant error per device clock
    offline = apply_to_readings(e.fleet, r, Faults(offline_s=3 * 3600))
    delayed = offline.sent > r.sent
    assert delayed.any()
    for d in np.unique(r.device[delayed]):
        assert np.unique(offline.sent[delayed & (r.device == d)]).size == 1  # one backlog at reconnection


def test_messages_follow_the_device_contract() -> None:
    sc = parse_scenario(small_raw(), name="small")
    e = Engine(sc, seed=2, start=END - DAY_S, end=END)
    r = e.sent_between(e.fleet.start, END + 1)
    seqs: dict[str, int] = {}
    bound = [d.bound for d in sc.devices]
    msgs = to_messages(
        r, device_ids=e.fleet.device_ids, animal_ids=e.fleet.animal_ids, bound=bound, topic_root="x/v1", seqs=seqs
    )
    assert sum(m.readings for m in msgs) == len(r)
    last: dict[str, int] = {}
    for m in msgs:
        body = orjson.loads(m.payload)
        assert m.topic == f"x/v1/devices/{m.device}/telemetry"
        assert body["seq"] > last.get(m.device, 0)
        last[m.device] = body["seq"]
        assert len(m.payload) < 256 * 1024
        if m.device.startswith("cgm"):
            assert "animal_id" not in m.payload.decode()  # a bound device omits its animal
            assert all(set(x) <= {"time", "metric", "value", "unit"} for x in body["readings"])
            assert len(body["readings"]) <= MAX_READINGS_PER_MESSAGE
        else:
            for rec in body["records"]:
                assert rec["animal_id"].startswith(("cow-", "h-"))
                for name, value in rec["values"].items():
                    assert isinstance(value, list | str | bool), (name, value)
    robot = [orjson.loads(m.payload) for m in msgs if m.device == "robot"]
    milking = next(rec for body in robot for rec in body["records"] if "milk_yield" in rec["values"])
    assert milking["values"]["milking_outcome"] in ("complete", "incomplete", "failed")
    assert milking["values"]["milk_yield"][1] == "kg"


def test_message_faults_add_duplicates_and_malformed_payloads() -> None:
    sc = parse_scenario(small_raw(), name="small")
    e = Engine(sc, seed=2, start=END - DAY_S, end=END)
    r = e.sent_between(e.fleet.start, END + 1)
    msgs = to_messages(
        r,
        device_ids=e.fleet.device_ids,
        animal_ids=e.fleet.animal_ids,
        bound=[d.bound for d in sc.devices],
        topic_root="x",
        seqs={},
    )
    faulty = apply_to_messages(msgs, Faults(duplicates=0.1, malformed=0.05), np.random.default_rng(1))
    dups = [m for m in faulty if m.kind == "duplicate"]
    bad = [m for m in faulty if m.kind == "malformed"]
    assert len(dups) == pytest.approx(0.1 * len(msgs), rel=0.3)
    assert len(bad) == pytest.approx(0.05 * len(msgs), rel=0.4)
    assert {m.payload for m in dups} <= {m.payload for m in msgs}
    for m in bad:
        assert not _valid_vigie_json(m.payload), m.payload


def test_pacing_scales_the_timeline_and_never_runs_ahead_of_the_clock() -> None:
    p = Pacing(start=1000.0, wall0=5000.0, speed=60.0)
    assert p.due(1000.0) == 5000.0
    assert p.due(1000.0 + 3600) == 5060.0  # an hour in a minute
    assert p.due(9000.0) == 9000.0  # caught up: real time, never before the send time
    fast = Pacing(start=1000.0, wall0=5000.0, speed=None)
    assert fast.due(1500.0) == 1500.0


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"animals": [{"id": "x", "species": "unicorn", "clinic": "c1"}]}, "unknown species"),
        ({"animals": [{"id": "bad id", "species": "dog", "clinic": "c1"}]}, "invalid id"),
        ({"anomalies": [{"recipe": "nope", "animal": "rex"}]}, "unknown recipe"),
        ({"anomalies": [{"recipe": "colic_acute", "animal": "rex"}]}, "applies to"),
        (
            {"anomalies": [{"recipe": "hypoglycaemia", "animal": "rex", "parameters": {"depth": 1}}]},
            "unknown parameters",
        ),
        ({"devices": [{"id": "f", "kind": "feeder", "animals": ["rex"]}]}, "cannot serve"),
        ({"devices": [{"id": "f", "kind": "feeder", "animals": ["zz-*"]}]}, "match no animal"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_scenarios_are_one_line_errors(patch: dict[str, object], match: str) -> None:
    raw = scenario_raw([{"id": "rex", "species": "dog"}], [{"id": "cgm", "kind": "cgm", "animal": "rex"}])
    raw.update(patch)
    with pytest.raises(ScenarioError, match=match):
        _build(raw)
