"""Password hashing (scrypt, stdlib) and opaque tokens (random secret, stored as its SHA-256).

Pure functions, no I/O. The parameters follow OWASP's scrypt minimum (N=2^17, r=8, p=1); the hash string carries
them so that they can be raised later without invalidating stored hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

TOKEN_PREFIX = "vgt_"  # noqa: S105 - a public prefix, not a secret
_N, _R, _P = 2**17, 8, 1
_MAXMEM = 256 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` of a password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """True if ``password`` matches ``stored``; a missing or malformed hash never matches (same cost as a real one)."""
    try:
        scheme, n, r, p, salt, digest = (stored or "").split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)  # noqa: TRY301 - one path for every malformed hash
        params = (int(n), int(r), int(p))
        salt_b, digest_b = base64.b64decode(salt), base64.b64decode(digest)
    except ValueError:
        params, salt_b, digest_b = (_N, _R, _P), b"\0" * 16, b""
    got = hashlib.scrypt(
        password.encode(), salt=salt_b, n=params[0], r=params[1], p=params[2], maxmem=_MAXMEM, dklen=32
    )
    return bool(digest_b) and hmac.compare_digest(got, digest_b)


def new_token() -> str:
    """A new opaque token: a prefix (so that secret scanners recognise it) and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """What the database stores of a token."""
    return hashlib.sha256(token.encode()).digest()
