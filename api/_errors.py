"""Errors of the API stage.

ApiError                 base (a VigieError: the CLI prints it on one line)
└── AuthError            bad credentials, unknown or expired token
"""

from __future__ import annotations

from vigie.errors import VigieError


class ApiError(VigieError):
    """Base of the API's errors."""


class AuthError(ApiError):
    """Authentication failed: unknown user, wrong password, unknown, revoked or expired token."""
