"""The registry commands, through the real `vigie` entry point and the real database."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

pytestmark = pytest.mark.db
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def vigie(run_cli: Run, db_dsn: str) -> Run:
    def run(*args: str) -> tuple[int, str, str]:
        return run_cli(*args, env={"VIGIE_DATABASE_URL": db_dsn})

    return run


def one_line_error(code: int, err: str, expected_code: int = 1) -> str:
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vigie: error: ")
    return lines[0]


def test_registry_happy_path(vigie: Run) -> None:
    assert vigie("clinics", "add", "vet-lyon", "--name", "Clinique de Lyon")[0] == 0
    assert vigie("owners", "add", "dupont", "--clinic", "vet-lyon", "--email", "d@example.org")[0] == 0
    assert (
        vigie(
            "animals",
            "add",
            "rex",
            "--species",
            "dog",
            "--clinic",
            "vet-lyon",
            "--owner",
            "dupont",
            "--weight",
            "12.5",
            "--birth-date",
            "2019-04-01",
        )[0]
        == 0
    )
    assert vigie("devices", "add", "cgm-rex", "--kind", "cgm", "--animal", "rex")[0] == 0
    assert vigie("devices", "add", "robot-1", "--kind", "milking", "--clinic", "vet-lyon")[0] == 0
    code, out, _ = vigie("devices", "list", "--json")
    assert code == 0
    devices = {d["id"]: d for d in json.loads(out)}
    assert devices["cgm-rex"]["animal_id"] == "rex"
    assert devices["cgm-rex"]["clinic_id"] == "vet-lyon"
    assert devices["robot-1"]["animal_id"] is None
    assert vigie("devices", "disable", "cgm-rex")[0] == 0
    code, out, _ = vigie("devices", "list")
    assert code == 0
    assert "cgm-rex" in out
    assert "(many)" in out
    assert json.loads(vigie("devices", "list", "--json")[1])[0]["enabled"] is False


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("animals", "add", "rex", "--species", "fish", "--clinic", "vet-lyon"), "Invalid value for '--species'", 2),
        (("animals", "add", "rex", "--species", "dog", "--clinic", "nowhere"), "unknown clinic 'nowhere'", 1),
        (("animals", "add", "dup", "--species", "dog", "--clinic", "vet-lyon"), "animal 'dup' already exists", 1),
        (("animals", "add", "x", "--species", "dog", "--clinic", "vet-lyon", "--weight", "-3"), "not plausible", 1),
        (
            ("animals", "add", "x", "--species", "dog", "--clinic", "vet-lyon", "--birth-date", "1er mai"),
            "is not a date",
            2,
        ),
        (
            ("animals", "add", "x", "--species", "dog", "--clinic", "vet-lyon", "--owner", "ghost"),
            "unknown owner 'ghost'",
            1,
        ),
        (
            ("animals", "add", "x", "--species", "dog", "--clinic", "vet-lyon", "--owner", "other-owner"),
            "another clinic",
            1,
        ),
        (("animals", "add", "bad id", "--species", "dog", "--clinic", "vet-lyon"), "invalid animal id", 1),
        (("clinics", "add", "vet-lyon"), "clinic 'vet-lyon' already exists", 1),
        (("clinics", "add", "a/b"), "invalid clinic id", 1),
        (("clinics", "add", "c2", "--language", "de"), "Invalid value for '--language'", 2),
        (("owners", "add", "o", "--clinic", "nowhere"), "unknown clinic 'nowhere'", 1),
        (("owners", "add", "other-owner", "--clinic", "vet-lyon"), "owner 'other-owner' already exists", 1),
        (("devices", "add", "d1", "--kind", "toaster", "--animal", "dup"), "Invalid value for '--kind'", 2),
        (("devices", "add", "d1", "--kind", "cgm"), "give either --animal", 1),
        (
            ("devices", "add", "d1", "--kind", "cgm", "--animal", "dup", "--clinic", "vet-lyon"),
            "give either --animal",
            1,
        ),
        (("devices", "add", "d1", "--kind", "cgm", "--animal", "ghost"), "unknown animal 'ghost'", 1),
        (("devices", "add", "d1", "--kind", "cgm", "--clinic", "nowhere"), "unknown clinic 'nowhere'", 1),
        (("devices", "add", "dev-1", "--kind", "cgm", "--animal", "dup"), "device 'dev-1' already exists", 1),
        (("devices", "add", "a+b", "--kind", "cgm", "--animal", "dup"), "invalid device id", 1),
        (("devices", "disable", "ghost"), "unknown device 'ghost'", 1),
        (("devices", "add"), "Missing argument", 2),
        (("devices", "frobnicate"), "No such command", 2),
        (("--bogus",), "No such option: --bogus", 2),
    ],
)
def test_bad_input_gets_one_line_and_a_nonzero_exit(vigie: Run, args: tuple[str, ...], message: str, code: int) -> None:
    assert vigie("clinics", "add", "vet-lyon")[0] == 0
    assert vigie("clinics", "add", "other")[0] == 0
    assert vigie("owners", "add", "other-owner", "--clinic", "other")[0] == 0
    assert vigie("animals", "add", "dup", "--species", "dog", "--clinic", "vet-lyon")[0] == 0
    assert vigie("devices", "add", "dev-1", "--kind", "cgm", "--animal", "dup")[0] == 0
    rc, _, err = vigie(*args)
    line = one_line_error(rc, err, code)
    assert message in line


def test_unreachable_database_is_one_line(run_cli: Run) -> None:
    rc, _, err = run_cli("devices", "list", env={"VIGIE_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"})
    assert "cannot connect to the database" in one_line_error(rc, err)


def test_bad_setting_is_one_line(run_cli: Run) -> None:
    rc, _, err = run_cli("devices", "list", env={"VIGIE_MQTT_URL": "http://nope"})
    assert "VIGIE_MQTT_URL" in one_line_error(rc, err, 2)


def test_db_migrate_and_status(vigie: Run) -> None:
    code, out, _ = vigie("db", "migrate")
    assert code == 0
    assert "schema is up to date" in out
    assert "timescaledb license: apache" in out
    code, out, _ = vigie("db", "status", "--json")
    assert code == 0
    rows = json.loads(out)
    assert rows
    assert all(r["applied_at"] and not r["modified"] for r in rows)
    code, out, _ = vigie("db", "maintain", "--json")
    assert code == 0
    assert json.loads(out) == {"hours_refreshed": 0, "days_refreshed": 0, "chunks_dropped": 0}


def test_help_reads_well(run_cli: Run) -> None:
    code, out, _ = run_cli("--help")
    assert code == 0
    for command in ("db", "clinics", "animals", "devices", "ingest", "up", "bench"):
        assert command in out


def test_a_cow_s_calving_date(vigie: Run, db_dsn: str) -> None:
    import psycopg

    assert vigie("clinics", "add", "farm-vet")[0] == 0
    assert (
        vigie("animals", "add", "cow-1", "--species", "cow", "--clinic", "farm-vet", "--calving-date", "2026-09-30")[0]
        == 0
    )
    assert vigie("animals", "add", "cow-2", "--species", "cow", "--clinic", "farm-vet")[0] == 0
    code, out, err = vigie("animals", "calving", "cow-2", "2026-10-15")
    assert code == 0, err
    assert "2026-10-15" in out
    with psycopg.connect(db_dsn) as conn:
        rows = dict(conn.execute("SELECT id, calving_date::text FROM animals WHERE id LIKE 'cow-%'").fetchall())
    assert rows == {"cow-1": "2026-09-30", "cow-2": "2026-10-15"}
    assert vigie("animals", "calving", "cow-2", "--unknown")[0] == 0
    with psycopg.connect(db_dsn) as conn:
        row = conn.execute("SELECT calving_date FROM animals WHERE id = 'cow-2'").fetchone()
    assert row == (None,)


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ("animals", "add", "d", "--species", "dog", "--clinic", "farm-vet", "--calving-date", "2026-01-01"),
            "for cows",
            1,
        ),
        (("animals", "calving", "cow-1", "2999-01-01"), "not plausible", 1),
        (("animals", "calving", "cow-1", "30/09/2026"), "is not a date", 2),
        (("animals", "calving", "cow-1"), "give a date", 2),
        (("animals", "calving", "ghost", "2026-01-01"), "unknown animal 'ghost'", 1),
    ],
)
def test_bad_calving_dates_get_one_line(vigie: Run, args: tuple[str, ...], message: str, code: int) -> None:
    assert vigie("clinics", "add", "farm-vet")[0] == 0
    assert vigie("animals", "add", "cow-1", "--species", "cow", "--clinic", "farm-vet")[0] == 0
    rc, _, err = vigie(*args)
    assert message in one_line_error(rc, err, code)
