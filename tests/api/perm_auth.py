"""Expectations of the authentication routes (``/api/v1/auth``) for the authorization matrix (tests/api/authz.py)."""

from __future__ import annotations

from tests.api.authz import ALL_ROLES, Expect

LOGIN = {"username": "mx-vet-a", "password": "matrix password 1"}

EXPECTED: dict[tuple[str, str], Expect] = {
    # public: the token of the request (if any) plays no part; the matrix world's vet has a password
    ("POST", "/api/v1/auth/login"): Expect(roles=ALL_ROLES, public=True, body=LOGIN),
    # every account may revoke the token it calls with (a device too: giving up its own token is harmless)
    ("POST", "/api/v1/auth/logout"): Expect(roles=ALL_ROLES, ok=204),
    ("GET", "/api/v1/auth/me"): Expect(roles=ALL_ROLES),
}
