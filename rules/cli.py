"""Commands of the rules stage (wired into ``vigie`` by vigie/cli.py).

``vigie rules`` (the service), ``vigie backtest``, ``vigie backtest-animals``, ``vigie alerts list|ack|resolve``,
``vigie drafts list|show|approve|reject`` and ``vigie overrides set|list``. Heavy libraries load inside commands.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from vigie.settings import Settings

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
ByOpt = Annotated[str, typer.Option("--by", help="the vet doing it (recorded in the audit log)")]


def _settings(ctx: typer.Context) -> Settings:
    from vigie.cli import settings_of  # noqa: PLC0415

    return settings_of(ctx)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


def rules_service(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option("--interval", help="seconds between cycles", min=0.1)] = 10.0,
    sweep: Annotated[
        float, typer.Option("--sweep", help="seconds between full sweeps (silent devices)", min=1)
    ] = 300.0,
    once: Annotated[bool, typer.Option("--once", help="one full cycle, print what it did, and exit")] = False,
    settle: Annotated[
        float,
        typer.Option(
            "--settle", help="seconds an animal's rows must have stopped arriving before it is evaluated", min=0
        ),
    ] = 20.0,
) -> None:
    """Evaluate the rules continuously on committed readings (SIGTERM stops it cleanly)."""
    from rules._config import load_rules  # noqa: PLC0415
    from rules._service import run_cycle, serve, utc_now  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    settings = _settings(ctx)
    ruleset = load_rules(settings.config_dir / "rules")
    dsn = settings.database_url.get_secret_value()
    if once:
        with connect(dsn, autocommit=True) as conn:
            stats = run_cycle(conn, ruleset, utc_now(), full=True)
        _out(
            _dumps(
                {
                    "animals": stats.animals,
                    "opened": stats.opened,
                    "resolved": stats.resolved,
                    "drafts": sorted(stats.drafts),
                }
            )
        )
        return

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(dsn, ruleset, stop=stop, interval_s=interval, sweep_s=sweep, settle_s=settle)

    asyncio.run(main())


def backtest(
    ctx: typer.Context,
    readings: Annotated[Path, typer.Argument(help="a recording written by 'vigie simulate --out'", show_default=False)],
    animals: Annotated[Path, typer.Option("--animals", help="ANIMALS.json: [{animal_id, species, overrides?}]")],
    labels: Annotated[
        Path | None, typer.Option("--labels", help="the labels (FILE.labels.jsonl) to score against")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the rules offline over a recording; with --labels, score them (recall, precision, false alerts, delay)."""
    from analytics import read_jsonl  # noqa: PLC0415
    from rules._backtest import read_animals, read_labels, run_backtest, score  # noqa: PLC0415
    from rules._config import load_rules  # noqa: PLC0415
    from rules._engine import describe  # noqa: PLC0415
    from vigie.catalog import load_catalog  # noqa: PLC0415

    settings = _settings(ctx)
    ruleset = load_rules(settings.config_dir / "rules")
    specs = read_animals(animals)
    frame = read_jsonl(readings, catalog=load_catalog(settings.config_dir))
    if frame.empty:
        raise typer.BadParameter("the recording holds no reading", param_hint="READINGS")
    found, start, end = run_backtest(frame, specs, ruleset)
    listed = [{"animal_id": a, **describe(e)} for a, e in found]
    scores = score(found, read_labels(labels), specs, ruleset, start, end, frame) if labels is not None else None
    if as_json:
        _out(_dumps(listed if scores is None else {"alerts": listed, "scores": scores}))
        return
    for item in listed:
        _out(
            f"{item['start']}  {item['animal_id']:<12} {item['category']:<18} {item['severity']:<7} {item['rule']}  → {item['end'] or 'open'}"
        )
    _out(f"{len(listed)} alerts")
    if scores is not None:
        _out(
            f"{'category':<18} {'labels':>6} {'recall':>7} {'alerts':>6} {'precision':>9} {'false/aw':>9} {'delay min':>9}"
            f" {'from start':>10}"
        )
        for cat, s in scores.items():
            if cat == "mastitis_cow_day":
                continue
            _out(
                f"{cat:<18} {s['labels']:>6} {_f(s['recall']):>7} {s['alerts']:>6} {_f(s['precision']):>9}"
                f" {_f(s['false_per_animal_week']):>9} {_f(s['median_delay_min']):>9}{_from_start(s)}"
            )
            parts = [("with data", s["with_data"])] if "with_data" in s else []
            for name, sub in [*parts, *s.get("by_recipe", {}).items()]:
                _out(
                    f"  {name:<16} {sub['labels']:>6} {_f(sub['recall']):>7} {'':>6} {'':>9} {'':>9}"
                    f" {_f(sub['median_delay_min']):>9}{_from_start(sub)}"
                )
        if any("median_delay_from_start_min" in s for s in scores.values()):
            _out(
                "delay: from the onset of the true low (blood glucose < 60 mg/dL); 'from start': from the label's start"
            )
        if "mastitis_cow_day" in scores:
            m = scores["mastitis_cow_day"]
            _out(
                f"mastitis per cow-day: sensitivity {_f(m['sensitivity'])} ({m['detected_within_48h']}/{m['cases']} within 48 h), specificity {_f(m['specificity'])}"
            )


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def _from_start(s: dict[str, Any]) -> str:
    return f" {_f(s['median_delay_from_start_min']):>10}" if "median_delay_from_start_min" in s else ""


def backtest_animals(
    scenario: Annotated[str, typer.Argument(help="a scenario name or .toml path")],
    end: Annotated[
        str | None, typer.Option(help="the recording's --end (RFC 3339): dates the cows' calvings (default: now)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="the recording's --seed (default: the scenario's)")] = None,
    duration: Annotated[str | None, typer.Option(help="the recording's --duration (default: the scenario's)")] = None,
) -> None:
    """Print the ANIMALS.json of a simulator scenario (ids, species, clinics, and the cows' calving dates), for
    'vigie backtest --animals'. Give the same --end, --seed and --duration as 'vigie simulate --out'."""
    from simulators._dairy import calving_dates  # noqa: PLC0415
    from simulators._fleet import Fleet  # noqa: PLC0415
    from simulators._run import timeline  # noqa: PLC0415
    from simulators._scenario import load_scenario  # noqa: PLC0415
    from simulators.cli import duration_option, end_option  # noqa: PLC0415
    from simulators.errors import ScenarioError  # noqa: PLC0415

    sc = load_scenario(scenario)
    run_seed = sc.seed if seed is None else seed
    try:
        span = timeline(sc, duration_s=duration_option(duration, "--duration"), end=end_option(end), horizon_s=math.inf)
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc), param_hint="--duration/--end") from None
    calving = calving_dates(Fleet.build(sc, seed=run_seed, start=span.start, end=span.end))
    animals: list[dict[str, Any]] = []
    for a in sc.animals:
        entry: dict[str, Any] = {"animal_id": a.id, "species": a.species, "clinic_id": a.clinic}
        if a.id in calving:
            entry["calving"] = f"{calving[a.id].isoformat()}T00:00:00+00:00"
        animals.append(entry)
    _out(_dumps(animals))


def alerts_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="open, acknowledged or resolved")] = None,
    clinic: Annotated[str | None, typer.Option("--clinic")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List alerts, newest first."""
    from vigie.db import connect  # noqa: PLC0415

    query = (
        "SELECT id, clinic_id, animal_id, category, rule_id, rule_version, severity, status, window_start, window_end,"
        " explanation FROM alerts WHERE (%(s)s::text IS NULL OR status = %(s)s) AND (%(c)s::text IS NULL OR clinic_id = %(c)s)"
        " ORDER BY id DESC LIMIT 500"
    )
    keys = [
        "id",
        "clinic_id",
        "animal_id",
        "category",
        "rule",
        "rule_version",
        "severity",
        "status",
        "start",
        "end",
        "explanation",
    ]
    with connect(_settings(ctx).database_url.get_secret_value(), autocommit=True) as conn:
        rows = [dict(zip(keys, r, strict=True)) for r in conn.execute(query, {"s": status, "c": clinic})]
    if as_json:
        _out(_dumps(rows))
        return
    for r in rows:
        _out(
            f"{r['id']:>6} {r['status']:<12} {r['severity']:<7} {r['animal_id'] or '-':<12} {r['category']:<18} {r['explanation']}"
        )


def _vet_action(ctx: typer.Context, fn: Any, *args: Any) -> None:
    from vigie.db import connect  # noqa: PLC0415

    with connect(_settings(ctx).database_url.get_secret_value()) as conn, conn.transaction():
        fn(conn, *args)


def alerts_ack(ctx: typer.Context, alert_id: int, by: ByOpt) -> None:
    """Acknowledge an open alert."""
    from rules._vet import acknowledge  # noqa: PLC0415

    _vet_action(ctx, acknowledge, alert_id, by)
    _out(f"alert {alert_id} acknowledged by {by}")


def alerts_resolve(
    ctx: typer.Context, alert_id: int, by: ByOpt, note: Annotated[str, typer.Option("--note")] = ""
) -> None:
    """Resolve an alert."""
    from rules._vet import resolve  # noqa: PLC0415

    _vet_action(ctx, resolve, alert_id, by, note)
    _out(f"alert {alert_id} resolved by {by}")


def drafts_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="pending, approved, edited or rejected")] = "pending",
    as_json: JsonOpt = False,
) -> None:
    """List drafts (pending by default)."""
    from vigie.db import connect  # noqa: PLC0415

    keys = ["id", "clinic_id", "animal_id", "alert_ids", "language", "status", "created_at"]
    with connect(_settings(ctx).database_url.get_secret_value(), autocommit=True) as conn:
        rows = [
            dict(zip(keys, r, strict=True))
            for r in conn.execute(
                "SELECT id, clinic_id, animal_id, alert_ids, language, status, created_at FROM drafts"
                " WHERE (%(s)s::text IS NULL OR status = %(s)s) ORDER BY id DESC LIMIT 500",
                {"s": status},
            )
        ]
    if as_json:
        _out(_dumps(rows))
        return
    for r in rows:
        _out(f"{r['id']:>6} {r['status']:<9} {r['language']} {r['animal_id'] or '-':<12} alerts {r['alert_ids']}")


def drafts_show(ctx: typer.Context, draft_id: int) -> None:
    """Print a draft's text (and the approved text once decided)."""
    from rules._errors import DraftError  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    with connect(_settings(ctx).database_url.get_secret_value(), autocommit=True) as conn:
        row = conn.execute("SELECT body, final_body, status FROM drafts WHERE id = %s", (draft_id,)).fetchone()
    if row is None:
        raise DraftError(f"no draft {draft_id}")
    _out(str(row[1] or row[0]))


def drafts_approve(
    ctx: typer.Context,
    draft_id: int,
    by: ByOpt,
    body_file: Annotated[Path | None, typer.Option("--body-file", help="the edited text to approve instead")] = None,
) -> None:
    """Approve a pending draft (as is, or edited with --body-file); it is queued for delivery."""
    from rules._vet import approve  # noqa: PLC0415

    body = body_file.read_text(encoding="utf-8") if body_file is not None else None
    _vet_action(ctx, lambda conn, i, v: approve(conn, i, v, body=body), draft_id, by)
    _out(f"draft {draft_id} approved by {by} and queued for delivery")


def drafts_reject(
    ctx: typer.Context, draft_id: int, by: ByOpt, reason: Annotated[str, typer.Option("--reason")]
) -> None:
    """Reject a pending draft with a reason."""
    from rules._vet import reject  # noqa: PLC0415

    _vet_action(ctx, reject, draft_id, by, reason)
    _out(f"draft {draft_id} rejected by {by}")


def overrides_set(
    ctx: typer.Context,
    clinic: str,
    rule: str,
    params: Annotated[list[str], typer.Argument(help='parameter=value (JSON values: 90, true, "text")')],
    by: ByOpt,
    animal: Annotated[str | None, typer.Option("--animal", help="for one animal (else the whole clinic)")] = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Override parameters of a rule for a clinic or one animal (a new rule-set version follows)."""
    from rules._store import set_override  # noqa: PLC0415

    values: dict[str, Any] = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not parameter=value", param_hint="PARAMS")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    from rules._config import load_rules  # noqa: PLC0415

    ruleset = load_rules(_settings(ctx).config_dir / "rules")
    _vet_action(
        ctx,
        lambda conn: set_override(conn, clinic, rule, values, by=by, animal_id=animal, reason=reason, ruleset=ruleset),
    )
    _out(f"override of {rule} for {animal or clinic} set by {by}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add the rules commands to the ``vigie`` app."""
    app.command("rules")(rules_service)
    app.command("backtest")(backtest)
    app.command("backtest-animals")(backtest_animals)
    alerts = typer.Typer(help="Alerts raised by the rules: list, acknowledge, resolve.", no_args_is_help=True)
    alerts.command("list")(alerts_list)
    alerts.command("ack")(alerts_ack)
    alerts.command("resolve")(alerts_resolve)
    app.add_typer(alerts, name="alerts")
    drafts = typer.Typer(help="Recommendation drafts a vet approves before an owner sees them.", no_args_is_help=True)
    drafts.command("list")(drafts_list)
    drafts.command("show")(drafts_show)
    drafts.command("approve")(drafts_approve)
    drafts.command("reject")(drafts_reject)
    app.add_typer(drafts, name="drafts")
    overrides = typer.Typer(help="Vet overrides of rule parameters (per clinic or animal).", no_args_is_help=True)
    overrides.command("set")(overrides_set)
    app.add_typer(overrides, name="overrides")
