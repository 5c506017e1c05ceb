"""Transport faults on demand: duplicates, out-of-order delivery, clock skew, malformed payloads, offline backlogs.

Given as ``--faults duplicates=0.02,out_of_order=0.05,skew=-120,malformed=0.01,offline=2h`` (a name alone takes its
default). Skew and offline act on readings (device clock, send time); the others on the message stream.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simulators._anomalies import Anomaly
from simulators._fleet import Fleet, Label
from simulators._output import Message
from simulators._readings import Readings
from simulators._time import parse_duration
from simulators.errors import ScenarioError

DEFAULTS = {"duplicates": "0.02", "out_of_order": "0.05", "skew": "-120", "malformed": "0.01", "offline": "2h"}
MALFORMED = (
    b'{"seq": 1, "readings": [{"time": "2026-',  # truncated JSON
    b"\xff\xfe\x00 not utf-8",  # not UTF-8
    b'{"readings": []}',  # no seq: neither SenML nor Vigie JSON
    b'[{"n": "glucose", "v": 120}]',  # a SenML number without a unit
    b'{"seq": 2, "readings": [{"time": "yesterday", "metric": "glucose", "value": 1e999, "unit": "furlong"}]}',
)


@dataclass(frozen=True, slots=True)
class Faults:
    """Which faults to inject and how much (fractions of messages, seconds)."""

    duplicates: float = 0.0
    out_of_order: float = 0.0
    skew_s: float = 0.0
    malformed: float = 0.0
    offline_s: float = 0.0

    @property
    def any(self) -> bool:
        """True when at least one fault is on."""
        return any((self.duplicates, self.out_of_order, self.skew_s, self.malformed, self.offline_s))


def parse_faults(specs: list[str]) -> Faults:
    """Faults from CLI items like ``duplicates=0.05`` or ``offline`` (comma-separated or repeated)."""
    faults = Faults()
    for item in (part.strip() for spec in specs for part in spec.split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if name not in DEFAULTS:
            raise ScenarioError(f"unknown fault {name!r}: use {', '.join(DEFAULTS)} (e.g. duplicates=0.02)")
        text = value.strip() or DEFAULTS[name]
        try:
            number = parse_duration(text) if name == "offline" else float(text)
        except ValueError:
            raise ScenarioError(f"fault {name}: {text!r} is not a valid value") from None
        if name in ("duplicates", "out_of_order", "malformed") and not 0 <= number <= 1:
            raise ScenarioError(f"fault {name}: {text} must be a fraction between 0 and 1")
        if name == "skew" and abs(number) > 30 * 86_400:
            raise ScenarioError("fault skew: at most 30 days either way (seconds)")
        if name == "offline" and number <= 0:
            raise ScenarioError("fault offline: give a positive duration such as 2h")
        field = {"skew": "skew_s", "offline": "offline_s"}.get(name, name)
        faults = replace(faults, **{field: number})
    return faults


def device_skews(fleet: Fleet, faults: Faults) -> np.ndarray:
    """Each device's clock error (s): uniform between 0 and the requested skew."""
    return np.array([fleet.rng(d, 50).uniform(0, 1) * faults.skew_s for d in fleet.device_ids])


def offline_periods(fleet: Fleet, faults: Faults) -> list[tuple[float, float]]:
    """One offline period per device inside the timeline (start, end in epoch s)."""
    periods = []
    length = min(faults.offline_s, max(fleet.end - fleet.start - 60.0, 60.0))
    for d in fleet.device_ids:
        latest = max(fleet.start, fleet.end - length)
        t0 = float(fleet.rng(d, 51).uniform(fleet.start, latest)) if latest > fleet.start else fleet.start
        periods.append((t0, t0 + length))
    return periods


def apply_to_readings(fleet: Fleet, r: Readings, faults: Faults) -> Readings:
    """Clock skew (on measurement times) and offline periods (sent at reconnection)."""
    if faults.skew_s:
        r = Readings(
            r.t + np.rint(device_skews(fleet, faults)[r.device]).astype(np.int64),
            r.sent,
            r.metric,
            r.value,
            r.device,
            r.animal,
        )
    if faults.offline_s:
        periods = np.array(offline_periods(fleet, faults))
        lo, hi = periods[r.device, 0], periods[r.device, 1]
        inside = (r.sent >= lo) & (r.sent < hi)
        r = Readings(r.t, np.where(inside, np.rint(hi).astype(np.int64), r.sent), r.metric, r.value, r.device, r.animal)
    return r


def fault_labels(fleet: Fleet, faults: Faults) -> list[Label]:
    """Labels of the reading-level faults (one per animal of each affected device)."""
    labels: list[Label] = []
    skews = device_skews(fleet, faults) if faults.skew_s else None
    periods = offline_periods(fleet, faults) if faults.offline_s else None
    for i, device in enumerate(fleet.scenario.devices):
        for animal in device.animals:
            if periods is not None:
                t0, t1 = periods[i]
                a = Anomaly("offline_backlog", "data_gap", animal, round(t0), round(t1), {"backlog": True})
                labels.append(a.label(device.id))
            if skews is not None:
                params = {"skew_s": round(float(skews[i]), 1)}
                a = Anomaly("clock_skew", "device_fault", animal, round(fleet.start), round(fleet.end), params)
                labels.append(a.label(device.id))
    return labels


def apply_to_messages(messages: list[Message], faults: Faults, rng: np.random.Generator) -> list[Message]:
    """Duplicates (re-sent a little later), out-of-order moves, and extra malformed payloads."""
    out = list(messages)
    if faults.out_of_order and out:
        moved = np.flatnonzero(rng.random(len(out)) < faults.out_of_order)
        for i in moved[::-1]:
            msg = out.pop(int(i))
            out.insert(min(len(out), int(i) + int(rng.integers(2, 30))), msg)
    if faults.duplicates and out:
        dup = np.flatnonzero(rng.random(len(out)) < faults.duplicates)
        for i in dup[::-1]:
            msg = out[int(i)]
            out.insert(min(len(out), int(i) + int(rng.integers(1, 20))), replace(msg, kind="duplicate"))
    if faults.malformed and out:
        bad = np.flatnonzero(rng.random(len(out)) < faults.malformed)
        for i in bad[::-1]:
            msg = out[int(i)]
            payload = MALFORMED[int(rng.integers(len(MALFORMED)))]
            out.insert(int(i) + 1, replace(msg, payload=payload, readings=0, kind="malformed"))
    return out


def apply_to_lines(lines: list[bytes], faults: Faults, rng: np.random.Generator) -> list[bytes]:
    """JSON-lines variant: duplicated lines and local reordering (malformed payloads are MQTT-only)."""
    out = list(lines)
    if faults.out_of_order and out:
        for i in np.flatnonzero(rng.random(len(out)) < faults.out_of_order)[::-1]:
            line = out.pop(int(i))
            out.insert(min(len(out), int(i) + int(rng.integers(2, 30))), line)
    if faults.duplicates and out:
        for i in np.flatnonzero(rng.random(len(out)) < faults.duplicates)[::-1]:
            out.insert(min(len(out), int(i) + int(rng.integers(1, 20))), out[int(i)])
    return out
