"""Register a scenario's clinics, owners, animals and devices (skipping those that already exist)."""

from __future__ import annotations

import psycopg

from simulators._dairy import calving_dates
from simulators._fleet import Fleet
from vigie import registry

Conn = psycopg.Connection[tuple[object, ...]]
_EXISTS = {
    "clinics": "SELECT 1 FROM clinics WHERE id = %s",
    "owners": "SELECT 1 FROM owners WHERE id = %s",
    "animals": "SELECT 1 FROM animals WHERE id = %s",
    "devices": "SELECT 1 FROM devices WHERE id = %s",
}


def _exists(conn: Conn, table: str, id_: str) -> bool:
    return conn.execute(_EXISTS[table], (id_,)).fetchone() is not None


def register_fleet(conn: Conn, fleet: Fleet) -> dict[str, int]:
    """Add what is missing, in one transaction; return how many of each were added and skipped."""
    s = fleet.scenario
    counts = {"added": 0, "skipped": 0}

    def count(added: bool) -> None:
        counts["added" if added else "skipped"] += 1

    with conn.transaction():
        for c in s.clinics:
            new = not _exists(conn, "clinics", c.id)
            if new:
                registry.add_clinic(conn, c.id, name=c.name, language=c.language)
            count(new)
        for o in s.owners:
            new = not _exists(conn, "owners", o.id)
            if new:
                registry.add_owner(conn, o.id, clinic=o.clinic, name=o.name, kind=o.kind)
            count(new)
        calving = calving_dates(fleet)
        for a in s.animals:
            new = not _exists(conn, "animals", a.id)
            if not new and a.id in calving:  # a cow registered before calving dates were: fill hers in
                conn.execute(
                    "UPDATE animals SET calving_date = %s WHERE id = %s AND calving_date IS NULL AND species = 'cow'",
                    (calving[a.id], a.id),
                )
            if new:
                registry.add_animal(
                    conn,
                    a.id,
                    species=a.species,
                    clinic=a.clinic,
                    name=a.name,
                    owner=a.owner,
                    weight_kg=fleet.weights[a.id],
                    calving_date=calving.get(a.id),
                )
            count(new)
        for d in s.devices:
            new = not _exists(conn, "devices", d.id)
            if new:
                if d.bound:
                    registry.add_device(conn, d.id, kind=d.kind, animal=d.animal)
                else:
                    registry.add_device(conn, d.id, kind=d.kind, clinic=d.clinic)
            count(new)
    return counts
