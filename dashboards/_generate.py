"""The dashboards as JSON files: rendering, writing and checking the committed copies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dashboards._errors import DashboardError
from dashboards._farm import herd_dashboard, horse_dashboard
from dashboards._glucose import glucose_dashboard
from dashboards._model import Dashboard
from dashboards._ops import alerts_dashboard, fleet_dashboard

JSON_DIR = Path(__file__).parent / "json"
PROVISIONING_DIR = Path(__file__).parent / "provisioning"


def all_dashboards() -> list[Dashboard]:
    """Every Vigie dashboard, in menu order."""
    return [glucose_dashboard(), horse_dashboard(), herd_dashboard(), fleet_dashboard(), alerts_dashboard()]


def render(dashboard: Dashboard) -> str:
    """The JSON text of a dashboard as committed (stable: two-space indent, trailing newline)."""
    return json.dumps(dashboard.to_json(), indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True)
class FileState:
    """One dashboard file and whether it matches the generator."""

    path: Path
    state: str  # "same", "changed", "missing", "stale" (a JSON file no dashboard produces)


def check(directory: Path = JSON_DIR) -> list[FileState]:
    """Compare the files in ``directory`` with what the generator produces."""
    out: list[FileState] = []
    expected = {f"{d.uid}.json": render(d) for d in all_dashboards()}
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            out.append(FileState(path, "missing"))
        else:
            out.append(FileState(path, "same" if path.read_text(encoding="utf-8") == text else "changed"))
    out += [FileState(p, "stale") for p in sorted(directory.glob("*.json")) if p.name not in expected]
    return out


def write(directory: Path = JSON_DIR) -> list[FileState]:
    """Rewrite the files in ``directory`` (and remove stale ones); return what was not already up to date."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        changes = [s for s in check(directory) if s.state != "same"]
        for dashboard in all_dashboards():
            path = directory / f"{dashboard.uid}.json"
            text = render(dashboard)
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
        for stale in (s for s in changes if s.state == "stale"):
            stale.path.unlink()
    except OSError as exc:
        raise DashboardError(f"cannot write dashboards to {directory}: {exc.strerror or exc}") from exc
    return changes


def load_committed(directory: Path = JSON_DIR) -> list[dict[str, object]]:
    """The committed dashboard JSON files, parsed."""
    out = []
    for path in sorted(directory.glob("*.json")):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise DashboardError(f"cannot read {path}: {exc}") from exc
    if not out:
        raise DashboardError(f"no dashboards in {directory}: run 'vigie dashboards generate'")
    return out
