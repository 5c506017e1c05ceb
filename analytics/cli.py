"""Commands of the analytics stage (wired into `vigie` by vigie/cli.py).

``vigie analyze glucose|lactation RECORDING.jsonl --animal ID`` and ``vigie bench analytics``. Heavy libraries are
imported inside the commands so that ``vigie --help`` stays fast.
"""

from __future__ import annotations

import json
import math
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from vigie.catalog import MetricCatalog

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
RecordingArg = Annotated[
    Path, typer.Argument(help="a recording written by 'vigie simulate --out' (JSON lines)", show_default=False)
]
AnimalOpt = Annotated[str, typer.Option("--animal", help="the animal to analyse (its id in the recording)")]


class GlucoseUnit(StrEnum):
    """Units a vet reads glucose in."""

    mg_dl = "mg/dL"
    mmol_l = "mmol/L"
    g_l = "g/L"


class SpeciesOpt(StrEnum):
    """Species with a default glucose range."""

    dog = "dog"
    cat = "cat"


def _json_default(value: Any) -> Any:
    return str(value)


def _dump(obj: Any) -> str:
    """JSON with NaN turned into null (NaN is not JSON)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), default=_json_default)


def _catalog(ctx: typer.Context) -> MetricCatalog:
    from vigie.catalog import load_catalog  # noqa: PLC0415
    from vigie.settings import Settings  # noqa: PLC0415

    root = ctx.find_root().obj  # built once by the `vigie` entry point
    settings = root if isinstance(root, Settings) else Settings()
    return load_catalog(settings.config_dir)


def analyze_glucose(
    ctx: typer.Context,
    recording: RecordingArg,
    animal: AnimalOpt,
    low: Annotated[
        float | None, typer.Option("--low", help="lower limit of the target range, in --unit (default 80 mg/dL)")
    ] = None,
    high: Annotated[
        float | None, typer.Option("--high", help="upper limit of the target range, in --unit (default 250 mg/dL)")
    ] = None,
    unit: Annotated[GlucoseUnit, typer.Option("--unit", help="unit of the output and of --low/--high")] = (
        GlucoseUnit.mg_dl
    ),
    species: Annotated[SpeciesOpt, typer.Option("--species", help="species whose default range applies")] = (
        SpeciesOpt.dog
    ),
    interval: Annotated[
        float | None, typer.Option("--interval", help="sensor sampling interval in minutes (default: median step)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """CGM summary (mean, SD, CV, time in range, coverage) and the curve of each insulin cycle."""
    from analytics._cgm import GlucoseRange, species_range  # noqa: PLC0415
    from analytics._load import read_jsonl, require_animal  # noqa: PLC0415
    from analytics._report import glucose_report, render_glucose  # noqa: PLC0415

    factor = {"mg/dL": 1.0, "mmol/L": 18.0, "g/L": 100.0}[unit.value]
    default = species_range(species.value)
    lo = default.low if low is None else low * factor
    hi = default.high if high is None else high * factor
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
        raise typer.BadParameter(f"need 0 ≤ low < high (got {low} and {high} {unit.value})", param_hint="--low/--high")
    if interval is not None and not (math.isfinite(interval) and interval > 0):
        raise typer.BadParameter("must be a positive number of minutes", param_hint="--interval")
    frame = require_animal(read_jsonl(recording, animal_id=animal, catalog=_catalog(ctx)), animal, str(recording))
    report = glucose_report(frame, GlucoseRange(lo, hi), unit=unit.value, interval_min=interval)
    typer.echo(_dump({"animal": animal, **report}) if as_json else render_glucose(report, animal))


def analyze_lactation(
    ctx: typer.Context,
    recording: RecordingArg,
    animal: AnimalOpt,
    calving: Annotated[
        str | None,
        typer.Option("--calving", help="calving date YYYY-MM-DD (default: the day before the first milking)"),
    ] = None,
    tz: Annotated[str, typer.Option("--tz", help="time zone of the farm's days")] = "UTC",
    as_json: JsonOpt = False,
) -> None:
    """Wood lactation curve of one cow: a, b, c, peak day and peak yield."""
    import pandas as pd  # noqa: PLC0415

    from analytics._load import read_jsonl, require_animal  # noqa: PLC0415
    from analytics._report import lactation_report, render_lactation  # noqa: PLC0415

    day0: pd.Timestamp | None = None
    if calving is not None:
        try:
            day0 = pd.Timestamp(date.fromisoformat(calving))
        except ValueError:
            raise typer.BadParameter(f"{calving!r} is not a date YYYY-MM-DD", param_hint="--calving") from None
    try:
        pd.Timestamp("2000-01-01", tz=tz)
    except (ValueError, KeyError):
        raise typer.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from None
    frame = require_animal(read_jsonl(recording, animal_id=animal, catalog=_catalog(ctx)), animal, str(recording))
    report = lactation_report(frame, calving=day0, tz=tz)
    typer.echo(_dump({"animal": animal, **report}) if as_json else render_lactation(report, animal))


def bench_analytics(
    cows: Annotated[int, typer.Option("--cows", min=1, help="herd size")] = 60,
    days: Annotated[int, typer.Option("--days", min=7, help="days of data")] = 365,
    as_json: JsonOpt = False,
) -> None:
    """Time the CGM summary (1 animal, 1 year at 5 min) and a herd's lactation fits (1 year of milkings)."""
    from analytics._bench import render_bench, run_bench  # noqa: PLC0415

    results = run_bench(cows=cows, days=days)
    if as_json:
        typer.echo(_dump([r.to_dict() for r in results]))
    else:
        typer.echo(render_bench(results))
        typer.echo(_dump([r.to_dict() for r in results]))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this stage's commands to the ``vigie`` app and its ``bench`` group."""
    analyze = typer.Typer(
        help="Analyse a recording: CGM summary and insulin curves, lactation curves.", no_args_is_help=True
    )
    analyze.command("glucose")(analyze_glucose)
    analyze.command("lactation")(analyze_lactation)
    app.add_typer(analyze, name="analyze")
    bench.command("analytics")(bench_analytics)
