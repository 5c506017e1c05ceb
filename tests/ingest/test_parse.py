"""The payload validator, without I/O: every reason code and every accepted shape."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from ingest import DeviceInfo, Limits, RegistryView, parse_message
from vigie.catalog import load_catalog
from vigie.settings import DEFAULT_CONFIG_DIR

CATALOG = load_catalog(DEFAULT_CONFIG_DIR)
NOW = time.time()
REG = RegistryView(
    devices={
        "cgm-1": DeviceInfo("clinic-a", "rex", enabled=True),
        "robot-1": DeviceInfo("clinic-a", None, enabled=True),
        "old-1": DeviceInfo("clinic-a", "rex", enabled=False),
    },
    animal_clinic={"rex": "clinic-a", "cow-1": "clinic-a", "cow-b": "clinic-b"},
)
LIMITS = Limits(max_payload_bytes=4096, future_tolerance_s=300, past_horizon_s=30 * 86400)


def parse(device: str, doc: object) -> tuple[list[tuple[object, ...]], list[str]]:
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    out = parse_message(device, payload, now=NOW, registry=REG, catalog=CATALOG, limits=LIMITS)
    return list(out.rows), [r.reason for r in out.rejections]


def iso(offset_s: float = 0.0) -> str:
    return datetime.fromtimestamp(NOW + offset_s, UTC).isoformat()


def test_native_reading_is_converted_to_the_canonical_unit() -> None:
    rows, rejected = parse(
        "cgm-1", {"seq": 7, "readings": [{"time": iso(-60), "metric": "glucose", "value": 5.0, "unit": "mmol/L"}]}
    )
    assert rejected == []
    ((time_, device, animal, metric, value, clinic, seq),) = rows
    assert (device, animal, metric, clinic, seq) == ("cgm-1", "rex", "glucose", "clinic-a", 7)
    assert value == pytest.approx(90.0)
    assert time_.timestamp() == pytest.approx(NOW - 60, abs=1e-3)


@pytest.mark.parametrize(
    ("value", "unit", "expected"), [(1.2, "g/L", 120.0), (140, "mg/dL", 140.0), (7.0, "mmol/L", 126.0)]
)
def test_glucose_units(value: float, unit: str, expected: float) -> None:
    rows, _ = parse(
        "cgm-1", {"seq": 1, "readings": [{"time": iso(), "metric": "glucose", "value": value, "unit": unit}]}
    )
    assert rows[0][4] == pytest.approx(expected)


def test_native_records_of_a_milking_robot() -> None:
    doc = {
        "seq": 3,
        "records": [
            {
                "time": iso(-3600),
                "animal_id": "cow-1",
                "values": {
                    "milk_yield": [12.5, "kg"],
                    "conductivity_lf": [0.51, "S/m"],
                    "milking_outcome": "incomplete",
                    "milk_blood": True,
                },
            }
        ],
    }
    rows, rejected = parse("robot-1", doc)
    assert rejected == []
    got = {r[3]: r[4] for r in rows}
    assert got == {"milk_yield": 12.5, "conductivity_lf": pytest.approx(5.1), "milking_outcome": 1.0, "milk_blood": 1.0}
    assert {r[2] for r in rows} == {"cow-1"}


def test_senml_base_fields_and_relative_time() -> None:
    doc = [
        {"bn": "cow-1/", "bt": NOW - 100, "bu": "kg", "n": "milk_yield", "v": 10},
        {"n": "milk_yield_lf", "t": 1, "v": 2.5},
        {"n": "milk_blood", "vb": False},
        {"n": "milking_outcome", "vs": "complete"},
    ]
    rows, rejected = parse("robot-1", doc)
    assert rejected == []
    assert [(r[2], r[3], r[4]) for r in rows] == [
        ("cow-1", "milk_yield", 10.0),
        ("cow-1", "milk_yield_lf", 2.5),
        ("cow-1", "milk_blood", 0.0),
        ("cow-1", "milking_outcome", 0.0),
    ]
    assert rows[1][0].timestamp() == pytest.approx(NOW - 99, abs=1e-3)
    # RFC 8428: a time below 2**28 is relative to now
    rows, _ = parse("cgm-1", [{"n": "glucose", "u": "mg/dL", "v": 99, "t": -120}])
    assert rows[0][0].timestamp() == pytest.approx(NOW - 120, abs=1e-3)


def test_device_level_metric_has_no_animal() -> None:
    rows, _ = parse("robot-1", [{"n": "battery", "u": "%", "v": 80}])
    assert rows[0][2] is None


def test_a_bad_reading_does_not_sink_the_good_ones() -> None:
    doc = {
        "seq": 1,
        "readings": [
            {"time": iso(), "metric": "glucose", "value": 100, "unit": "mg/dL"},
            {"time": iso(), "metric": "glucose", "value": 100, "unit": "furlongs"},
            {"time": iso(1), "metric": "glucose", "value": 101, "unit": "mg/dL"},
        ],
    }
    rows, rejected = parse("cgm-1", doc)
    assert len(rows) == 2
    assert rejected == ["unknown_unit"]


BAD_CASES = [
    ("oversize", "cgm-1", b"[" + b" " * 5000 + b"]"),
    ("invalid_json", "cgm-1", b"{not json"),
    ("invalid_json", "cgm-1", b"\xff\xfe"),
    (
        "non_finite",
        "cgm-1",
        b'{"seq": 1, "readings": [{"time": 1, "metric": "glucose", "value": NaN, "unit": "mg/dL"}]}',
    ),
    ("non_finite", "cgm-1", b'[{"n": "glucose", "u": "mg/dL", "v": Infinity}]'),
    ("non_finite", "cgm-1", b'[{"n": "glucose", "u": "mg/dL", "v": 1e999}]'),
    ("bad_format", "cgm-1", {"readings": []}),
    ("bad_format", "cgm-1", {"seq": "12", "readings": [{}]}),
    ("bad_format", "cgm-1", {"seq": 1}),
    ("bad_format", "cgm-1", "a string"),
    ("bad_format", "cgm-1", []),
    ("bad_format", "cgm-1", {"seq": 1, "readings": [], "records": []}),
    ("wrong_type", "robot-1", {"seq": 1, "records": [{"time": iso(-60), "animal_id": "cow-1", "values": {}}]}),
    ("unknown_device", "ghost", [{"n": "glucose", "u": "mg/dL", "v": 100}]),
    ("disabled_device", "old-1", [{"n": "glucose", "u": "mg/dL", "v": 100}]),
    ("wrong_type", "cgm-1", [{"n": "glucose", "u": "mg/dL", "v": "100"}]),
    ("wrong_type", "cgm-1", [{"n": "glucose", "u": "mg/dL", "v": True}]),
    ("wrong_type", "cgm-1", [{"n": 5, "v": 1}]),
    ("wrong_type", "cgm-1", [{"n": "glucose", "u": "mg/dL"}]),
    ("wrong_type", "robot-1", [{"bn": "cow-1/", "n": "milk_blood", "vb": "yes"}]),
    ("unknown_metric", "cgm-1", [{"n": "glucoze", "u": "mg/dL", "v": 100}]),
    ("missing_unit", "cgm-1", [{"n": "glucose", "v": 100}]),
    ("unknown_unit", "cgm-1", [{"n": "glucose", "u": "mg/L", "v": 100}]),
    (
        "bad_time",
        "cgm-1",
        {"seq": 1, "readings": [{"time": "yesterday", "metric": "glucose", "value": 1, "unit": "mg/dL"}]},
    ),
    (
        "bad_time",
        "cgm-1",
        {"seq": 1, "readings": [{"time": "2026-11-23T08:00:00", "metric": "glucose", "value": 1, "unit": "mg/dL"}]},
    ),
    ("bad_time", "cgm-1", {"seq": 1, "readings": [{"metric": "glucose", "value": 1, "unit": "mg/dL"}]}),
    ("time_in_future", "cgm-1", [{"n": "glucose", "u": "mg/dL", "v": 100, "bt": NOW + 301}]),
    ("time_too_old", "cgm-1", [{"n": "glucose", "u": "mg/dL", "v": 100, "bt": NOW - 31 * 86400}]),
    ("out_of_range", "cgm-1", [{"n": "glucose", "u": "mg/dL", "v": 0}]),
    ("out_of_range", "cgm-1", [{"n": "glucose", "u": "mmol/L", "v": 60}]),
    ("out_of_range", "robot-1", [{"bn": "cow-1/", "n": "milking_outcome", "vs": "exploded"}]),
    ("missing_animal", "robot-1", [{"n": "milk_yield", "u": "kg", "v": 10}]),
    ("animal_not_allowed", "robot-1", [{"n": "cow-b/milk_yield", "u": "kg", "v": 10}]),
    ("animal_not_allowed", "robot-1", [{"n": "nobody/milk_yield", "u": "kg", "v": 10}]),
    ("animal_not_allowed", "cgm-1", [{"n": "cow-1/glucose", "u": "mg/dL", "v": 100}]),
]


@pytest.mark.parametrize(("reason", "device", "doc"), BAD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CASES)])
def test_every_bad_input_gets_its_reason(reason: str, device: str, doc: object) -> None:
    rows, rejected = parse(device, doc)
    assert rows == []
    assert rejected == [reason]


def test_rejection_keeps_the_offending_record_bounded() -> None:
    out = parse_message(
        "cgm-1", json.dumps([{"n": "glucose", "v": 1}]).encode(), now=NOW, registry=REG, catalog=CATALOG, limits=LIMITS
    )
    (rej,) = out.rejections
    assert json.loads(rej.payload) == {"n": "glucose", "v": 1}
    assert "unit is required" in rej.detail
    big = b"x" * 4097
    out = parse_message("cgm-1", big, now=NOW, registry=REG, catalog=CATALOG, limits=LIMITS)
    assert out.rejections[0].reason == "oversize"
    assert out.rejections[0].payload == big
