"""Readings as JSON lines (``--out``) and as MQTT messages in the device contract's Vigie JSON format."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from simulators._fleet import Label
from simulators._readings import METRICS, Readings
from simulators._time import rfc3339

MAX_READINGS_PER_MESSAGE = 500


def python_values(r: Readings) -> list[Any]:
    """Values as JSON-ready Python objects: rounded numbers, enum strings, booleans."""
    out: list[Any] = [None] * len(r)
    for m in np.unique(r.metric):
        spec = METRICS[int(m)]
        idx = np.flatnonzero(r.metric == m)
        raw = r.value[idx]
        if spec.kind == "enum":
            vals: list[Any] = np.asarray(spec.values)[raw.astype(np.int64)].tolist()
        elif spec.kind == "boolean":
            vals = (raw > 0.5).tolist()
        elif spec.decimals == 0:
            vals = np.rint(raw).astype(np.int64).tolist()
        else:
            vals = np.round(raw, spec.decimals).tolist()
        for i, v in zip(idx.tolist(), vals, strict=True):
            out[i] = v
    return out


def unit_of(metric: int) -> str | None:
    """The unit sent with a metric (None for enum and boolean metrics)."""
    spec = METRICS[metric]
    return None if spec.kind != "number" else spec.unit


def jsonl_lines(r: Readings, device_ids: list[str], animal_ids: list[str], chunk: int = 20_000) -> Iterator[bytes]:
    """One JSON object per reading (time, device_id, animal_id, metric, value, unit), produced chunk by chunk."""
    names = [m.name for m in METRICS]
    units = [unit_of(i) for i in range(len(METRICS))]
    devices_arr = np.asarray(device_ids, dtype=object)
    animals_arr = np.asarray(animal_ids, dtype=object)
    dumps = orjson.dumps
    for lo in range(0, len(r), chunk):
        part = r.take(np.arange(lo, min(lo + chunk, len(r))))
        times = rfc3339(part.t).tolist()
        devices = devices_arr[part.device].tolist()
        animals = animals_arr[part.animal].tolist()
        values = python_values(part)
        for t, d, a, m, v in zip(times, devices, animals, part.metric.tolist(), values, strict=True):
            yield dumps({"time": t, "device_id": d, "animal_id": a, "metric": names[m], "value": v, "unit": units[m]})


def write_jsonl(path: Path, lines: Iterable[bytes]) -> int:
    """Write lines (newline-terminated) to ``path``; return how many."""
    n = 0
    with path.open("wb") as f:
        chunk: list[bytes] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= 10_000:
                f.write(b"\n".join(chunk) + b"\n")
                n += len(chunk)
                chunk.clear()
        if chunk:
            f.write(b"\n".join(chunk) + b"\n")
            n += len(chunk)
    return n


def write_labels(path: Path, labels: list[Label]) -> int:
    """The labels file: one JSON object per anomaly (animal_id, category, recipe, start, end, parameters)."""
    return write_jsonl(path, (orjson.dumps(lab, option=orjson.OPT_SERIALIZE_NUMPY) for lab in labels))


def labels_path(out: Path) -> Path:
    """``FILE.labels.jsonl`` beside ``FILE.jsonl``."""
    name = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.name
    return out.with_name(f"{name}.labels.jsonl")


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT publication: when it is due (epoch s), from which device, and its payload."""

    sent: float
    device: str
    topic: str
    payload: bytes
    readings: int
    kind: str = "data"  # data, duplicate or malformed


def telemetry_topic(root: str, device_id: str) -> str:
    """``{root}/devices/{device_id}/telemetry``."""
    return f"{root}/devices/{device_id}/telemetry"


def status_topic(root: str, device_id: str) -> str:
    """``{root}/devices/{device_id}/status`` (retained online/offline)."""
    return f"{root}/devices/{device_id}/status"


def to_messages(
    r: Readings,
    *,
    device_ids: list[str],
    animal_ids: list[str],
    bound: list[bool],
    topic_root: str,
    seqs: dict[str, int],
) -> list[Message]:
    """Group readings by (device, send time) into Vigie JSON messages; ``seqs`` holds each device's last seq."""
    if not len(r):
        return []
    order = np.lexsort((r.metric, r.animal, r.t, r.device, r.sent))
    r = r.take(order)
    times = rfc3339(r.t).tolist()
    values = python_values(r)
    names = [m.name for m in METRICS]
    units = [unit_of(i) for i in range(len(METRICS))]
    key_change = np.flatnonzero((np.diff(r.sent) != 0) | (np.diff(r.device) != 0)) + 1
    bounds = np.concatenate([[0], key_change, [len(r)]]).tolist()
    metric = r.metric.tolist()
    animal = r.animal.tolist()
    t = r.t.tolist()
    out: list[Message] = []
    for lo, hi in itertools.pairwise(bounds):
        dev = int(r.device[lo])
        device_id = device_ids[dev]
        topic = telemetry_topic(topic_root, device_id)
        sent = float(r.sent[lo])
        for start in range(lo, hi, MAX_READINGS_PER_MESSAGE):
            stop = min(hi, start + MAX_READINGS_PER_MESSAGE)
            seqs[device_id] = seqs.get(device_id, 0) + 1
            body: dict[str, Any] = {"seq": seqs[device_id]}
            if bound[dev]:
                readings = []
                for i in range(start, stop):
                    item: dict[str, Any] = {"time": times[i], "metric": names[metric[i]], "value": values[i]}
                    if units[metric[i]] is not None:
                        item["unit"] = units[metric[i]]
                    readings.append(item)
                body["readings"] = readings
            else:
                records: list[dict[str, Any]] = []
                last: tuple[int, int] | None = None
                for i in range(start, stop):
                    if (t[i], animal[i]) != last:
                        last = (t[i], animal[i])
                        records.append({"time": times[i], "animal_id": animal_ids[animal[i]], "values": {}})
                    u = units[metric[i]]
                    records[-1]["values"][names[metric[i]]] = values[i] if u is None else [values[i], u]
                body["records"] = records
            out.append(Message(sent, device_id, topic, orjson.dumps(body), stop - start))
    return out
