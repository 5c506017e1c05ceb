"""The commands: vigie analyze glucose|lactation and vigie bench analytics."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from analytics import wood
from tests.analytics.helpers import record, write_jsonl
from tests.analytics.test_curve import HOURS, VALUES

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def glucose_file(tmp_path: Path) -> Path:
    rows = [record(h * 60, "glucose", float(v), "mg/dL", animal="rex") for h, v in zip(HOURS, VALUES, strict=True)]
    rows[5] = record(5 * 60, "glucose", VALUES[5] / 18.0, "mmol/L", animal="rex")  # a reading in mmol/L
    rows += [record(h * 60, "insulin_dose", 4.0, "U", animal="rex") for h in (0, 12, 24)]
    rows += [{**record(0, "insulin_type", 0, "", animal="rex"), "value": "lente", "unit": None}]  # as the simulator
    rows += [record(0, "glucose", 999.0, "mg/dL", animal="felix")]
    return write_jsonl(tmp_path / "rex.jsonl", rows)


def test_glucose_json(run_cli: Run, glucose_file: Path) -> None:
    code, out, err = run_cli("analyze", "glucose", str(glucose_file), "--animal", "rex", "--json")
    assert code == 0, err
    report = json.loads(out)
    for key in ("mean", "sd", "cv", "pct_in_range", "pct_below", "pct_above", "coverage"):
        assert isinstance(report[key], float), key
    assert report["n"] == 36
    assert report["mean"] == pytest.approx(round(sum(VALUES) / 36, 1))
    below = sum(v < 80 for v in VALUES)
    above = sum(v > 250 for v in VALUES)
    assert report["pct_below"] == pytest.approx(100 * below / 36)
    assert report["pct_above"] == pytest.approx(100 * above / 36)
    assert report["coverage"] == 100.0
    assert [c["nadir"] for c in report["cycles"]] == [120, 60, 50]
    assert "somogyi_rebound" in report["cycles"][2]["flags"]


def test_glucose_units_and_range_in_that_unit(run_cli: Run, glucose_file: Path) -> None:
    code, out, err = run_cli(
        "analyze",
        "glucose",
        str(glucose_file),
        "--animal",
        "rex",
        "--unit",
        "mmol/L",
        "--low",
        "5",
        "--high",
        "10",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["unit"] == "mmol/L"
    assert report["low"] == 5.0
    assert report["mean"] == pytest.approx(sum(VALUES) / 36 / 18, abs=0.005)
    assert report["pct_below"] == pytest.approx(100 * sum(v < 90 for v in VALUES) / 36)
    assert report["pct_above"] == pytest.approx(100 * sum(v > 180 for v in VALUES) / 36)
    assert report["cycles"][0]["nadir"] == pytest.approx(120 / 18, abs=0.005)
    code, out, _ = run_cli("analyze", "glucose", str(glucose_file), "--animal", "rex", "--unit", "g/L")
    assert code == 0
    assert "g/L" in out
    assert "nadir_below_target" in out


def test_glucose_text(run_cli: Run, glucose_file: Path) -> None:
    code, out, err = run_cli("analyze", "glucose", str(glucose_file), "--animal", "rex")
    assert code == 0, err
    assert "36 glucose readings" in out
    assert "coverage 100.0 %" in out
    assert len([line for line in out.splitlines() if line.startswith("  2026-")]) == 3  # one line per cycle


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--low", "300", "--high", "100"], 2, "low < high"),
        (["--unit", "mg%"], 2, "--unit"),
        (["--interval", "-5"], 2, "--interval"),
    ],
)
def test_glucose_bad_options(run_cli: Run, glucose_file: Path, args: list[str], code: int, message: str) -> None:
    rc, _out, err = run_cli("analyze", "glucose", str(glucose_file), "--animal", "rex", *args)
    assert rc == code
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_glucose_bad_inputs_are_one_line_errors(run_cli: Run, glucose_file: Path, tmp_path: Path) -> None:
    rc, _, err = run_cli("analyze", "glucose", str(tmp_path / "missing.jsonl"), "--animal", "rex")
    assert (rc, len(err.strip().splitlines())) == (1, 1)
    assert "cannot read" in err
    rc, _, err = run_cli("analyze", "glucose", str(glucose_file), "--animal", "nobody")
    assert rc == 1
    assert "no reading of animal 'nobody'" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(glucose_file.read_text() + "{oops\n")
    rc, _, err = run_cli("analyze", "glucose", str(bad), "--animal", "rex")
    assert rc == 1
    assert f"{bad}:42: not JSON" in err  # 36 glucose + 3 doses + 1 insulin type + 1 other animal, then the bad one
    insulin_only = write_jsonl(tmp_path / "i.jsonl", [record(0, "insulin_dose", 4.0, "U", animal="rex")])
    rc, _, err = run_cli("analyze", "glucose", str(insulin_only), "--animal", "rex")
    assert rc == 1
    assert "no glucose reading" in err


@pytest.fixture
def cow_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(4)
    rows = []
    for day in range(1, 151):
        y = float(wood(np.array([float(day)]), 22.3, 0.2, 0.004)[0]) * rng.normal(1.0, 0.03)
        for h in (5, 13, 21):
            t = day * 1440 + h * 60
            rows += [
                record(t, "milk_yield", y / 3 / 1.03, "L", animal="cow-7"),
                record(t, "milking_interval", 480.0, "min", animal="cow-7"),
            ]
    return write_jsonl(tmp_path / "herd.jsonl", rows)


def test_lactation_json(run_cli: Run, cow_file: Path) -> None:
    code, out, err = run_cli(
        "analyze", "lactation", str(cow_file), "--animal", "cow-7", "--calving", "2026-03-02", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["a"] == pytest.approx(22.3, rel=0.05)
    assert report["b"] == pytest.approx(0.2, rel=0.1)
    assert report["c"] == pytest.approx(0.004, rel=0.1)
    assert report["peak_day"] == pytest.approx(report["b"] / report["c"])
    assert report["peak_day"] == pytest.approx(50, abs=5)
    assert report["peak_yield"] == pytest.approx(39.9, rel=0.02)
    assert (report["first_dim"], report["last_dim"], report["days"]) == (1, 150, 150)
    assert report["calving_assumed"] is False


def test_lactation_text_and_default_calving(run_cli: Run, cow_file: Path) -> None:
    code, out, err = run_cli("analyze", "lactation", str(cow_file), "--animal", "cow-7")
    assert code == 0, err
    assert "calving 2026-03-02 (assumed" in out
    assert "peak day" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--calving", "02/03/2026"], 2, "YYYY-MM-DD"),
        (["--tz", "Mars/Olympus"], 2, "time zone"),
        (["--animal", "nobody"], 1, "no reading of animal"),
    ],
)
def test_lactation_errors(run_cli: Run, cow_file: Path, args: list[str], code: int, message: str) -> None:
    base = ["analyze", "lactation", str(cow_file)]
    if "--animal" not in args:
        base += ["--animal", "cow-7"]
    rc, _, err = run_cli(*base, *args)
    assert rc == code
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_lactation_too_few_days(run_cli: Run, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "short.jsonl", [record(d * 1440, "milk_yield", 30.0, "kg") for d in range(3)])
    rc, _, err = run_cli("analyze", "lactation", str(path), "--animal", "a1")
    assert rc == 1
    assert "at least 5" in err


def test_bench_small(run_cli: Run) -> None:
    code, out, err = run_cli("bench", "analytics", "--cows", "2", "--days", "30", "--json")
    assert code == 0, err
    results = json.loads(out)
    assert [r["size"] for r in results][:3] == [30 * 288, 60, 30 * 288]
    assert all(r["seconds"] > 0 for r in results)
    code, out, _ = run_cli("bench", "analytics", "--cows", "1", "--days", "10")
    assert code == 0
    assert "cgm_summary" in out.splitlines()[1]


def test_help_does_not_import_the_heavy_libraries() -> None:
    import subprocess
    import sys

    code = "import sys, vigie.cli; vigie.cli._wire_stages(); print(sorted(m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
