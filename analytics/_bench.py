"""Benchmark of the analytics hot paths on synthetic data (generation is not timed).

- CGM: a year of 5-minute readings for one animal (105,120 points) with q12h injections: :func:`cgm_summary`, then
  :func:`analyse_cycles` (730 cycles). Target: summary < 1 s.
- Lactation: a 60-cow herd, one year of robot milkings each (~2.5 a day): per cow, milkings → daily 24-h yields →
  Wood fit. Target: < 5 s for the herd.
- Loading: the same CGM year written as a JSONL recording, read back with :func:`read_jsonl` (what
  ``vigie analyze glucose`` does before analysing).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from analytics._cgm import DEFAULT_RANGE, cgm_summary
from analytics._curve import CurveTargets, analyse_cycles
from analytics._dairy import daily_milk, lactation_points, milking_table
from analytics._lactation import fit_wood
from analytics._load import read_jsonl

START = pd.Timestamp("2026-01-01T00:00:00Z")


@dataclass(frozen=True, slots=True)
class BenchResult:
    """One timed step."""

    name: str
    size: int
    seconds: float
    target_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        ok = None if self.target_s is None else self.seconds < self.target_s
        return {"name": self.name, "size": self.size, "seconds": self.seconds, "target_s": self.target_s, "ok": ok}


def synthetic_cgm(days: int = 365, step_min: int = 5, seed: int = 1) -> tuple[pd.Series[float], pd.Series[float]]:
    """A diabetic dog's glucose (mg/dL) and its q12h injections: insulin-shaped dips around a 300 mg/dL baseline."""
    rng = np.random.default_rng(seed)
    n = days * 24 * 60 // step_min
    hours = np.arange(n) * step_min / 60.0
    since = hours % 12.0
    dip = 200.0 * (since / 5.0) * np.exp(1.0 - since / 5.0)
    # sensor noise: AR(1) with φ = 0.7 per 15 min (domain.md §7.1, simglucose), marginal SD 10 mg/dL
    phi = 0.7 ** (step_min / 15.0)
    noise = lfilter([1.0], [1.0, -phi], rng.normal(0.0, 10.0 * np.sqrt(1.0 - phi**2), n))
    values = np.clip(300.0 - dip + noise, 40.0, 600.0)
    index = START + pd.to_timedelta(hours, unit="h")
    injections = START + pd.to_timedelta(np.arange(0, days * 24, 12), unit="h")
    return (
        pd.Series(values, index=index, dtype="float64"),
        pd.Series(np.full(injections.size, 4.0), index=injections, dtype="float64"),
    )


def synthetic_herd(cows: int = 60, days: int = 365, seed: int = 2) -> list[pd.DataFrame]:
    """Readings frames of ``cows`` cows (milk_yield and milking_interval per milking, ~2.5 milkings a day)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(cows):
        a, b, c = 22.3 * rng.normal(1.0, 0.12), 0.20 * rng.normal(1.0, 0.1), 0.004 * rng.normal(1.0, 0.1)
        intervals = rng.uniform(6.0, 13.0, int(days * 24 / 6))
        t_h = np.cumsum(intervals)
        t_h = t_h[t_h < days * 24]
        gaps = np.diff(np.concatenate(([0.0], t_h)))
        dim = t_h / 24.0 + 0.5
        rate = a * dim**b * np.exp(-c * dim) / 24.0
        milk = rate * gaps * rng.normal(1.0, 0.06, t_h.size)
        times = START + pd.to_timedelta(t_h, unit="h")
        frames.append(
            pd.DataFrame(
                {
                    "time": np.concatenate([times, times]),
                    "metric": ["milk_yield"] * t_h.size + ["milking_interval"] * t_h.size,
                    "value": np.concatenate([milk, gaps]),
                }
            )
        )
    return frames


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _write_recording(path: Path, glucose: pd.Series[float]) -> None:
    stamps = pd.DatetimeIndex(glucose.index).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with path.open("w", encoding="utf-8") as out:
        for when, value in zip(stamps, glucose.to_numpy(), strict=True):
            out.write(
                f'{{"time": "{when}", "device_id": "cgm-1", "animal_id": "rex", "metric": "glucose", '
                f'"value": {value:.1f}, "unit": "mg/dL"}}\n'
            )


def _herd_fits(frames: list[pd.DataFrame]) -> int:
    fitted = 0
    for frame in frames:
        daily = daily_milk(milking_table(frame))
        dim, milk = lactation_points(daily, pd.Timestamp(daily.index[0]) - pd.Timedelta(days=1))
        fit_wood(dim, milk)
        fitted += 1
    return fitted


def run_bench(cows: int = 60, days: int = 365) -> list[BenchResult]:
    """Time the CGM summary, the cycle analysis and the herd's lactation fits."""
    glucose, injections = synthetic_cgm(days)
    frames = synthetic_herd(cows, days)
    _, t_summary = _timed(cgm_summary, glucose, DEFAULT_RANGE)
    cycles, t_cycles = _timed(analyse_cycles, glucose, injections, CurveTargets())
    _, t_herd = _timed(_herd_fits, frames)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cgm.jsonl"
        _write_recording(path, glucose)
        _, t_read = _timed(read_jsonl, path)
    milkings = sum(int((f["metric"] == "milk_yield").sum()) for f in frames)
    return [
        BenchResult("cgm_summary (1 animal, 1 year, 5 min)", int(glucose.size), t_summary, 1.0),
        BenchResult("curve analysis per insulin cycle", len(cycles), t_cycles, None),
        BenchResult("read_jsonl (the same year as a recording)", int(glucose.size), t_read, None),
        BenchResult(f"lactation fits ({cows} cows, 1 year of milkings)", milkings, t_herd, 5.0),
    ]


def render_bench(results: list[BenchResult]) -> str:
    """The results as a table."""
    lines = [f"{'step':<48} {'points':>8} {'seconds':>9} {'target':>8}  ok"]
    for r in results:
        target = "-" if r.target_s is None else f"< {r.target_s:g}"
        ok = "-" if r.target_s is None else ("yes" if r.seconds < r.target_s else "NO")
        lines.append(f"{r.name:<48} {r.size:>8} {r.seconds:>9.3f} {target:>8}  {ok}")
    return "\n".join(lines)
