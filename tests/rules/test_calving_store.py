"""The rules service reads a cow's calving date from the registry (so the live path uses the Wood forecast)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest

from rules._store import load_animals
from vigie import registry
from vigie.errors import RegistryError

pytestmark = pytest.mark.db


def test_the_calving_date_reaches_the_animal_context(db: psycopg.Connection[Any]) -> None:
    registry.add_clinic(db, "farm")
    registry.add_animal(db, "cow-1", species="cow", clinic="farm", calving_date=date(2026, 9, 30))
    registry.add_animal(db, "cow-2", species="cow", clinic="farm")
    ctx = {row.context.animal_id: row.context for row in load_animals(db)}
    assert ctx["cow-1"].calving == datetime(2026, 9, 30, tzinfo=UTC)
    assert ctx["cow-2"].calving is None
    registry.set_calving(db, "cow-2", date(2026, 10, 2))
    assert load_animals(db, ["cow-2"])[0].context.calving == datetime(2026, 10, 2, tzinfo=UTC)


def test_only_cows_calve_in_the_registry_and_the_schema(db: psycopg.Connection[Any]) -> None:
    registry.add_clinic(db, "farm")
    registry.add_animal(db, "rex", species="dog", clinic="farm")
    with pytest.raises(RegistryError, match="for cows"):
        registry.set_calving(db, "rex", date(2026, 1, 1))
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("UPDATE animals SET calving_date = '2026-01-01' WHERE id = 'rex'")
