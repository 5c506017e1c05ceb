"""Payload fuzzing of the ingest parser (hypothesis, fixed budget, derandomized so CI runs the same examples).

Property: whatever the bytes, ``parse_message`` returns; every outcome is stored readings or rejections whose
reason is one of the codes docs/device-contract.md lists; a stored value is finite and belongs to the device's
clinic. Inputs: raw bytes, arbitrary JSON, and SenML / Vigie JSON shaped documents with fuzzed fields.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import DeviceInfo, Limits, RegistryView, parse_message
from vigie.catalog import load_catalog
from vigie.settings import DEFAULT_CONFIG_DIR, REPO_ROOT

BUDGET = 500  # examples per strategy (5 strategies): about 15 s on the 2-core CI machine
FUZZ = settings(
    max_examples=BUDGET,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CATALOG = load_catalog(DEFAULT_CONFIG_DIR)
REGISTRY = RegistryView(
    {
        "cgm-0": DeviceInfo("clinic-a", "dog-0", enabled=True),
        "robot-1": DeviceInfo("clinic-a", None, enabled=True),
        "old-cgm": DeviceInfo("clinic-a", "old-dog", enabled=False),
    },
    {"dog-0": "clinic-a", "cow-1": "clinic-a", "cow-b": "clinic-b", "old-dog": "clinic-a"},
)
LIMITS = Limits(max_payload_bytes=4096)
NOW = time.time()


def contract_reasons() -> set[str]:
    """The reason codes of the table in docs/device-contract.md."""
    text = (REPO_ROOT / "docs" / "device-contract.md").read_text(encoding="utf-8")
    section = text.split("## What is quarantined", 1)[1]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))


REASONS = contract_reasons()
METRICS = sorted(CATALOG.metrics)
UNITS = sorted({u for m in CATALOG.metrics.values() for u in m.units} | {"", "mg/dl", "kg/L", "%%"})
DEVICES = ["cgm-0", "robot-1", "old-cgm", "ghost", "cgm-0/../x"]
ANIMALS = ["dog-0", "cow-1", "cow-b", "old-dog", "nobody", "", "a/b"]

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 100, 1e308, -1e308, 5e-324, 2**53 + 1]),
)
times = st.one_of(
    numbers,
    st.floats(min_value=NOW - 40 * 86400, max_value=NOW + 3600),
    st.integers(min_value=0, max_value=2**28 + 10),
    st.sampled_from(["2026-11-23T08:00:00Z", "2026-11-23T08:00:00", "1970-01-01T00:00:00Z", "yesterday", ""]),
    st.text(max_size=30),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def maybe(key: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), strategy.map(lambda v: {key: v}))


def record(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    parts = [maybe(k, s) for k, s in fields.items()]
    return st.tuples(*parts).map(lambda ds: {k: v for d in ds for k, v in d.items()})


senml_records = record(
    {
        "bn": st.one_of(st.sampled_from(["", "cow-1/", "cow-b/", "dog-0/", "x/y/"]), st.text(max_size=10)),
        "bt": times,
        "bu": st.sampled_from(UNITS),
        "n": st.one_of(st.sampled_from(METRICS), st.text(max_size=12)),
        "u": st.sampled_from(UNITS),
        "v": st.one_of(numbers, scalars),
        "vb": scalars,
        "vs": st.one_of(st.sampled_from(["complete", "lente", "other"]), st.text(max_size=10)),
        "t": times,
    }
)
readings = record(
    {
        "time": times,
        "metric": st.one_of(st.sampled_from(METRICS), scalars),
        "value": st.one_of(numbers, scalars),
        "unit": st.one_of(st.sampled_from(UNITS), scalars),
        "animal_id": st.one_of(st.sampled_from(ANIMALS), scalars),
    }
)
records = record(
    {
        "time": times,
        "animal_id": st.one_of(st.sampled_from(ANIMALS), scalars),
        "values": st.one_of(
            st.dictionaries(
                st.sampled_from(METRICS),
                st.one_of(st.tuples(numbers, st.sampled_from(UNITS)).map(list), scalars, json_values),
                max_size=5,
            ),
            json_values,
        ),
    }
)
vigie_docs = st.tuples(
    maybe("seq", st.one_of(st.integers(min_value=-(2**70), max_value=2**70), scalars)),
    maybe("readings", st.one_of(st.lists(readings, max_size=6), json_values)),
    maybe("records", st.one_of(st.lists(records, max_size=3), json_values)),
).map(lambda ds: {k: v for d in ds for k, v in d.items()})


def render(doc: object) -> bytes:
    """JSON text; Python writes NaN and Infinity as bare tokens, which is one of the things being fuzzed."""
    return json.dumps(doc, allow_nan=True).encode()


def check(device: str, payload: bytes) -> None:
    parsed = parse_message(device, payload, now=NOW, registry=REGISTRY, catalog=CATALOG, limits=LIMITS)
    assert parsed.rows or parsed.rejections, f"{payload[:200]!r} was neither stored nor quarantined"
    unknown = {r.reason for r in parsed.rejections} - REASONS
    assert not unknown, f"reason codes outside the contract: {unknown}"
    for rej in parsed.rejections:
        assert len(rej.payload) <= 64 * 1024
    info = REGISTRY.devices.get(device)
    for row in parsed.rows:
        assert info is not None
        assert info.enabled
        assert math.isfinite(row[4])
        assert row[1] == device
        assert row[5] == info.clinic_id
        assert row[2] is None or REGISTRY.animal_clinic.get(row[2]) == info.clinic_id
        assert NOW - LIMITS.past_horizon_s <= row[0].timestamp() <= NOW + LIMITS.future_tolerance_s


def test_the_contract_lists_the_reasons() -> None:
    assert {"invalid_json", "oversize", "non_finite", "out_of_range", "animal_not_allowed"} <= REASONS


@FUZZ
@given(device=st.sampled_from(DEVICES), payload=st.binary(max_size=5000))
def test_raw_bytes(device: str, payload: bytes) -> None:
    check(device, payload)


@FUZZ
@given(device=st.sampled_from(DEVICES), doc=json_values)
def test_any_json(device: str, doc: object) -> None:
    check(device, render(doc))


@FUZZ
@given(device=st.sampled_from(DEVICES), doc=st.lists(senml_records, max_size=8))
def test_senml_shaped(device: str, doc: list[dict[str, Any]]) -> None:
    check(device, render(doc))


@FUZZ
@given(device=st.sampled_from(DEVICES), doc=vigie_docs)
def test_vigie_shaped(device: str, doc: dict[str, Any]) -> None:
    check(device, render(doc))


@FUZZ
@given(
    device=st.sampled_from(DEVICES),
    doc=vigie_docs,
    cut=st.integers(min_value=0, max_value=400),
    junk=st.binary(max_size=8),
)
def test_truncated_and_spliced(device: str, doc: dict[str, Any], cut: int, junk: bytes) -> None:
    text = render(doc)
    check(device, text[:cut] + junk + text[cut:])
