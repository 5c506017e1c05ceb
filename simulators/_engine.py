"""The engine: a fleet's simulators, day by day (cached), cut to a window of measurement or send time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulators._cgm import CgmSimulator
from simulators._dairy import DairySimulator
from simulators._fleet import Fleet, Label, Simulator
from simulators._horse import FeederSimulator
from simulators._readings import Readings
from simulators._scenario import Scenario
from simulators._time import DAY_S, rfc3339_one

# a reading is sent at most this long after it is measured (scan backlogs, phone outages): look back that far
MAX_SEND_DELAY_S = 2 * DAY_S


class Engine:
    """Generates a fleet's readings and labels for any window, deterministically."""

    def __init__(self, scenario: Scenario, *, seed: int, start: float, end: float) -> None:
        self.fleet = Fleet.build(scenario, seed=seed, start=start, end=end)
        self.simulators: list[Simulator] = [
            CgmSimulator(self.fleet),
            FeederSimulator(self.fleet),
            DairySimulator(self.fleet),
        ]
        self._days: dict[int, tuple[Readings, list[Label]]] = {}

    def day(self, day: int) -> tuple[Readings, list[Label]]:
        """Everything measured on ``day`` (cached; days far behind are dropped by :meth:`forget`)."""
        if day not in self._days:
            parts = [sim.day(day) for sim in self.simulators]
            self._days[day] = (Readings.concat([p[0] for p in parts]), [lab for p in parts for lab in p[1]])
        return self._days[day]

    def forget(self, before: float) -> None:
        """Drop cached days that can no longer send anything after ``before``."""
        limit = math.floor((before - MAX_SEND_DELAY_S) / DAY_S) - 1
        for d in [d for d in self._days if d < limit]:
            del self._days[d]

    def measured(self, start: float, end: float) -> Readings:
        """Readings measured in [start, end] and already sent by ``end`` (what a database has at ``end``)."""
        parts = []
        for d in range(math.floor(start / DAY_S), math.floor(end / DAY_S) + 1):
            r = self.day(d)[0]
            parts.append(r.take((r.t >= start) & (r.t <= end) & (r.sent <= end)))
        return Readings.concat(parts).sorted()

    def sent_between(self, lo: float, hi: float) -> Readings:
        """Readings measured since the timeline start and sent in [lo, hi), in send order."""
        parts = []
        first = max(math.floor((lo - MAX_SEND_DELAY_S) / DAY_S), math.floor(self.fleet.start / DAY_S))
        for d in range(first, math.floor(hi / DAY_S) + 1):
            r = self.day(d)[0]
            parts.append(r.take((r.sent >= lo) & (r.sent < hi) & (r.t >= self.fleet.start)))
        return Readings.concat(parts).sorted(by_sent=True)

    def labels(self, start: float, end: float) -> list[Label]:
        """Labels of injected anomalies and of the simulator's own events overlapping [start, end], by start."""
        out: list[Label] = []
        devices = self._device_of_animal()
        cgm = next(sim for sim in self.simulators if isinstance(sim, CgmSimulator))
        for a in self.fleet.anomalies:
            if a.start <= end and a.end >= start:
                lab = a.label(devices.get(a.animal_id))
                if a.category == "hypoglycemia":  # when the animal is hypoglycaemic: true glucose < 60 mg/dL
                    onset = cgm.hypo_onset(a.animal_id, a.start, a.end)
                    lab["onset"] = None if onset is None else rfc3339_one(onset)
                out.append(lab)
        seen = {(lab["animal_id"], lab["recipe"], lab["start"]) for lab in out}
        # events still going on at ``start`` count too (a true low in progress when a recording begins)
        for d in range(math.floor(start / DAY_S) - 1, math.floor(end / DAY_S) + 1):
            for lab in self.day(d)[1]:
                key = (lab["animal_id"], lab["recipe"], lab["start"])
                t0 = np.datetime64(lab["start"].rstrip("Z"), "s").astype(np.int64)
                t1 = np.datetime64(lab["end"].rstrip("Z"), "s").astype(np.int64)
                if key not in seen and t0 <= end and t1 >= start:
                    seen.add(key)
                    out.append(lab)
        out.sort(key=lambda lab: (lab["start"], lab["animal_id"], lab["recipe"]))
        return out

    def _device_of_animal(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for d in self.fleet.scenario.devices:
            for a in d.animals:
                out.setdefault(a, d.id)
        return out

    def summary(self) -> dict[str, Any]:
        """Counts of the fleet (for the CLI)."""
        s = self.fleet.scenario
        return {
            "scenario": s.name,
            "animals": len(s.animals),
            "devices": len(s.devices),
            "anomalies": len(self.fleet.anomalies),
        }
