"""Analytics: glucose curves, CGM metrics, intake baselines, lactation curves - pure functions over numpy/pandas.

Everything here is pure (no I/O) except :mod:`analytics._load`, which reads a window of readings from the database
or a JSONL recording into a *readings frame* (columns ``time``, ``device_id``, ``animal_id``, ``metric``, ``value``
in canonical units). Glucose is in mg/dL internally; reports convert to mmol/L or g/L.

Importing the package is cheap: the names below load their module (numpy, pandas, scipy) on first use, so that
``vigie --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics._artefacts import CompressionRule, compression_lows
    from analytics._baseline import rolling_baseline
    from analytics._cgm import SPECIES_RANGES, CgmSummary, GlucoseRange, cgm_summary, species_range
    from analytics._curve import CurveTargets, CycleAnalysis, analyse_cycles
    from analytics._dairy import cow_daily, daily_milk, lactation_points, milking_table
    from analytics._errors import AnalyticsError, NoDataError, RecordingError
    from analytics._intake import daily_intake, hourly_profile, meal_pattern
    from analytics._lactation import WoodFit, fit_wood, fit_wood_loglinear, wood, wood_residuals
    from analytics._load import load_readings, read_jsonl
    from analytics._spc import Cusum, Ewma, cusum, ewma
    from analytics._udder import change_vs_history, fat_protein_ratio, interquarter_ratio, quarter_conductivity

_LAZY: dict[str, str] = {
    "rolling_baseline": "analytics._baseline",
    "SPECIES_RANGES": "analytics._cgm",
    "CgmSummary": "analytics._cgm",
    "GlucoseRange": "analytics._cgm",
    "cgm_summary": "analytics._cgm",
    "species_range": "analytics._cgm",
    "CurveTargets": "analytics._curve",
    "CycleAnalysis": "analytics._curve",
    "analyse_cycles": "analytics._curve",
    "CompressionRule": "analytics._artefacts",
    "compression_lows": "analytics._artefacts",
    "cow_daily": "analytics._dairy",
    "daily_milk": "analytics._dairy",
    "lactation_points": "analytics._dairy",
    "milking_table": "analytics._dairy",
    "AnalyticsError": "analytics._errors",
    "NoDataError": "analytics._errors",
    "RecordingError": "analytics._errors",
    "daily_intake": "analytics._intake",
    "hourly_profile": "analytics._intake",
    "meal_pattern": "analytics._intake",
    "WoodFit": "analytics._lactation",
    "fit_wood": "analytics._lactation",
    "fit_wood_loglinear": "analytics._lactation",
    "wood": "analytics._lactation",
    "wood_residuals": "analytics._lactation",
    "load_readings": "analytics._load",
    "read_jsonl": "analytics._load",
    "Cusum": "analytics._spc",
    "Ewma": "analytics._spc",
    "cusum": "analytics._spc",
    "ewma": "analytics._spc",
    "change_vs_history": "analytics._udder",
    "fat_protein_ratio": "analytics._udder",
    "interquarter_ratio": "analytics._udder",
    "quarter_conductivity": "analytics._udder",
}

__all__ = [
    "SPECIES_RANGES",
    "AnalyticsError",
    "CgmSummary",
    "CompressionRule",
    "CurveTargets",
    "Cusum",
    "CycleAnalysis",
    "Ewma",
    "GlucoseRange",
    "NoDataError",
    "RecordingError",
    "WoodFit",
    "analyse_cycles",
    "cgm_summary",
    "change_vs_history",
    "compression_lows",
    "cow_daily",
    "cusum",
    "daily_intake",
    "daily_milk",
    "ewma",
    "fat_protein_ratio",
    "fit_wood",
    "fit_wood_loglinear",
    "hourly_profile",
    "interquarter_ratio",
    "lactation_points",
    "load_readings",
    "meal_pattern",
    "milking_table",
    "quarter_conductivity",
    "read_jsonl",
    "rolling_baseline",
    "species_range",
    "wood",
    "wood_residuals",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'analytics' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
