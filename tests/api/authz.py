"""The authorization matrix: what each operation allows, and the world it is checked on.

Every ``tests/api/perm_*.py`` module defines ``EXPECTED: dict[tuple[str, str], Expect]``, keyed by (HTTP method in
upper case, path template exactly as in the OpenAPI document). ``tests/api/test_authz_matrix.py`` collects every
such module, and checks each operation of the app's OpenAPI document for every identity (anonymous, admin, and the
vet, staff, owner and device accounts of clinic A) on objects of three scopes:

- ``own``: an object of clinic A belonging to the owner account's owner (``mx-owner-a``: the cat ``mx-cat-a``...);
- ``sibling``: the same kind of object of clinic A, belonging to another owner (``mx-owner2-a``, ``mx-cat2-a``...);
- ``foreign``: the owner's counterpart in clinic B (``mx-owner-b``, ``mx-cat-b``...).

The expected status of a call is derived from the ``Expect`` alone (see :func:`expected`): 401 without a token
(unless ``public``), 403 for a role not in ``roles`` (whatever the object: the answer says nothing about it), the
``ok`` status for an admin, 404 for an object of another clinic, 404 for an owner on another owner's object (unless
``owner="clinic"``), else ``ok``.

Path parameters name a *kind* of object of the world (``MatrixWorld.objects``): ``clinic``, ``owner``, ``farm``,
``animal``, ``cow``, ``device``, ``robot``, ``alert``, ``draft`` (pending), ``message`` (an approved draft),
``user``; or a literal value written ``"=value"`` (a rule id, say). A ``body`` or ``query`` is a value or a function
of the case's objects (a mapping kind → id), so that a create can refer to an object of the scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Objects = Mapping[str, str | int]
IDENTITIES = ("anonymous", "admin", "vet", "staff", "owner", "device")
SCOPES = ("own", "sibling", "foreign")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Expect:
    """What one operation allows.

    - ``roles``: the roles that may do it on objects of their own clinic (others get 403);
    - ``ok``: the status of an allowed call (200, 201, 204...);
    - ``params``: path parameter → kind of world object, or ``"=literal"``;
    - ``owner``: ``"own"`` (an owner may act on their own objects only: another owner's is 404) or ``"clinic"``;
    - ``body``, ``query``: the request's JSON body and query string, each a value or a function of the objects;
    - ``public``: no authentication (every identity, anonymous included, gets ``ok``);
    - ``scoped``: whether the own / sibling / foreign scope changes the answer; by default when the operation has
      path parameters naming objects, or a body or query computed from the objects.
    """

    roles: frozenset[str]
    ok: int = 200
    params: Mapping[str, str] = field(default_factory=dict)
    owner: Literal["own", "clinic"] = "own"
    body: Callable[[Objects], Any] | Any = None
    query: Callable[[Objects], Mapping[str, Any]] | Mapping[str, Any] = field(default_factory=dict)
    public: bool = False
    scoped: bool | None = None

    @property
    def is_scoped(self) -> bool:
        """Whether the operation is checked on objects of each scope (else once)."""
        if self.scoped is not None:
            return self.scoped
        kinds = any(not kind.startswith("=") for kind in self.params.values())
        return kinds or callable(self.body) or callable(self.query)


def expected(e: Expect, identity: str, scope: str) -> int:
    """The status ``identity`` must get from an operation on an object of ``scope``."""
    if e.public:
        return e.ok
    if identity == "anonymous":
        return 401
    if identity not in e.roles:
        return 403
    if identity == "admin" or not e.is_scoped:
        return e.ok
    if scope == "foreign":
        return 404
    if identity == "owner" and scope == "sibling" and e.owner == "own":
        return 404
    return e.ok


ALL_ROLES = frozenset({"admin", "vet", "staff", "owner", "device"})
READERS = frozenset({"admin", "vet", "staff"})
VETS = frozenset({"admin", "vet"})
ADMIN = frozenset({"admin"})
