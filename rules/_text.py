"""Number formatting for explanations and drafts, in French and English, and glucose units."""

from __future__ import annotations

from datetime import datetime

GLUCOSE_FACTORS = {"mg/dL": 1.0, "mmol/L": 18.0, "g/L": 100.0}
_DECIMALS = {"mg/dL": 0, "mmol/L": 1, "g/L": 2}


def num(value: float, lang: str, decimals: int = 0) -> str:
    """``value`` with ``decimals`` decimals; French uses a decimal comma."""
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang == "fr" else text


def glucose(mg_dl: float, unit: str, lang: str) -> str:
    """A glucose value (mg/dL) in ``unit`` ("52 mg/dL", "2,9 mmol/L", "0,52 g/L")."""
    return f"{num(mg_dl / GLUCOSE_FACTORS[unit], lang, _DECIMALS[unit])} {unit}"


def glucose_both(mg_dl: float, lang: str) -> str:
    """A glucose value in mg/dL and mmol/L, for the vet ("52 mg/dL (2.9 mmol/L)")."""
    return f"{glucose(mg_dl, 'mg/dL', lang)} ({glucose(mg_dl, 'mmol/L', lang)})"


def when(t: datetime) -> str:
    """A compact UTC time ("2026-11-23 14:30 UTC")."""
    return t.strftime("%Y-%m-%d %H:%M UTC")
