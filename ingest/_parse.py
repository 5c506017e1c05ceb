"""Payload parsing and validation: bytes in, rows to store and rejections to quarantine out.

Pure functions (no I/O), called per batch on the hot path. Two formats are detected by content
(docs/device-contract.md): a JSON array is SenML (RFC 8428), a JSON object is Vigie JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from vigie.catalog import MetricCatalog

SENML_RELATIVE_LIMIT = 2**28  # RFC 8428: a time below 2^28 s is relative to "now"
MAX_QUARANTINED_BYTES = 64 * 1024

# A row of `readings`: time, device_id, animal_id, metric, value, clinic_id, seq
Row = tuple[datetime, str, str | None, str, float, str, int | None]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What ingest needs to know about a registered device."""

    clinic_id: str
    animal_id: str | None  # the animal it is bound to; None for a multi-animal device
    enabled: bool


@dataclass(frozen=True, slots=True)
class RegistryView:
    """A snapshot of the registry: devices, and the clinic of every animal."""

    devices: Mapping[str, DeviceInfo]
    animal_clinic: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Limits:
    """Acceptance limits (from the settings)."""

    max_payload_bytes: int = 256 * 1024
    future_tolerance_s: float = 300.0
    past_horizon_s: float = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class Rejection:
    """Something that goes to quarantine: a reason code, a detail, and the offending bytes."""

    reason: str
    detail: str
    payload: bytes


@dataclass(slots=True)
class Parsed:
    """The outcome of one message."""

    rows: list[Row] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    clinic_id: str | None = None
    retry_on_refresh: bool = False  # a rejection that a fresher registry could turn into a row


class _NonFiniteError(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NonFiniteError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFiniteError(text[:40])
    return value


def _decode(payload: bytes) -> tuple[Any, Rejection | None]:
    try:
        return orjson.loads(payload), None
    except orjson.JSONDecodeError:
        pass
    # orjson refuses NaN / Infinity like any other invalid token: tell the two apart for the reason code
    try:
        json.loads(payload, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonFiniteError as exc:
        return None, Rejection("non_finite", f"JSON constant {exc} is not a number Vigie stores", payload)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, Rejection("invalid_json", str(exc)[:200], payload)
    return None, Rejection("invalid_json", "not valid JSON", payload)  # pragma: no cover - orjson stricter


def _record_bytes(record: object) -> bytes:
    try:
        return orjson.dumps(record)[:MAX_QUARANTINED_BYTES]
    except TypeError:  # pragma: no cover - records come from JSON, always serialisable
        return repr(record).encode()[:MAX_QUARANTINED_BYTES]


class _Context:
    """Per-message state shared by the record checks."""

    __slots__ = ("catalog", "device", "device_id", "hi", "lo", "now", "out", "registry", "seq")

    def __init__(
        self,
        device_id: str,
        device: DeviceInfo,
        registry: RegistryView,
        catalog: MetricCatalog,
        limits: Limits,
        now: float,
        seq: int | None,
        out: Parsed,
    ) -> None:
        self.device_id = device_id
        self.device = device
        self.registry = registry
        self.catalog = catalog
        self.now = now
        self.lo = now - limits.past_horizon_s
        self.hi = now + limits.future_tolerance_s
        self.seq = seq
        self.out = out

    def reject(self, reason: str, detail: str, record: object) -> None:
        self.out.rejections.append(Rejection(reason, detail, _record_bytes(record)))
        if reason == "animal_not_allowed":
            self.out.retry_on_refresh = True

    def time_of(self, raw: object, record: object) -> datetime | None:
        """A checked, timezone-aware time from an RFC 3339 string or epoch seconds."""
        if isinstance(raw, str):
            try:
                dt = datetime.fromisoformat(raw)
            except ValueError:
                self.reject("bad_time", f"unparseable time {raw[:40]!r}", record)
                return None
            if dt.tzinfo is None:
                self.reject("bad_time", f"time {raw[:40]!r} has no time zone", record)
                return None
            ts = dt.timestamp()
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            ts = float(raw)
            if not math.isfinite(ts):
                self.reject("non_finite", "time is not finite", record)
                return None
            dt = None
        else:
            self.reject("bad_time", "missing time" if raw is None else f"time of type {type(raw).__name__}", record)
            return None
        if ts > self.hi:
            self.reject("time_in_future", f"{ts - self.now:.0f} s ahead of the worker's clock", record)
            return None
        if ts < self.lo:
            self.reject("time_too_old", f"{(self.now - ts) / 86400:.1f} days old, beyond the horizon", record)
            return None
        return dt if dt is not None else datetime.fromtimestamp(ts, UTC)

    def add(self, time: datetime, name: str, animal: str | None, raw: object, unit: object, record: object) -> None:
        """Check one value (metric, animal, unit, type, range) and append its row."""
        metric = self.catalog.metrics.get(name)
        if metric is None:
            self.reject("unknown_metric", f"unknown metric {name[:64]!r}", record)
            return
        device = self.device
        if metric.device_level:
            animal = None
        elif device.animal_id is not None:
            if animal is not None and animal != device.animal_id:
                self.reject(
                    "animal_not_allowed", f"device is bound to {device.animal_id!r}, not {animal[:64]!r}", record
                )
                return
            animal = device.animal_id
        elif animal is None:
            self.reject("missing_animal", "a multi-animal device must name the animal", record)
            return
        elif self.registry.animal_clinic.get(animal) != device.clinic_id:
            self.reject("animal_not_allowed", f"animal {animal[:64]!r} is not of the device's clinic", record)
            return
        kind = metric.kind
        if kind == "number":
            if type(raw) is not float and type(raw) is not int:
                self.reject("wrong_type", f"{name}: value must be a number", record)
                return
            value = float(raw)
            if not math.isfinite(value):
                self.reject("non_finite", f"{name}: value is not finite", record)
                return
            if unit is None:
                self.reject("missing_unit", f"{name}: a unit is required ({metric.unit})", record)
                return
            factor = metric.units.get(unit) if isinstance(unit, str) else None
            if factor is None:
                self.reject(
                    "unknown_unit", f"{name}: unit {str(unit)[:20]!r} is not one of {sorted(metric.units)}", record
                )
                return
            if factor != 1.0:
                value *= factor
        elif kind == "boolean":
            if type(raw) is not bool:
                self.reject("wrong_type", f"{name}: value must be a boolean", record)
                return
            value = 1.0 if raw else 0.0
        else:
            if not isinstance(raw, str):
                self.reject("wrong_type", f"{name}: value must be one of {list(metric.values)}", record)
                return
            try:
                value = float(metric.values.index(raw))
            except ValueError:
                self.reject("out_of_range", f"{name}: {raw[:40]!r} is not one of {list(metric.values)}", record)
                return
        if value < metric.min or value > metric.max:
            self.reject(
                "out_of_range", f"{name}: {value:g} {metric.unit} outside [{metric.min:g}, {metric.max:g}]", record
            )
            return
        self.out.rows.append((time, self.device_id, animal, name, value, device.clinic_id, self.seq))


def _split_name(full: str) -> tuple[str | None, str]:
    animal, sep, metric = full.rpartition("/")
    return (animal or None, metric) if sep else (None, full)


def _senml(records: list[Any], ctx: _Context) -> None:
    bn, bt, bu = "", 0.0, None
    for rec in records:
        if not isinstance(rec, dict):
            ctx.reject("wrong_type", "a SenML record must be an object", rec)
            continue
        if "bn" in rec:
            if not isinstance(rec["bn"], str):
                ctx.reject("wrong_type", "bn must be a string", rec)
                continue
            bn = rec["bn"]
        if "bt" in rec:
            new_bt = rec["bt"]
            if type(new_bt) not in (int, float) or not math.isfinite(new_bt):
                ctx.reject("wrong_type", "bt must be a finite number", rec)
                continue
            bt = float(new_bt)
        if "bu" in rec:
            bu = rec["bu"]
        n = rec.get("n", "")
        if not isinstance(n, str):
            ctx.reject("wrong_type", "n must be a string", rec)
            continue
        full = bn + n
        if not full:
            ctx.reject("wrong_type", "record has no name (bn + n)", rec)
            continue
        t = rec.get("t", 0.0)
        if type(t) not in (int, float):
            ctx.reject("wrong_type", "t must be a number", rec)
            continue
        when = bt + float(t)
        if abs(when) < SENML_RELATIVE_LIMIT:
            when += ctx.now
        time = ctx.time_of(when, rec)
        if time is None:
            continue
        animal, metric = _split_name(full)
        if "v" in rec:
            raw = rec["v"]
        elif "vb" in rec:
            raw = rec["vb"]
        elif "vs" in rec:
            raw = rec["vs"]
        else:
            ctx.reject("wrong_type", "record has no value (v, vb or vs)", rec)
            continue
        ctx.add(time, metric, animal, raw, rec.get("u", bu), rec)


def _animal_of(item: dict[str, Any], ctx: _Context) -> tuple[bool, str | None]:
    animal = item.get("animal_id")
    if animal is not None and not isinstance(animal, str):
        ctx.reject("wrong_type", "animal_id must be a string", item)
        return False, None
    return True, animal


def _native(doc: dict[str, Any], ctx: _Context) -> None:
    for item in doc.get("readings") or ():
        if not isinstance(item, dict):
            ctx.reject("wrong_type", "a reading must be an object", item)
            continue
        metric = item.get("metric")
        if not isinstance(metric, str):
            ctx.reject("wrong_type", "metric must be a string", item)
            continue
        time = ctx.time_of(item.get("time"), item)
        if time is None:
            continue
        ok, animal = _animal_of(item, ctx)
        if ok:
            ctx.add(time, metric, animal, item.get("value"), item.get("unit"), item)
    for item in doc.get("records") or ():
        if not isinstance(item, dict) or not isinstance(item.get("values"), dict):
            ctx.reject("wrong_type", "a record must be an object with a values object", item)
            continue
        time = ctx.time_of(item.get("time"), item)
        if time is None:
            continue
        ok, animal = _animal_of(item, ctx)
        if not ok:
            continue
        if not item["values"]:
            ctx.reject("wrong_type", "a record needs at least one value", item)
            continue
        for metric, entry in item["values"].items():
            if isinstance(entry, list):
                if len(entry) != 2:
                    ctx.reject("wrong_type", f"{metric}: expected [value, unit]", {"time": item["time"], metric: entry})
                    continue
                raw, unit = entry
            else:
                raw, unit = entry, None
            ctx.add(time, metric, animal, raw, unit, {"time": item["time"], "animal_id": animal, metric: entry})


def parse_message(
    device_id: str,
    payload: bytes,
    *,
    now: float,
    registry: RegistryView,
    catalog: MetricCatalog,
    limits: Limits,
) -> Parsed:
    """Validate one telemetry message of ``device_id`` received at ``now`` (epoch seconds)."""
    out = Parsed()
    if len(payload) > limits.max_payload_bytes:
        out.rejections.append(
            Rejection("oversize", f"{len(payload)} bytes > {limits.max_payload_bytes}", payload[:MAX_QUARANTINED_BYTES])
        )
        device = registry.devices.get(device_id)
        out.clinic_id = device.clinic_id if device else None
        return out
    device = registry.devices.get(device_id)
    if device is None:
        out.rejections.append(Rejection("unknown_device", f"device {device_id[:64]!r} is not registered", payload))
        out.retry_on_refresh = True
        return out
    out.clinic_id = device.clinic_id
    if not device.enabled:
        out.rejections.append(Rejection("disabled_device", f"device {device_id!r} is disabled", payload))
        out.retry_on_refresh = True
        return out
    doc, rejection = _decode(payload)
    if rejection is not None:
        out.rejections.append(rejection)
        return out
    if isinstance(doc, list):
        if not doc:
            out.rejections.append(Rejection("bad_format", "an empty SenML pack carries no reading", payload))
            return out
        _senml(doc, _Context(device_id, device, registry, catalog, limits, now, None, out))
    elif isinstance(doc, dict):
        seq = doc.get("seq")
        if type(seq) is not int or seq < 0:
            out.rejections.append(Rejection("bad_format", "Vigie JSON needs an integer seq >= 0", payload))
            return out
        readings, records = doc.get("readings"), doc.get("records")
        if (
            not isinstance(readings, list | None)
            or not isinstance(records, list | None)
            or (not readings and not records)
        ):
            out.rejections.append(Rejection("bad_format", "Vigie JSON needs a readings or records list", payload))
            return out
        _native(doc, _Context(device_id, device, registry, catalog, limits, now, seq, out))
    else:
        out.rejections.append(Rejection("bad_format", "expected a SenML array or a Vigie JSON object", payload))
    return out
