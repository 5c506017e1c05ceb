"""Columnar readings: what the simulators produce, before they become JSON lines or MQTT messages.

Every reading has a measurement time ``t`` and the time ``sent`` at which its device publishes it (later than ``t``
for a backlog). Metrics are stored as codes into :data:`METRICS`; enum values as the index of the enum string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Kind = Literal["number", "enum", "boolean"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A metric the simulators emit, in the canonical unit of config/metrics.toml."""

    name: str
    unit: str
    kind: Kind = "number"
    values: tuple[str, ...] = ()
    decimals: int = 2


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("glucose", "mg/dL", decimals=0),
    MetricSpec("insulin_dose", "U", decimals=2),
    MetricSpec("insulin_type", "code", "enum", ("lente", "nph", "glargine", "pzi", "detemir", "degludec", "other")),
    MetricSpec("meal", "g", decimals=0),
    MetricSpec("feed_intake", "kg", decimals=3),
    MetricSpec("concentrate_intake", "kg", decimals=3),
    MetricSpec("water_intake", "L", decimals=2),
    MetricSpec("eating_time", "min", decimals=1),
    MetricSpec("body_weight", "kg", decimals=1),
    MetricSpec("milk_yield", "kg", decimals=2),
    MetricSpec("milk_yield_lf", "kg", decimals=2),
    MetricSpec("milk_yield_rf", "kg", decimals=2),
    MetricSpec("milk_yield_lr", "kg", decimals=2),
    MetricSpec("milk_yield_rr", "kg", decimals=2),
    MetricSpec("conductivity_lf", "mS/cm"),
    MetricSpec("conductivity_rf", "mS/cm"),
    MetricSpec("conductivity_lr", "mS/cm"),
    MetricSpec("conductivity_rr", "mS/cm"),
    MetricSpec("milk_fat", "%"),
    MetricSpec("milk_protein", "%"),
    MetricSpec("somatic_cell_count", "10^3/mL", decimals=0),
    MetricSpec("milking_duration", "min"),
    MetricSpec("milking_interval", "h"),
    MetricSpec("milking_outcome", "code", "enum", ("complete", "incomplete", "failed", "refused")),
    MetricSpec("milk_blood", "bool", "boolean"),
    MetricSpec("rumination", "min", decimals=0),
    MetricSpec("activity", "count", decimals=0),
)
CODE: dict[str, int] = {m.name: i for i, m in enumerate(METRICS)}
QUARTERS = ("lf", "rf", "lr", "rr")


def code(name: str) -> int:
    """The code of metric ``name``."""
    return CODE[name]


def enum_code(metric: str, value: str) -> int:
    """The stored number of an enum value (its position in the metric's list)."""
    return METRICS[CODE[metric]].values.index(value)


@dataclass(slots=True)
class Readings:
    """Parallel arrays, one element per reading."""

    t: NDArray[np.int64]
    sent: NDArray[np.int64]
    metric: NDArray[np.int16]
    value: NDArray[np.float64]
    device: NDArray[np.int32]
    animal: NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.t.size)

    @classmethod
    def empty(cls) -> Readings:
        """No readings."""
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.int16),
            np.empty(0, np.float64),
            np.empty(0, np.int32),
            np.empty(0, np.int32),
        )

    @classmethod
    def build(
        cls,
        t: ArrayLike,
        metric: int | ArrayLike,
        value: ArrayLike,
        *,
        device: int | ArrayLike,
        animal: int | ArrayLike,
        sent: ArrayLike | None = None,
    ) -> Readings:
        """Readings from arrays or scalars (scalars are broadcast); times are rounded to whole seconds."""
        t_arr = np.rint(np.asarray(t, dtype=np.float64)).astype(np.int64)
        n = t_arr.size
        sent_arr = t_arr if sent is None else np.rint(np.broadcast_to(np.asarray(sent, np.float64), n)).astype(np.int64)
        return cls(
            t_arr,
            np.maximum(sent_arr, t_arr),
            np.broadcast_to(np.asarray(metric, np.int16), n).copy(),
            np.broadcast_to(np.asarray(value, np.float64), n).astype(np.float64),
            np.broadcast_to(np.asarray(device, np.int32), n).copy(),
            np.broadcast_to(np.asarray(animal, np.int32), n).copy(),
        )

    @classmethod
    def concat(cls, parts: list[Readings]) -> Readings:
        """All readings of ``parts`` in one set."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.t for p in parts]),
            np.concatenate([p.sent for p in parts]),
            np.concatenate([p.metric for p in parts]),
            np.concatenate([p.value for p in parts]),
            np.concatenate([p.device for p in parts]),
            np.concatenate([p.animal for p in parts]),
        )

    def take(self, index: NDArray[np.bool_] | NDArray[np.intp]) -> Readings:
        """The readings selected by a mask or an index array."""
        return Readings(
            self.t[index],
            self.sent[index],
            self.metric[index],
            self.value[index],
            self.device[index],
            self.animal[index],
        )

    def sorted(self, *, by_sent: bool = False) -> Readings:
        """Readings ordered by time (or by send time), then device, animal and metric: a stable, seed-free order."""
        primary = self.sent if by_sent else self.t
        order = np.lexsort((self.metric, self.animal, self.device, self.t, primary))
        return self.take(order)

    def of_metric(self, name: str) -> Readings:
        """Only the readings of metric ``name``."""
        return self.take(self.metric == CODE[name])
