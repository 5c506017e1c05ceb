"""The runtime fleet: a scenario bound to a seed and a timeline, with indexes and per-animal random streams."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from simulators._anomalies import Anomaly, resolve
from simulators._readings import Readings
from simulators._scenario import Animal, Device, Scenario
from simulators._time import DAY_S

Label = dict[str, Any]


def stable_key(text: str) -> int:
    """A stable 32-bit key of an id (random streams do not move when other animals are added)."""
    return zlib.crc32(text.encode())


@dataclass(slots=True)
class Fleet:
    """A scenario, a seed and the timeline [start, end] (epoch seconds)."""

    scenario: Scenario
    seed: int
    start: float
    end: float
    anomalies: list[Anomaly] = field(default_factory=list)
    animal_ids: list[str] = field(default_factory=list)
    device_ids: list[str] = field(default_factory=list)
    animal_index: dict[str, int] = field(default_factory=dict)
    device_index: dict[str, int] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, scenario: Scenario, *, seed: int, start: float, end: float) -> Fleet:
        """Index the scenario, draw per-animal weights and resolve the anomalies' times and parameters."""
        fleet = cls(scenario, seed, start, end)
        fleet.animal_ids = [a.id for a in scenario.animals]
        fleet.device_ids = [d.id for d in scenario.devices]
        fleet.animal_index = {a: i for i, a in enumerate(fleet.animal_ids)}
        fleet.device_index = {d: i for i, d in enumerate(fleet.device_ids)}
        for animal in scenario.animals:
            lo, hi = animal.weight
            w = lo if lo == hi else float(fleet.rng(animal.id, 1).uniform(lo, hi))
            fleet.weights[animal.id] = round(w, 1)
        species = {a.id: a.species for a in scenario.animals}
        fleet.anomalies = resolve(scenario.anomalies, seed=seed, start=start, end=end, species=species)
        return fleet

    @property
    def first_day(self) -> int:
        """Number (days since the epoch) of the UTC day holding ``start``."""
        return math.floor(self.start / DAY_S)

    def rng(self, key: str, stream: int, day: int | None = None) -> np.random.Generator:
        """An independent random stream for (seed, id, stream[, day])."""
        parts = [self.seed, stable_key(key), stream]
        if day is not None:
            parts.append(day + 1_000_000)
        return np.random.default_rng(parts)

    def animal(self, animal_id: str) -> Animal:
        """The scenario's animal."""
        return self.scenario.animals[self.animal_index[animal_id]]

    def devices_of(self, kind: str) -> list[Device]:
        """Devices of one kind, in scenario order."""
        return [d for d in self.scenario.devices if d.kind == kind]

    def device_of(self, device: Device) -> int:
        """The index of a device."""
        return self.device_index[device.id]


class Simulator(Protocol):
    """Generates one UTC day at a time, deterministically (any day, in any order)."""

    def day(self, day: int) -> tuple[Readings, list[Label]]:
        """Readings measured during ``day`` (days since the epoch) and the labels of what started that day."""
        ...
