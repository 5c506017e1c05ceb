"""The registry of clinics, owners, animals and devices (used by the CLI, the simulators and the tests).

Every function takes an open connection and commits nothing itself unless said; bad input raises
:class:`~vigie.errors.RegistryError` with a one-line message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import class_row

from vigie.errors import RegistryError

Conn = psycopg.Connection[tuple[object, ...]]
SPECIES = ("dog", "cat", "horse", "pony", "donkey", "cow")
DEVICE_KINDS = ("cgm", "feeder", "milking")
LANGUAGES = ("fr", "en")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
DeviceKind = Literal["cgm", "feeder", "milking"]


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device."""

    id: str
    kind: str
    clinic_id: str
    animal_id: str | None
    enabled: bool
    last_seen: datetime | None
    availability: str | None


def check_id(what: str, value: str) -> str:
    """``value`` if it is a valid id (letters, digits, ``_ . : -``, at most 64), else a RegistryError."""
    if not ID_RE.match(value):
        raise RegistryError(
            f"invalid {what} id {value!r}: use letters, digits and _ . : - (at most 64, no spaces, + # or /)"
        )
    return value


def _exists(conn: Conn, table: str, id_: str) -> tuple[object, ...] | None:
    queries = {
        "clinics": "SELECT id FROM clinics WHERE id = %s",
        "owners": "SELECT clinic_id FROM owners WHERE id = %s",
        "animals": "SELECT clinic_id, species FROM animals WHERE id = %s",
        "devices": "SELECT clinic_id FROM devices WHERE id = %s",
    }
    return conn.execute(queries[table], (id_,)).fetchone()


def add_clinic(conn: Conn, clinic_id: str, *, name: str | None = None, language: str = "fr") -> None:
    """Register a clinic."""
    check_id("clinic", clinic_id)
    if language not in LANGUAGES:
        raise RegistryError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    if _exists(conn, "clinics", clinic_id):
        raise RegistryError(f"clinic {clinic_id!r} already exists")
    conn.execute(
        "INSERT INTO clinics (id, name, language) VALUES (%s, %s, %s)", (clinic_id, name or clinic_id, language)
    )


def add_owner(
    conn: Conn,
    owner_id: str,
    *,
    clinic: str,
    name: str | None = None,
    kind: str = "owner",
    email: str | None = None,
    language: str | None = None,
) -> None:
    """Register an owner (or a farm) of a clinic."""
    check_id("owner", owner_id)
    if kind not in ("owner", "farm"):
        raise RegistryError(f"unknown owner kind {kind!r}: use owner or farm")
    if language is not None and language not in LANGUAGES:
        raise RegistryError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    if not _exists(conn, "clinics", clinic):
        raise RegistryError(f"unknown clinic {clinic!r}")
    if _exists(conn, "owners", owner_id):
        raise RegistryError(f"owner {owner_id!r} already exists")
    conn.execute(
        "INSERT INTO owners (id, clinic_id, kind, name, email, language) VALUES (%s, %s, %s, %s, %s, %s)",
        (owner_id, clinic, kind, name or owner_id, email, language),
    )


def add_animal(
    conn: Conn,
    animal_id: str,
    *,
    species: str,
    clinic: str,
    name: str | None = None,
    owner: str | None = None,
    birth_date: date | None = None,
    weight_kg: float | None = None,
    calving_date: date | None = None,
) -> None:
    """Register an animal of a clinic (``calving_date``: a cow's last calving, day 0 of her lactation)."""
    check_id("animal", animal_id)
    if species not in SPECIES:
        raise RegistryError(f"unknown species {species!r}: use one of {', '.join(SPECIES)}")
    if calving_date is not None:
        _check_calving(species, calving_date)
    if weight_kg is not None and not (0 < weight_kg < 2000):
        raise RegistryError(f"weight {weight_kg} kg is not plausible (0 < weight < 2000)")
    if not _exists(conn, "clinics", clinic):
        raise RegistryError(f"unknown clinic {clinic!r}")
    if owner is not None:
        row = _exists(conn, "owners", owner)
        if row is None:
            raise RegistryError(f"unknown owner {owner!r}")
        if row[0] != clinic:
            raise RegistryError(f"owner {owner!r} belongs to another clinic")
    if _exists(conn, "animals", animal_id):
        raise RegistryError(f"animal {animal_id!r} already exists")
    conn.execute(
        "INSERT INTO animals (id, clinic_id, owner_id, name, species, birth_date, weight_kg, calving_date)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (animal_id, clinic, owner, name or animal_id, species, birth_date, weight_kg, calving_date),
    )


def calving_plausible(calving_date: date) -> bool:
    """A calving date from 1990 to today (today anywhere on Earth: UTC + 1 day)."""
    return date(1990, 1, 1) <= calving_date <= datetime.now(UTC).date() + timedelta(days=1)


def _check_calving(species: str, calving_date: date) -> None:
    if species != "cow":
        raise RegistryError(f"a calving date is for cows, not a {species}")
    if not calving_plausible(calving_date):
        raise RegistryError(f"calving date {calving_date.isoformat()} is not plausible (1990 to today)")


def set_calving(conn: Conn, animal_id: str, calving_date: date | None) -> None:
    """Record a cow's last calving (None: unknown)."""
    row = _exists(conn, "animals", animal_id)
    if row is None:
        raise RegistryError(f"unknown animal {animal_id!r}")
    if calving_date is not None:
        _check_calving(str(row[1]), calving_date)
    conn.execute("UPDATE animals SET calving_date = %s WHERE id = %s", (calving_date, animal_id))


def add_device(conn: Conn, device_id: str, *, kind: str, animal: str | None = None, clinic: str | None = None) -> str:
    """Register a device bound to ``animal``, or serving many animals of ``clinic``; return its clinic."""
    check_id("device", device_id)
    if kind not in DEVICE_KINDS:
        raise RegistryError(f"unknown device kind {kind!r}: use one of {', '.join(DEVICE_KINDS)}")
    if (animal is None) == (clinic is None):
        raise RegistryError("give either --animal (a device on one animal) or --clinic (a device for many animals)")
    if animal is not None:
        row = _exists(conn, "animals", animal)
        if row is None:
            raise RegistryError(f"unknown animal {animal!r}")
        clinic_id = str(row[0])
    else:
        assert clinic is not None  # noqa: S101 - narrowed by the check above
        if not _exists(conn, "clinics", clinic):
            raise RegistryError(f"unknown clinic {clinic!r}")
        clinic_id = clinic
    if _exists(conn, "devices", device_id):
        raise RegistryError(f"device {device_id!r} already exists")
    try:
        conn.execute(
            "INSERT INTO devices (id, kind, clinic_id, animal_id) VALUES (%s, %s, %s, %s)",
            (device_id, kind, clinic_id, animal),
        )
    except pg_errors.UniqueViolation as exc:  # a concurrent registration won the race
        raise RegistryError(f"device {device_id!r} already exists") from exc
    return clinic_id


def set_device_enabled(conn: Conn, device_id: str, *, enabled: bool) -> None:
    """Enable or disable a device (a disabled device's telemetry is quarantined)."""
    cur = conn.execute("UPDATE devices SET enabled = %s WHERE id = %s", (enabled, device_id))
    if cur.rowcount == 0:
        raise RegistryError(f"unknown device {device_id!r}")


def list_devices(conn: Conn, *, clinic: str | None = None) -> list[Device]:
    """Registered devices, optionally of one clinic, by id."""
    with conn.cursor(row_factory=class_row(Device)) as cur:
        cur.execute(
            "SELECT id, kind, clinic_id, animal_id, enabled, last_seen, availability FROM devices"
            " WHERE %(clinic)s::text IS NULL OR clinic_id = %(clinic)s ORDER BY id",
            {"clinic": clinic},
        )
        return cur.fetchall()


def set_credentials_hash(conn: Conn, device_id: str, hashed: str | None) -> None:
    """Store the hash of the device's MQTT password (None revokes it); never the password itself."""
    cur = conn.execute("UPDATE devices SET credentials_hash = %s WHERE id = %s", (hashed, device_id))
    if cur.rowcount == 0:
        raise RegistryError(f"unknown device {device_id!r}")


def credential_hashes(conn: Conn) -> dict[str, str]:
    """Enabled devices that hold MQTT credentials: id → password hash."""
    rows = conn.execute(
        "SELECT id, credentials_hash FROM devices WHERE enabled AND credentials_hash IS NOT NULL ORDER BY id"
    ).fetchall()
    return {str(i): str(h) for i, h in rows}
