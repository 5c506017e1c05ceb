"""Commands of the simulators stage (wired into `vigie` by vigie/cli.py): simulate, record, replay, bench simulate."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from simulators._scenario import Scenario
    from vigie.settings import Settings

SPEED_HELP = "publishing speed: a factor of real time (1 = real time, 60 = an hour a minute) or max"


def _settings(ctx: typer.Context) -> Settings:
    """The settings built once by the entry point (as vigie.cli.settings_of)."""
    from vigie.settings import Settings  # noqa: PLC0415

    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    return root.obj


def parse_speed(text: str, *, hint: str = "--speed") -> float | None:
    """``max`` → None, else a positive factor."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number or max", param_hint=hint) from None
    if not 0 < value <= 1e6:
        raise typer.BadParameter("must be a positive factor (or max)", param_hint=hint)
    return value


def duration_option(text: str | None, hint: str) -> float | None:
    """A --duration option (90m, 6h, 2d) in seconds; None when not given; a one-line usage error when malformed."""
    from simulators._time import parse_duration  # noqa: PLC0415

    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    if seconds <= 0:
        raise typer.BadParameter("must be positive", param_hint=hint)
    return seconds


def end_option(text: str | None) -> float | None:
    """An --end option (RFC 3339 with a zone) in epoch seconds; None when not given; a usage error when malformed."""
    from datetime import datetime  # noqa: PLC0415

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an RFC 3339 time", param_hint="--end") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give a time zone (e.g. 2026-11-23T08:00:00Z)", param_hint="--end")
    return moment.timestamp()


def _with_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def _load(scenario: str) -> Scenario:
    from simulators._scenario import load_scenario  # noqa: PLC0415

    return load_scenario(scenario)


def _publish(
    settings: Settings,
    scenario: Scenario,
    *,
    seed: int,
    start: float,
    end: float,
    speed: float | None,
    fault_specs: list[str],
    follow: bool,
    quiet: bool,
) -> dict[str, object]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    from simulators._engine import Engine  # noqa: PLC0415
    from simulators._faults import parse_faults  # noqa: PLC0415
    from simulators._publish import Publisher  # noqa: PLC0415

    faults = parse_faults(fault_specs)
    engine = Engine(scenario, seed=seed, start=start, end=end)
    progress = Progress(
        TextColumn("[bold]publishing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=quiet,
    )
    task = progress.add_task("publish", total=None)

    def advance(done: int, total: int) -> None:
        progress.update(task, completed=done, total=max(total, done))

    publisher = Publisher(settings, engine, speed=speed, faults=faults, progress=advance)

    async def main() -> dict[str, object]:
        stop = asyncio.Event()
        _with_signals(stop)
        t0 = time.perf_counter()
        with progress:
            counts = await publisher.run(follow=follow, stop=stop)
        return {**counts.as_dict(), "seconds": round(time.perf_counter() - t0, 3)}

    return asyncio.run(main())


def simulate(
    ctx: typer.Context,
    scenario: Annotated[
        str, typer.Argument(help="scenario name in simulators/scenarios (default, week100) or a .toml file")
    ],
    speed: Annotated[str, typer.Option(help=SPEED_HELP)] = "max",
    duration: Annotated[
        str | None,
        typer.Option(help="length of the simulated timeline, which ends now: 90m, 6h, 2d (default: the scenario's)"),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="random seed (default: the scenario's); same seed, same data")
    ] = None,
    register_fleet: Annotated[
        bool, typer.Option("--register", help="first register the scenario's clinics, owners, animals and devices")
    ] = False,
    faults: Annotated[
        list[str] | None,
        typer.Option(
            help="transport faults, e.g. duplicates=0.02,out_of_order=0.05,skew=-120,malformed=0.01,offline=2h"
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="after catching up with the clock, go on in real time until Ctrl-C")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="write readings to this JSON-lines file instead of publishing; labels go to FILE.labels.jsonl"
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="end of the timeline, RFC 3339 (default: now; never in the future)")
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(help="when publishing, also write the labels of the timeline's anomalies to this JSON-lines file"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the final counts as JSON")] = False,
) -> None:
    """Simulate a fleet (CGMs on dogs and cats, horse feeders, a milking robot) with labelled anomalies.

    The timeline ends now and lasts --duration. It is published over MQTT as the devices would (QoS 1, retained status, one connection per device) at --speed until it catches up with the clock, or written to a file with --out.
    """
    from simulators._run import generate_to_file, timeline  # noqa: PLC0415
    from simulators.errors import ScenarioError  # noqa: PLC0415

    settings = _settings(ctx)
    pace = parse_speed(speed)
    length = duration_option(duration, "--duration")
    stop_at = end_option(end)
    spec = _load(scenario)
    run_seed = spec.seed if seed is None else seed
    if run_seed < 0:
        raise typer.BadParameter("must be a non-negative integer", param_hint="--seed")
    try:
        # the ingest's past horizon bounds what is published; a file (--out) is not ingested, so a recording that
        # ends at a fixed time stays reproducible as the days pass
        horizon = math.inf if out is not None else settings.ingest_past_horizon_days * 86_400
        span = timeline(spec, duration_s=length, end=stop_at, horizon_s=horizon)
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc), param_hint="--duration/--end") from None
    if out is not None:
        if follow or register_fleet:
            raise typer.BadParameter("--out writes a file: it cannot --follow or --register", param_hint="--out")
        from simulators._faults import parse_faults  # noqa: PLC0415

        result = generate_to_file(spec, out, seed=run_seed, span=span, faults=parse_faults(faults or []))
        if as_json:
            typer.echo(json.dumps(result.as_dict()))
        else:
            typer.echo(
                f"wrote {result.readings} readings to {result.out} and {result.labels} labels to "
                f"{result.labels_out} in {result.seconds:.2f} s"
            )
        return
    if register_fleet:
        from simulators._fleet import Fleet  # noqa: PLC0415
        from simulators._register import register_fleet as do_register  # noqa: PLC0415
        from vigie.db import connect  # noqa: PLC0415

        with connect(settings.dsn) as conn:
            reg = do_register(conn, Fleet.build(spec, seed=run_seed, start=span.start, end=span.end))
        if not as_json:
            typer.echo(f"registered {reg['added']} new entries ({reg['skipped']} already there)")
    if labels is not None:
        from simulators._run import write_run_labels  # noqa: PLC0415

        write_run_labels(spec, labels, seed=run_seed, span=span, faults=faults or [])
    counts = _publish(
        settings,
        spec,
        seed=run_seed,
        start=span.start,
        end=span.end,
        speed=pace,
        fault_specs=faults or [],
        follow=follow,
        quiet=as_json,
    )
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        typer.echo(
            f"published {counts['messages']} messages ({counts['readings']} readings, {counts['duplicates']} "
            f"duplicates, {counts['malformed']} malformed) from {counts['devices']} devices in {counts['seconds']} s"
        )


def record_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="JSON-lines file: receive time, topic and payload of each message")],
    duration: Annotated[str | None, typer.Option(help="stop after this long, e.g. 10m")] = None,
    count: Annotated[int | None, typer.Option(help="stop after this many messages", min=1)] = None,
) -> None:
    """Capture the live telemetry stream ({topic_root}/devices/+/telemetry) to a file, until Ctrl-C."""
    from simulators._record import record  # noqa: PLC0415

    settings = _settings(ctx)
    length = duration_option(duration, "--duration")

    async def main() -> int:
        stop = asyncio.Event()
        _with_signals(stop)
        return await record(settings, out, duration_s=length, count=count, stop=stop)

    n = asyncio.run(main())
    typer.echo(f"recorded {n} messages to {out}")


def replay_cmd(
    ctx: typer.Context,
    recording: Annotated[Path, typer.Argument(help="a file written by vigie record")],
    speed: Annotated[str, typer.Option(help=SPEED_HELP)] = "1",
) -> None:
    """Publish a recording again, to the same topics, with its original timing scaled by --speed."""
    from simulators._record import read_recording, replay  # noqa: PLC0415

    settings = _settings(ctx)
    pace = parse_speed(speed)
    messages = read_recording(recording)

    async def main() -> int:
        stop = asyncio.Event()
        _with_signals(stop)
        return await replay(settings, messages, speed=pace, stop=stop)

    n = asyncio.run(main())
    typer.echo(f"replayed {n} messages from {recording}")


def bench_simulate(
    scenario: Annotated[str, typer.Option(help="scenario to generate")] = "week100",
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Time the generation of a scenario to a JSON-lines file (the --out path), in a temporary folder."""
    import tempfile  # noqa: PLC0415

    from simulators._run import generate_to_file, timeline  # noqa: PLC0415

    spec = _load(scenario)
    with tempfile.TemporaryDirectory() as tmp:
        result = generate_to_file(
            spec, Path(tmp) / "bench.jsonl", seed=seed, span=timeline(spec, duration_s=None, end=None)
        )
    out = {
        "scenario": spec.name,
        "animals": len(spec.animals),
        "duration_h": round(spec.duration_s / 3600, 1),
        "readings": result.readings,
        "seconds": round(result.seconds, 2),
        "readings_per_s": round(result.readings / max(result.seconds, 1e-9)),
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        typer.echo(" ".join(f"{k}={v}" for k, v in out.items()))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this stage's commands to the ``vigie`` app and its ``bench`` group."""
    app.command("simulate")(simulate)
    app.command("record")(record_cmd)
    app.command("replay")(replay_cmd)
    bench.command("simulate")(bench_simulate)
