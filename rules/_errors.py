"""Errors of the rules package.

RuleError
├── RuleConfigError   a rule file or an override is invalid (names the file or rule)
├── DraftError        a draft cannot be decided (unknown, already decided, empty edit...)
└── AlertError        an alert cannot be acknowledged or resolved (unknown or already resolved)
"""

from __future__ import annotations

from vigie.errors import VigieError


class RuleError(VigieError):
    """Base class of the rules package's errors."""


class RuleConfigError(RuleError):
    """A rule file or override is invalid."""


class DraftError(RuleError):
    """A draft cannot be decided."""


class AlertError(RuleError):
    """An alert cannot be changed."""
