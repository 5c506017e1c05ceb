"""The CGM simulator's glucose model: insulin profiles, the insulin-action and meal curves, the sensor's constants.

Split out of :mod:`simulators._cgm` (the simulator itself: per-animal set-up, truth, sensor, uploads) to keep each
module single-purpose; the sources of every number are in the comments and in docs/simulators.md.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulators._time import DAY_S, HOUR_S, MINUTE_S

F64 = NDArray[np.float64]

# time to nadir and duration of effect of one injection, hours (AAHA table, domain.md §1.4) [S]; medians where a
# range is given [D]. Each injection's action is a gamma curve; a q12h day is the sum of the overlapping doses.
INSULIN_PROFILE: dict[tuple[str, str], tuple[float, float]] = {
    ("lente", "dog"): (5.0, 14.0),
    ("lente", "cat"): (5.0, 11.0),
    ("nph", "dog"): (4.0, 8.0),
    ("nph", "cat"): (3.0, 6.0),
    ("glargine", "dog"): (8.0, 16.0),
    # Glargine in cats [D]: AAHA's nadir 12-14 h and duration 12-24 h [S], taken as the action of one injection and
    # summed every 12 h, a 13-h nadir falls 1 h after the *next* injection: the simulated curve was lowest
    # right after each injection and highest mid-interval, and calibrating a drawn pre-insulin value above its nadir
    # on it needed an amplitude of ~4,500 mg/dL (true glucose clipped at 750 most of the time). Diabetic cats on
    # glargine q12h are curved from the pre-insulin sample over the 12-h interval (0/4/8/12 h, Marshall, The Cat
    # Clinic, domain §1.5 [S]) and the previous dose still acts at the next one (Rand WSAVA 2017 p. 210, domain §9 [S]).
    # So: the nadir 6 h after the injection (the middle of the 0-12 h curve) [D], and the action lasting 18 h [S, in
    # AAHA's 12-24 h], which makes it broad (shape k ≈ 1.8, the flattest of the table): 58 % of one dose's peak
    # action is left at the next injection. tests/simulators/test_cgm_curves.py checks the resulting curves.
    ("glargine", "cat"): (6.0, 18.0),
    ("pzi", "dog"): (10.0, 18.0),
    ("pzi", "cat"): (6.0, 14.0),
    ("detemir", "dog"): (6.0, 14.0),
    ("detemir", "cat"): (6.0, 14.0),
}
DEFAULT_INSULIN = {"dog": "lente", "cat": "glargine"}
DEFAULT_DOSE_U_KG = {"dog": 0.5, "cat": 0.3}  # AAHA starting doses, most dogs ~0.5 U/kg q12h [S]
SENSOR_LOW, SENSOR_HIGH = 40.0, 500.0  # Libre 14-day LO/HI [U]
# the glucose a calibrated animal would have without insulin (baseline Gb) stays at most this [D]: cats' stress
# hyperglycaemia reaches ~613 mg/dL (domain §1.2 [S]) and an untreated diabetic sits around the 350-450 pre-insulin
# of poor control and above; a profile whose calibration needs more gets a shallower curve (nadir above the drawn one)
MAX_BASELINE = 600.0
TRUE_CAP = 750.0  # the true glucose is clipped here (a glucometer's HI is ~600-750) [U]
SCAN_BUFFER_S = 8 * HOUR_S  # Libre 14-day keeps 8 h [S]
# a true hypoglycaemia, labelled even when no recipe made it: blood glucose < 60 mg/dL for ≥ 15 min (domain §6.1) [S]
TRUE_LOW, TRUE_LOW_MIN_S = 60.0, 15 * MINUTE_S
WARMUP_S = HOUR_S  # [S]
MAX_LIFE_S = 14 * DAY_S  # [S]
# simglucose / Breton-Kovatchev noise (human) [S]: AR(1) φ per 15 min, Johnson SU
PHI_15MIN = 0.7
JSU_GAMMA, JSU_LAMBDA, JSU_DELTA, JSU_XI = -0.5444, 15.9574, 1.6898, -5.47


def jsu_sd() -> float:
    """Standard deviation (mg/dL) of the Johnson-SU sensor noise."""
    w = np.exp(JSU_DELTA**-2)
    var = JSU_LAMBDA**2 / 2 * (w - 1) * (w * np.cosh(2 * JSU_GAMMA / JSU_DELTA) + 1)
    return float(np.sqrt(var))


def gamma_k(time_to_nadir_h: float, duration_h: float) -> float:
    """Shape k of E(τ) = (τ/Tn)^k·e^{k(1-τ/Tn)} such that E falls to 0.2 at the end of the duration."""
    x = duration_h / time_to_nadir_h
    return float(np.log(0.2) / (np.log(x) + 1 - x))


def insulin_effect(tau_h: F64, tn_h: float, k: float) -> F64:
    """Gamma-shaped insulin action, peak 1 at ``tn_h`` hours after the injection, 0 before it."""
    x = np.clip(tau_h, 0.0, None) / tn_h
    with np.errstate(divide="ignore"):
        out = np.exp(k * (np.log(x, where=x > 0, out=np.full_like(x, -np.inf)) + 1 - x))
    return np.where(tau_h > 0, out, 0.0)


def meal_effect(tau_h: F64, delay_h: float, peak_h: float) -> F64:
    """Meal glucose bump: starts after ``delay_h``, peak 1 at ``peak_h`` hours, then decays."""
    x = np.clip((tau_h - delay_h) / (peak_h - delay_h), 0.0, None)
    return np.where(tau_h > delay_h, x**2 * np.exp(2 * (1 - x)), 0.0)
