"""Entry points behind the commands: generate to a file, publish over MQTT, register (used by the CLI and tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulators._engine import Engine
from simulators._faults import Faults, apply_to_lines, apply_to_readings, fault_labels
from simulators._output import jsonl_lines, labels_path, write_jsonl, write_labels
from simulators._scenario import Scenario, load_scenario
from simulators._time import DAY_S, Clock, system_clock
from simulators.errors import ScenarioError

if TYPE_CHECKING:
    from simulators._publish import PublishCounts
    from vigie.settings import Settings


@dataclass(frozen=True, slots=True)
class Timeline:
    """The simulated period [start, end] (epoch s)."""

    start: float
    end: float


def timeline(
    scenario: Scenario,
    *,
    duration_s: float | None,
    end: float | None,
    clock: Clock = system_clock,
    horizon_s: float = 30 * DAY_S,
) -> Timeline:
    """The timeline of a run: it ends now (or at ``end``, never later than now) and is never older than the horizon."""
    now = clock()
    stop = now if end is None else end
    if stop > now + 1:
        raise ScenarioError("the timeline cannot end in the future")
    length = scenario.duration_s if duration_s is None else duration_s
    if length <= 0:
        raise ScenarioError("duration must be positive")
    if now - (stop - length) > horizon_s - 3600:
        raise ScenarioError(
            f"the timeline would start more than {horizon_s / DAY_S - 1 / 24:g} days ago; the ingest drops older readings"
        )
    return Timeline(float(round(stop - length)), float(round(stop)))


@dataclass(frozen=True, slots=True)
class FileResult:
    """What ``--out`` wrote."""

    readings: int
    labels: int
    out: Path
    labels_out: Path
    seconds: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready result."""
        return {
            "readings": self.readings,
            "labels": self.labels,
            "out": str(self.out),
            "labels_out": str(self.labels_out),
            "seconds": round(self.seconds, 3),
        }


def generate_to_file(
    scenario: Scenario, out: Path, *, seed: int, span: Timeline, faults: Faults | None = None
) -> FileResult:
    """Write the readings of ``span`` as JSON lines to ``out`` and the labels beside it (``FILE.labels.jsonl``)."""
    t0 = time.perf_counter()
    faults = faults or Faults()
    engine = Engine(scenario, seed=seed, start=span.start, end=span.end)
    readings = apply_to_readings(engine.fleet, engine.measured(span.start, span.end), faults).sorted()
    lines: Iterable[bytes] = jsonl_lines(readings, engine.fleet.device_ids, engine.fleet.animal_ids)
    if faults.any:
        lines = apply_to_lines(list(lines), faults, np.random.default_rng([seed, 53]))
    n = write_jsonl(out, lines)
    labels = engine.labels(span.start, span.end) + fault_labels(engine.fleet, faults)
    lab_out = labels_path(out)
    n_labels = write_labels(lab_out, labels)
    return FileResult(n, n_labels, out, lab_out, time.perf_counter() - t0)


def write_run_labels(scenario: Scenario, path: Path, *, seed: int, span: Timeline, faults: list[str]) -> int:
    """The labels a publishing run will produce (anomalies and reading-level faults), written to ``path``."""
    from simulators._faults import parse_faults  # noqa: PLC0415

    parsed = parse_faults(faults)
    engine = Engine(scenario, seed=seed, start=span.start, end=span.end)
    return write_labels(path, engine.labels(span.start, span.end) + fault_labels(engine.fleet, parsed))


async def publish_scenario(
    settings: Settings,
    scenario: str = "default",
    *,
    seed: int | None = None,
    duration_s: float | None = None,
    speed: float | None = None,
    follow: bool = True,
    register: bool = True,
    faults: Faults | None = None,
    stop: asyncio.Event | None = None,
    clock: Clock = system_clock,
) -> PublishCounts:
    """Register (optionally) and publish a scenario; with ``follow`` it goes on in real time until ``stop``.

    This is what ``vigie up`` needs: ``await publish_scenario(settings, stop=stop)`` publishes the default scenario's
    history at once, then keeps the fleet live.
    """
    from simulators._publish import Publisher  # noqa: PLC0415 - aiomqtt only when publishing
    from simulators._register import register_fleet  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    spec = load_scenario(scenario)
    run_seed = spec.seed if seed is None else seed
    span = timeline(
        spec, duration_s=duration_s, end=None, clock=clock, horizon_s=settings.ingest_past_horizon_days * DAY_S
    )
    engine = Engine(spec, seed=run_seed, start=span.start, end=span.end)
    if register:

        def do_register() -> None:
            with connect(settings.dsn) as conn:
                register_fleet(conn, engine.fleet)

        await asyncio.to_thread(do_register)
    publisher = Publisher(settings, engine, speed=speed, faults=faults or Faults(), clock=clock)
    return await publisher.run(follow=follow, stop=stop)
