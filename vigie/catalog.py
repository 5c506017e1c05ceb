"""The metric catalog: canonical units, accepted units with their conversion factors, bounds.

Loaded from ``config/metrics.toml``; the ingest hot path uses :meth:`MetricCatalog.normalise`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vigie.errors import ConfigError

Kind = Literal["number", "boolean", "enum"]
GLUCOSE_UNITS = ("mg/dL", "mmol/L", "g/L")


@dataclass(frozen=True, slots=True)
class Metric:
    """One catalog entry."""

    name: str
    unit: str
    units: dict[str, float]
    min: float
    max: float
    kind: Kind = "number"
    values: tuple[str, ...] = ()
    description: str = ""
    device_level: bool = False


class MetricCatalog:
    """All metrics by name, with the conversion used at ingest."""

    def __init__(self, metrics: dict[str, Metric]) -> None:
        self.metrics = metrics
        # (metric, unit) → factor: one dict lookup per reading on the hot path
        self._factors: dict[tuple[str, str], float] = {
            (m.name, u): f for m in metrics.values() for u, f in m.units.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self.metrics

    def get(self, name: str) -> Metric | None:
        """The metric called ``name``, or None."""
        return self.metrics.get(name)

    def factor(self, metric: str, unit: str) -> float | None:
        """Multiplier from ``unit`` to the canonical unit of ``metric``; None when not accepted."""
        return self._factors.get((metric, unit))

    @classmethod
    def load(cls, path: Path) -> MetricCatalog:
        """Read and check a catalog file."""
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read metric catalog {path}: {exc}") from exc
        metrics: dict[str, Metric] = {}
        for name, spec in raw.get("metrics", {}).items():
            kind = spec.get("kind", "number")
            if kind not in ("number", "boolean", "enum"):
                raise ConfigError(f"{path}: metric {name}: unknown kind {kind!r}")
            canonical = spec.get("unit")
            if not canonical:
                raise ConfigError(f"{path}: metric {name} has no canonical unit")
            values = tuple(spec.get("values", ()))
            if kind == "number":
                units = {str(k): float(v) for k, v in spec.get("units", {canonical: 1.0}).items()}
                if units.get(canonical) != 1.0:
                    raise ConfigError(f"{path}: metric {name}: canonical unit {canonical} must have factor 1")
                lo, hi = float(spec["min"]), float(spec["max"])
            else:
                units = {canonical: 1.0}
                lo, hi = 0.0, float(max(len(values) - 1, 1))
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ConfigError(f"{path}: metric {name}: bad bounds")
            metrics[name] = Metric(
                name,
                canonical,
                units,
                lo,
                hi,
                kind,
                values,
                spec.get("description", ""),
                bool(spec.get("device_level")),
            )
        if not metrics:
            raise ConfigError(f"{path}: no metrics defined")
        return cls(metrics)


def load_catalog(config_dir: Path) -> MetricCatalog:
    """The catalog of a config folder (``metrics.toml``)."""
    return MetricCatalog.load(config_dir / "metrics.toml")


def convert_glucose(value_mg_dl: float, unit: str) -> float:
    """A glucose value in mg/dL expressed in ``unit`` (mg/dL, mmol/L or g/L)."""
    if unit == "mg/dL":
        return value_mg_dl
    if unit == "mmol/L":
        return value_mg_dl / 18.0
    if unit == "g/L":
        return value_mg_dl / 100.0
    raise ConfigError(f"unknown glucose unit {unit!r} (use one of {', '.join(GLUCOSE_UNITS)})")
