"""Reports the commands print: plain dicts (for ``--json``) and their text rendering. No I/O."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analytics._cgm import GlucoseRange, cgm_summary
from analytics._curve import CurveTargets, analyse_cycles
from analytics._dairy import daily_milk, lactation_points, milking_table
from analytics._errors import NoDataError
from analytics._lactation import fit_wood
from analytics._series import clean_series, metric_series

SUMMARY_KEYS = ("mean", "sd", "cv", "pct_in_range", "pct_below", "pct_above", "coverage")


def glucose_report(
    readings: pd.DataFrame,
    target: GlucoseRange,
    *,
    unit: str = "mg/dL",
    interval_min: float | None = None,
    curve: CurveTargets | None = None,
) -> dict[str, Any]:
    """CGM summary and per-cycle curve analysis of a readings frame (glucose mg/dL, insulin_dose U)."""
    glucose = metric_series(readings, "glucose")
    if clean_series(glucose).empty:
        raise NoDataError("no glucose reading")
    summary = cgm_summary(glucose, target, interval_min=interval_min)
    cycles = analyse_cycles(glucose, metric_series(readings, "insulin_dose"), curve or CurveTargets())
    return {**summary.to_dict(unit), "cycles": [c.to_dict(unit) for c in cycles]}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_glucose(report: dict[str, Any], animal: str) -> str:
    """The glucose report as text."""
    unit = report["unit"]
    g = 2 if unit == "mmol/L" else 3 if unit == "g/L" else 0
    lines = [
        f"animal {animal}: {report['n']} glucose readings, {report['start']} to {report['end']}",
        f"  mean {_fmt(report['mean'], g)} {unit}   SD {_fmt(report['sd'], g)} {unit}   CV {_fmt(report['cv'])} %",
        (
            f"  in range {_fmt(report['low'], g)}-{_fmt(report['high'], g)} {unit}: {_fmt(report['pct_in_range'])} % of"
            f" readings, {_fmt(report['time_in_range'])} % of time"
        ),
        (
            f"  below: {_fmt(report['pct_below'])} % of readings ({_fmt(report['time_below'])} % of time)   "
            f"above: {_fmt(report['pct_above'])} % ({_fmt(report['time_above'])} % of time)"
        ),
        f"  coverage {_fmt(report['coverage'])} % (sampling every {_fmt(report['interval_min'])} min)",
    ]
    cycles = report["cycles"]
    if not cycles:
        lines.append("  no insulin injection recorded: no curve analysis")
        return "\n".join(lines)
    lines.append(
        f"  {'injection':<25} {'dose':>5} {'pre':>7} {'nadir':>7} {'at h':>5} {'peak':>7} {'effect h':>8}  flags"
    )
    for c in cycles:
        effect = _fmt(c["duration_h"]) + ("+" if c["duration_censored"] else "")
        lines.append(
            f"  {c['injection']:<25} {_fmt(c['dose']):>5} {_fmt(c['pre_insulin'], g):>7} {_fmt(c['nadir'], g):>7}"
            f" {_fmt(c['time_to_nadir_h']):>5} {_fmt(c['peak'], g):>7} {effect:>8}  {', '.join(c['flags']) or '-'}"
        )
    return "\n".join(lines)


def lactation_report(readings: pd.DataFrame, *, calving: pd.Timestamp | None = None, tz: str = "UTC") -> dict[str, Any]:
    """Wood fit of a cow's 24-h-equivalent daily yields. Without ``calving`` the day before the first milking of the
    data is taken as the calving day (the first milking day is DIM 1)."""
    daily = daily_milk(milking_table(readings), tz=tz)
    day0 = calving if calving is not None else pd.Timestamp(daily.index[0]) - pd.Timedelta(days=1)
    dim, milk = lactation_points(daily, day0)
    fit = fit_wood(dim, milk)
    return {
        **fit.to_dict(),
        "calving": day0.date().isoformat(),
        "calving_assumed": calving is None,
        "days": int(dim.size),
        "first_dim": int(dim.min()),
        "last_dim": int(dim.max()),
    }


def render_lactation(report: dict[str, Any], animal: str) -> str:
    """The lactation report as text."""
    assumed = " (assumed: day before the first milking)" if report["calving_assumed"] else ""
    return "\n".join(
        [
            (
                f"cow {animal}: Wood fit on {report['days']} days (DIM {report['first_dim']}-{report['last_dim']}),"
                f" calving {report['calving']}{assumed}"
            ),
            f"  a {report['a']:.3f}   b {report['b']:.4f}   c {report['c']:.5f}   RMSE {report['rmse']:.2f} kg/day",
            f"  peak day {_fmt(report['peak_day'])}   peak yield {_fmt(report['peak_yield'], 2)} kg/day",
        ]
    )
