"""Errors of the analytics stage.

VigieError (vigie.errors)
└── AnalyticsError        analytics got input it cannot work with
    ├── NoDataError       no usable reading for the animal, metric or window asked for
    └── RecordingError    a JSONL recording is unreadable or malformed (file, line and reason in the message)
"""

from __future__ import annotations

from vigie.errors import VigieError


class AnalyticsError(VigieError):
    """Analytics got input it cannot work with; ``str(exc)`` is the one-line message."""


class NoDataError(AnalyticsError):
    """No usable reading for the animal, metric or window asked for."""


class RecordingError(AnalyticsError):
    """A JSONL recording is unreadable or malformed."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
