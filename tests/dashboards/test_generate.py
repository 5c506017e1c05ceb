"""The committed JSON is what the generator produces, and `vigie dashboards generate [--check]` says so."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from dashboards import JSON_DIR, all_dashboards, check, render, write

RunCli = Callable[..., tuple[int, str, str]]


def test_committed_json_matches_the_generator() -> None:
    states = check(JSON_DIR)
    assert {s.path.name: s.state for s in states} == {f"{d.uid}.json": "same" for d in all_dashboards()}


def test_rendering_is_stable() -> None:
    for d in all_dashboards():
        assert render(d) == render(d)
        assert json.loads(render(d))["uid"] == d.uid


@pytest.fixture
def json_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the committed JSON that the CLI works on."""
    import dashboards._generate

    copy = tmp_path / "json"
    shutil.copytree(JSON_DIR, copy)
    monkeypatch.setattr(dashboards._generate, "JSON_DIR", copy)
    return copy


def test_check_fails_when_a_file_disagrees_and_generate_repairs_it(json_copy: Path, run_cli: RunCli) -> None:
    assert run_cli("dashboards", "generate", "--check")[0] == 0
    herd = json_copy / "vigie-herd.json"
    data = json.loads(herd.read_text())
    data["panels"][0]["title"] = "edited by hand"
    herd.write_text(json.dumps(data, indent=2) + "\n")
    (json_copy / "vigie-fleet.json").unlink()
    (json_copy / "old.json").write_text("{}")

    code, out, err = run_cli("dashboards", "generate", "--check")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "vigie-herd.json (changed)" in err
    assert "vigie-fleet.json (missing)" in err
    assert "old.json (stale)" in err
    assert "Traceback" not in err

    code, out, _ = run_cli("dashboards", "generate")
    assert code == 0
    assert sorted(line.split("/")[-1] for line in out.splitlines()) == [
        "old.json",
        "vigie-fleet.json",
        "vigie-herd.json",
    ]
    assert {s.state for s in check(json_copy)} == {"same"}
    assert not (json_copy / "old.json").exists()
    assert run_cli("dashboards", "generate")[1].startswith("dashboards are up to date")


def test_write_reports_nothing_when_up_to_date(tmp_path: Path) -> None:
    assert {s.state for s in write(tmp_path)} == {"missing"}
    assert write(tmp_path) == []
