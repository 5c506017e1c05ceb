"""Small builders of test data (readings frames, series, JSONL recordings)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

T0 = pd.Timestamp("2026-03-02T00:00:00Z")


def at(minutes: Iterable[float]) -> pd.DatetimeIndex:
    """Instants ``minutes`` after T0."""
    return pd.DatetimeIndex([T0 + pd.Timedelta(minutes=float(m)) for m in minutes])


def series(minutes: Sequence[float], values: Sequence[float]) -> pd.Series[float]:
    """A float series at ``minutes`` after T0."""
    return pd.Series(np.asarray(values, dtype=np.float64), index=at(minutes), dtype="float64")


def frame(rows: Iterable[tuple[float, str, float]]) -> pd.DataFrame:
    """A readings frame from (minutes after T0, metric, value)."""
    data = list(rows)
    return pd.DataFrame(
        {
            "time": at(r[0] for r in data),
            "device_id": "dev-1",
            "animal_id": "a1",
            "metric": [r[1] for r in data],
            "value": [float(r[2]) for r in data],
        }
    )


def write_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> Path:
    """Write ``rows`` as JSON lines."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def record(
    minutes: float, metric: str, value: float, unit: str, animal: str = "a1", device: str = "dev-1"
) -> dict[str, object]:
    """One line of a recording, in the format of ``vigie simulate --out``."""
    when = (T0 + pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"time": when, "device_id": device, "animal_id": animal, "metric": metric, "value": value, "unit": unit}
