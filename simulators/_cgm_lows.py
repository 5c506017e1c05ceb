"""The pace of an injected hypoglycaemia: how fast the true blood glucose may fall to the recipe's nadir.

The ``hypoglycaemia`` recipe blends the true glucose to its nadir. It used to do so in a fixed 30 min whatever the
glucose it started from: a poorly controlled cat at 450 mg/dL then fell ~13 mg/dL/min, which no subcutaneous insulin
does and which the rules rightly read as a sensor jump. The fall now takes at least 30 min and at most
``MAX_FALL_RATE`` mg/dL per minute; the time at the nadir and the 45-min recovery are kept, so a longer fall ends the
anomaly (and its label) later by the same amount. The fall's length is written in the label (``fall_min``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from simulators._anomalies import Anomaly
from simulators._time import MINUTE_S

# The steepest fall of blood glucose an injected low makes, mg/dL per minute [U]. Domain §6.1 [S, human] reads a
# sensor fall faster than 2 mg/dL/min as a possible compression artefact; CGM trend arrows put "falling very fast" at
# more than 3 mg/dL/min (human CGMs [U]). 4 mg/dL/min is a fast insulin-driven fall, still one a sensor follows (a 10-min
# lag, §7.1), and slower than the sensor's compression dips (30-60 % in 10-20 min, §7.1).
MAX_FALL_RATE = 4.0
MIN_FALL_S = 30 * MINUTE_S  # the recipe's ramp towards the nadir (docs/simulators.md) [D]


def fall_seconds(start_glucose: float, nadir: float, rate: float = MAX_FALL_RATE) -> float:
    """Length of the fall from ``start_glucose`` to ``nadir``: 30 min, or longer when that would exceed ``rate``."""
    return max(MIN_FALL_S, (start_glucose - nadir) / rate * MINUTE_S)


def paced(anomalies: list[Anomaly], glucose_at: Callable[[Anomaly], float | None]) -> list[Anomaly]:
    """The anomalies with each injected hypoglycaemia's fall length (``fall_min``) set and its end moved by the fall's
    excess over 30 min. ``glucose_at`` gives the animal's true glucose at the anomaly's start (None: no CGM)."""
    out: list[Anomaly] = []
    for a in anomalies:
        if a.recipe != "hypoglycaemia":
            out.append(a)
            continue
        g0 = glucose_at(a)
        if g0 is None:
            out.append(a)
            continue
        fall = fall_seconds(g0, a.f("nadir"))
        params = {**a.params, "fall_min": round(fall / MINUTE_S, 1)}
        out.append(replace(a, end=a.end + (fall - MIN_FALL_S), params=params))
    return out
