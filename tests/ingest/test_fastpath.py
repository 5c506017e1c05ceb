"""The batcher's fast path agrees with the careful parser: same rows when it accepts, hands back everything else.

Property: for any payload, either the fast path accepts the message whole and its rows are exactly those of
``parse_message`` (which rejects nothing in it), or it keeps no row of it and hands it back to ``parse_message``,
whose quarantine reasons are therefore unchanged.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import DeviceInfo, IngestWorker, Limits, RegistryView, parse_message
from ingest._fastpath import MAX_ROUTES, FastPath
from ingest._parse import Row
from ingest._received import Delivery
from vigie.catalog import load_catalog
from vigie.settings import DEFAULT_CONFIG_DIR, Settings

CATALOG = load_catalog(DEFAULT_CONFIG_DIR)
NOW = time.time()
ROOT = "vigie/v1"
REG = RegistryView(
    devices={
        "cgm-1": DeviceInfo("clinic-a", "rex", enabled=True),
        "robot-1": DeviceInfo("clinic-a", None, enabled=True),
        "old-1": DeviceInfo("clinic-a", "rex", enabled=False),
    },
    animal_clinic={"rex": "clinic-a", "cow-1": "clinic-a", "cow-b": "clinic-b"},
)
LIMITS = Limits(max_payload_bytes=4096, future_tolerance_s=300, past_horizon_s=30 * 86400)
DEVICES = ["cgm-1", "cgm-1", "robot-1", "robot-1", "old-1", "ghost"]  # the last two: never fast
NUMBER_UNITS = [(m, u, f) for m in CATALOG.metrics.values() if m.kind == "number" for u, f in m.units.items()]
OTHER_METRICS = [m.name for m in CATALOG.metrics.values() if m.kind != "number"] + ["glucoze", ""]


def topic(device: str, kind: str = "telemetry") -> bytes:
    return f"{ROOT}/devices/{device}/{kind}".encode()


def fast(device: str, payload: bytes) -> tuple[list[Row], list[int], dict[str, float], set[float]]:
    rows: list[Row] = []
    seen: dict[str, float] = {}
    hours: set[float] = set()
    slow = FastPath(CATALOG, LIMITS, ROOT).take([topic(device)], [payload], NOW, REG, rows, seen, hours)
    return rows, slow, seen, hours


def check_agreement(device: str, payload: bytes) -> bool:
    """The property; True when the fast path took the message."""
    rows, slow, seen, hours = fast(device, payload)
    careful = parse_message(device, payload, now=NOW, registry=REG, catalog=CATALOG, limits=LIMITS)
    if slow:
        assert slow == [0]
        assert (rows, seen, hours) == ([], {}, set())  # nothing kept
        return False
    assert careful.rejections == []
    assert not careful.retry_on_refresh
    assert rows == careful.rows
    assert [type(v) for r in rows for v in r] == [type(v) for r in careful.rows for v in r]
    assert seen == {device: NOW}
    assert hours == {int(r[0].timestamp()) // 3600 for r in careful.rows}  # the rollup marks, as the writer did
    return True


def iso(offset_s: float) -> str:
    return datetime.fromtimestamp(NOW + offset_s, UTC).isoformat()


# --- strategies: mostly well-formed readings, with every kind of defect mixed in ------------------------------

inside = st.floats(min_value=-30 * 86400 + 10, max_value=290)  # offsets inside the time window
edges = st.floats(min_value=-31 * 86400, max_value=400)  # around its edges
good_times = st.one_of(
    inside.map(iso),
    inside.map(lambda o: NOW + o),
    inside.map(lambda o: int(NOW + o)),
    inside.map(lambda o: iso(o).replace("+00:00", "+02:00")),
)
bad_times = st.one_of(
    edges.map(iso),
    edges.map(lambda o: NOW + o),
    inside.map(lambda o: iso(o).replace("+00:00", "")),  # no time zone
    st.sampled_from(["yesterday", "", "2026-13-01T00:00:00Z", None, True, [], {}, float("nan"), 1e300]),
)
bad_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(),
    st.sampled_from([True, False, "100", None, [], {}, 1e308, -0.0, float("inf")]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.just([]), st.just({}))
animals = st.one_of(st.sampled_from([None, "rex", "cow-1", "cow-2", "cow-b", "nobody", ""]), scalars)
RIGHT_ANIMALS = {"cgm-1": [None, "rex"], "robot-1": ["cow-1"]}
DEFECTS = 20  # a reading has a defect with probability 8 / 40, a document 6 / 40


@st.composite
def readings(draw: st.DrawFn, device: str) -> object:
    defect = draw(st.integers(0, 2 * DEFECTS - 1))
    if defect == 0:
        return draw(scalars)  # not an object
    metric, unit, factor = draw(st.sampled_from(NUMBER_UNITS))
    value: float = (metric.min + draw(st.floats(0, 1)) * (metric.max - metric.min)) / factor
    if draw(st.booleans()):
        value = int(value)
    item: dict[str, Any] = {"time": draw(good_times), "metric": metric.name, "value": value, "unit": unit}
    animal = draw(st.sampled_from(RIGHT_ANIMALS.get(device, [None])))
    if animal is not None or draw(st.booleans()):
        item["animal_id"] = animal
    if defect == 1:
        item["time"] = draw(bad_times)
    elif defect == 2:
        item["value"] = draw(bad_values)
    elif defect == 3:
        item["metric"] = draw(st.one_of(st.sampled_from(OTHER_METRICS), scalars))
    elif defect == 4:
        item["unit"] = draw(st.one_of(st.sampled_from(["mg/L", "kg", "%", "L"]), scalars))
    elif defect == 5:
        del item[draw(st.sampled_from(["time", "metric", "value", "unit"]))]
    elif defect == 6:
        item["extra"] = draw(scalars)
    elif defect == 7:
        item["animal_id"] = draw(scalars)
    return item


@st.composite
def documents(draw: st.DrawFn, device: str) -> object:
    defect = draw(st.integers(0, 2 * DEFECTS - 1))
    doc: dict[str, Any] = {
        "seq": draw(st.integers(min_value=0, max_value=2**62)),
        "readings": draw(st.lists(readings(device), min_size=1, max_size=4)),
    }
    if defect == 0:
        return draw(st.lists(readings(device), max_size=3))  # an array: SenML, the careful path's
    if defect == 1:
        return draw(scalars)
    if defect == 2:
        doc["seq"] = draw(st.one_of(st.integers(max_value=-1), scalars))
    elif defect == 3:
        del doc[draw(st.sampled_from(["seq", "readings"]))]
    elif defect == 4:
        doc["readings"] = draw(st.one_of(st.just([]), scalars))
    elif defect == 5:
        doc["records"] = draw(st.one_of(st.just([]), st.none(), scalars))
    return doc


def render(doc: object, mangle: int) -> bytes:
    text = json.dumps(doc, allow_nan=True).encode()
    if mangle == 1:
        return text[: len(text) // 2]
    if mangle == 2:
        return text.replace(b"1", b"NaN", 1)
    if mangle == 3:
        return text + b" " * 5000  # oversize
    return text


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), device=st.sampled_from(DEVICES), mangle=st.integers(0, 12))
def test_fast_path_and_careful_path_agree(data: st.DataObject, device: str, mangle: int) -> None:
    check_agreement(device, render(data.draw(documents(device)), mangle))


@st.composite
def reads(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """The messages of one socket read."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        device = draw(st.sampled_from(DEVICES))
        out.append((device, render(draw(documents(device)), draw(st.integers(0, 12)))))
    return out


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=reads())
def test_fast_path_over_a_whole_read_agrees(messages: list[tuple[str, bytes]]) -> None:
    """Messages taken together (state carried from one to the next: rows, hours) as each taken alone."""
    rows: list[Row] = []
    hours: set[float] = set()
    seen: dict[str, float] = {}
    path = FastPath(CATALOG, LIMITS, ROOT)
    slow = path.take([topic(d) for d, _ in messages], [p for _, p in messages], NOW, REG, rows, seen, hours)
    expected_rows: list[Row] = []
    for i, (device, payload) in enumerate(messages):
        alone, alone_slow, _, _ = fast(device, payload)
        assert (i in slow) == bool(alone_slow)
        expected_rows += alone
    assert rows == expected_rows
    assert hours == {int(r[0].timestamp()) // 3600 for r in expected_rows}
    assert set(seen) == {d for i, (d, _) in enumerate(messages) if i not in slow}


@settings(max_examples=1000, deadline=None)
@given(device=st.sampled_from(DEVICES), payload=st.binary(max_size=300))
def test_agreement_on_raw_bytes(device: str, payload: bytes) -> None:
    check_agreement(device, payload)


# --- the fast path does take the well-formed messages -----------------------------------------------------------


def reading(**kw: object) -> dict[str, object]:
    return {"time": iso(-60), "metric": "glucose", "value": 120.5, "unit": "mg/dL"} | kw


WELL_FORMED = [
    ("cgm-1", {"seq": 1, "readings": [reading()]}),
    ("cgm-1", {"seq": 0, "readings": [reading(unit="mmol/L", value=7), reading(time=NOW - 10)]}),
    ("cgm-1", {"seq": 2, "readings": [reading(animal_id="rex"), reading(time=int(NOW) - 5, value=99)]}),
    ("cgm-1", {"seq": 3, "readings": [reading(time=iso(-120).replace("+00:00", "+05:30"))], "other": 1}),
    ("robot-1", {"seq": 4, "readings": [reading(metric="milk_yield", unit="L", value=10.0, animal_id="cow-1")]}),
    ("robot-1", {"seq": 5, "readings": [reading(metric="battery", unit="%", value=80, animal_id="cow-b")]}),
]


def test_well_formed_messages_take_the_fast_path() -> None:
    for device, doc in WELL_FORMED:
        assert check_agreement(device, json.dumps(doc).encode()), doc


NOT_TAKEN = [
    ("cgm-1", [{"n": "glucose", "u": "mg/dL", "v": 100}]),  # SenML
    ("cgm-1", {"seq": 1, "readings": [reading(), reading(unit="furlongs")]}),  # one bad reading
    ("cgm-1", {"seq": 1, "readings": [reading(time=iso(-7200)), reading(value=0)]}),  # the same, another hour
    ("cgm-1", {"seq": 1, "readings": [reading(metric="milk_blood", unit="bool", value=True)]}),  # a boolean
    ("cgm-1", {"seq": 1, "readings": [reading(animal_id="cow-1")]}),
    ("robot-1", {"seq": 1, "readings": [reading(metric="milk_yield", unit="kg", value=1.0)]}),  # no animal
    ("robot-1", {"seq": 1, "readings": [reading(metric="milk_yield", unit="kg", value=1.0, animal_id="cow-b")]}),
    ("cgm-1", {"seq": 1, "readings": [reading()], "records": []}),
    ("old-1", {"seq": 1, "readings": [reading()]}),
    ("ghost", {"seq": 1, "readings": [reading()]}),
    ("cgm-1", {"seq": 1, "readings": [reading(time=iso(400))]}),
]


def test_anything_else_is_handed_back() -> None:
    for device, doc in NOT_TAKEN:
        assert not check_agreement(device, json.dumps(doc).encode()), doc


def test_routes_are_cached_and_rebound_per_registry_snapshot() -> None:
    path = FastPath(CATALOG, LIMITS, ROOT)
    route = path.route(topic("cgm-1"))
    assert (route.topic, route.device_id, route.kind) == (f"{ROOT}/devices/cgm-1/telemetry", "cgm-1", "telemetry")
    assert path.route(topic("cgm-1")) is route
    assert path.route(b"elsewhere/x").device_id is None
    assert path.route(topic("cgm-1", "status")).kind == "status"
    payload = json.dumps({"seq": 1, "readings": [reading()]}).encode()
    rows: list[Row] = []
    assert path.take([topic("cgm-1")], [payload], NOW, REG, rows, {}, set()) == []
    disabled = RegistryView({"cgm-1": DeviceInfo("clinic-a", "rex", enabled=False)}, REG.animal_clinic)
    assert path.take([topic("cgm-1")], [payload], NOW, disabled, rows, {}, set()) == [0]  # the new snapshot is used
    assert len(rows) == 1
    for k in range(MAX_ROUTES + 1):
        path.route(topic(f"d{k}"))
    assert len(path._routes) <= MAX_ROUTES  # bounded


# --- the worker's batch: fast and careful messages together -----------------------------------------------------


def test_a_batch_mixing_both_paths_stores_and_quarantines_as_the_careful_path() -> None:
    worker = IngestWorker(Settings(topic_root=ROOT, ingest_metrics_port=0), CATALOG)
    worker._limits = LIMITS
    worker._fast = FastPath(CATALOG, LIMITS, ROOT)
    worker._registry.view = REG
    worker._registry.loaded_wall = NOW + 3600  # fresh: no refresh, no retry
    worker._registry._loaded_at = time.monotonic() + 3600
    messages: list[tuple[bytes, bytes]] = []
    for device, doc in WELL_FORMED + NOT_TAKEN:
        messages.append((topic(device), json.dumps(doc).encode()))
    messages += [
        (topic("cgm-1", "status"), b"online"),
        (b"elsewhere/devices/x", b"{}"),
        (topic("cgm-1"), b"{not json"),
    ]
    topics, payloads = [t for t, _ in messages], [p for _, p in messages]
    half = len(messages) // 2
    deliveries = [
        Delivery(topics[:half], payloads[:half], list(range(1, half + 1)), 0, NOW, 1),
        Delivery(topics[half:], payloads[half:], [0] * (len(messages) - half), len(messages) - half, NOW, 1),
    ]
    work = asyncio.run(worker._build(deliveries, len(messages), asyncio.Event()))
    assert work is not None
    expected_rows: list[Row] = []
    expected_reasons: list[tuple[str, str, str]] = []
    for t, p in messages:
        parts = t.decode().split("/")
        if t.startswith(ROOT.encode()) and parts[-1] == "telemetry":
            out = parse_message(parts[-2], p, now=NOW, registry=REG, catalog=CATALOG, limits=LIMITS)
            expected_rows += out.rows
            expected_reasons += [(r.reason, r.detail, t.decode()) for r in out.rejections]
    batch = work.batch
    assert sorted(batch.rows, key=repr) == sorted(expected_rows, key=repr)
    assert batch.hours == {int(r[0].timestamp()) // 3600 for r in expected_rows}
    got = [(q.rejection.reason, q.rejection.detail, q.topic) for q in batch.quarantine]
    assert sorted(got) == sorted(expected_reasons)
    assert batch.availability == [("cgm-1", "online", NOW)]
    assert set(batch.seen) == {"cgm-1", "robot-1", "old-1"}  # registered devices, disabled included
    assert [d.ack_ids() for d in work.deliveries] == [list(range(1, half + 1)), []]


def test_times_at_the_window_edges_and_hour_boundaries_agree() -> None:
    lo, hi = NOW - LIMITS.past_horizon_s, NOW + LIMITS.future_tolerance_s
    edges = [lo, hi, 3600 * (NOW // 3600), 3600 * (NOW // 3600) - 7200]
    times: list[object] = []
    for edge in edges:
        for us in (-3, -2, -1, 0, 1, 2, 3):
            at = datetime.fromtimestamp(edge, UTC) + timedelta(microseconds=us)
            times += [at.isoformat(), at.astimezone(timezone(timedelta(hours=-5))).isoformat(), edge + us * 1e-6]
    taken = 0
    for t in times:
        taken += check_agreement("cgm-1", json.dumps({"seq": 1, "readings": [reading(time=t)]}).encode())
        # two readings: the second falls in the hour bucket of the first, or not
        two = [reading(time=iso(-7200)), reading(time=t)]
        taken += check_agreement("cgm-1", json.dumps({"seq": 1, "readings": two}).encode())
    assert taken > len(times)  # most are inside: the fast path took them


def test_an_hour_taken_back_with_its_message_is_marked_again_by_the_next() -> None:
    path = FastPath(CATALOG, LIMITS, ROOT)
    mid = 3600 * ((NOW - 7200) // 3600) + 1800  # the middle of an hour: both times below fall in it
    at = [datetime.fromtimestamp(mid + k, UTC).isoformat() for k in (0, 1)]
    good = json.dumps({"seq": 1, "readings": [reading(time=at[0])]}).encode()
    bad = json.dumps({"seq": 1, "readings": [reading(time=at[1]), reading(time=at[1], value=-1)]}).encode()
    rows: list[Row] = []
    hours: set[float] = set()
    assert path.take([topic("cgm-1")] * 3, [bad, good, bad], NOW, REG, rows, {}, hours) == [0, 2]
    assert hours == {mid // 3600}
    assert [r[0] for r in rows] == [datetime.fromtimestamp(mid, UTC)]
