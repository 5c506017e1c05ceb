"""Presenting glucose in the unit a vet reads: mg/dL (internal), mmol/L (÷ 18.0) or g/L (÷ 100)."""

from __future__ import annotations

from vigie.catalog import GLUCOSE_UNITS, convert_glucose

__all__ = ["GLUCOSE_UNITS", "to_glucose_unit"]


def to_glucose_unit(value_mg_dl: float, unit: str) -> float:
    """``value_mg_dl`` expressed in ``unit``, rounded to the precision that unit is read at."""
    digits = {"mg/dL": 1, "mmol/L": 2, "g/L": 3}.get(unit, 6)
    return round(convert_glucose(value_mg_dl, unit), digits)
