"""Time helpers: an injectable clock, durations ("90m", "1d12h"), moments ("end-40m"), RFC 3339 formatting."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

Clock = Callable[[], float]
"""Returns the current time in seconds since the Unix epoch (inject a fixed one in tests)."""

DAY_S = 86_400
HOUR_S = 3_600
MINUTE_S = 60
_UNIT_S = {"d": DAY_S, "h": HOUR_S, "m": MINUTE_S, "s": 1}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_MOMENT_RE = re.compile(r"^(start|end)\s*(?:([+-])\s*(.+))?$")


def system_clock() -> float:
    """The wall clock."""
    return time.time()


def fixed_clock(at: float) -> Clock:
    """A clock that always says ``at`` (tests)."""
    return lambda: at


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``"90m"``, ``"1d12h"``, ``"30s"`` or a bare number of seconds; ValueError otherwise."""
    text = text.strip().lower()
    if not text:
        raise ValueError("empty duration")
    try:
        value = float(text)
    except ValueError:
        pos = 0
        total = 0.0
        for match in _DURATION_RE.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNIT_S[match.group(2)]
            pos = match.end()
        if pos != len(text) or pos == 0:
            raise ValueError(f"{text!r} is not a duration (use e.g. 90m, 2h, 1d12h, 30s)") from None
        return total
    return value


def parse_moment(text: str, *, start: float, end: float) -> float:
    """A moment of the timeline: ``start``, ``end``, ``start+2d``, ``end-40m`` or an RFC 3339 time."""
    match = _MOMENT_RE.match(text.strip())
    if match:
        base = start if match.group(1) == "start" else end
        if match.group(2) is None:
            return base
        offset = parse_duration(match.group(3))
        return base + offset if match.group(2) == "+" else base - offset
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a moment (use start+2d, end-40m or an RFC 3339 time)") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.timestamp()


def rfc3339(seconds: NDArray[np.int64]) -> NDArray[np.str_]:
    """Epoch seconds as RFC 3339 UTC strings (``2026-11-23T08:05:00Z``), vectorised."""
    return np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s", timezone="UTC")


def rfc3339_one(seconds: float) -> str:
    """One epoch time as an RFC 3339 UTC string (whole seconds)."""
    return str(rfc3339(np.array([round(seconds)], dtype=np.int64))[0])
