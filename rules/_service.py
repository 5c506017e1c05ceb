"""``vigie rules``: evaluate the rules continuously on committed readings.

Each cycle reads which animals received rows since the cursor (``readings.received_at``, with an overlap so that
rows of ingest transactions that committed late are not missed), evaluates those animals over their look-back
window with the same pure engine as the backtest, and reconciles their alerts; every ``sweep_s`` all animals are
evaluated (a silent device sends no rows, yet its silence is an alert). Evaluation is a deterministic function of
the committed rows, and reconciliation identifies episodes by their onset, so re-running over the same rows, late
or out-of-order rows, a backlog, or several ingest workers never duplicate an alert. A per-animal advisory lock
keeps two rules services from reconciling the same animal at once.

**Settled data only.** An animal whose rows are still arriving (one received in the last ``settle_s`` seconds, by
the database's clock, which stamps ``received_at``) is not evaluated yet: it waits, in the service's pending set,
until its stream has been quiet for ``settle_s``. A backlog streamed in chunks or out of order (a phone's upload,
``vigie up``'s 7-day backfill) is thus evaluated once, complete, and gives the alerts of one offline evaluation
instead of alerts opened on a partial history (a hole that looks like silence, a low whose recovery has not arrived
yet) and resolved seconds later. A live 1-minute CGM is quiet between readings, so it is evaluated within one
interval plus ``settle_s``.

One asyncio TaskGroup; the database work runs in a thread (pandas is CPU-bound) under a timeout; SIGTERM/SIGINT set
the stop event and the loop ends after the current cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from rules._config import RuleSet
from rules._engine import evaluate
from rules._store import AnimalRow, Conn, draft_for, effective_rules, load_animals, reconcile

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]
LOOKBACK = {
    "dog": timedelta(days=6),
    "cat": timedelta(days=6),
    "horse": timedelta(days=10),
    "pony": timedelta(days=10),
    "donkey": timedelta(days=10),
    "cow": timedelta(days=12),
}
CURSOR_OVERLAP = timedelta(minutes=2)
# The ingest refuses readings measured more than ``ingest_past_horizon_days`` before its clock (quarantined), so a
# row received after the cursor was measured after (cursor - horizon): bounding the changed-rows query by ``time``
# too lets TimescaleDB skip every older chunk (``readings.received_at`` has no index; without the bound each cycle
# scanned every chunk). The margin covers a batch parsed before a database outage and committed after it (the
# worker retries the write); a row held longer than that is still evaluated by the next full sweep.
HORIZON = timedelta(days=30)  # vigie.settings' default; ``serve`` reads the configured value
HORIZON_MARGIN = timedelta(days=1)
CURSOR_NAME = "rules"
SETTLE = timedelta(seconds=20)


def utc_now() -> datetime:
    """The wall clock, tz-aware UTC."""
    return datetime.now(UTC)


@dataclass
class CycleStats:
    """What a cycle did."""

    animals: int = 0
    opened: list[int] = field(default_factory=list)
    updated: int = 0
    resolved: int = 0
    drafts: set[int] = field(default_factory=set)
    deferred: list[str] = field(default_factory=list)


CHANGED_ROWS = (
    "SELECT animal_id, max(received_at), now() FROM readings"
    " WHERE received_at > %(since)s AND time > %(oldest)s AND animal_id IS NOT NULL GROUP BY animal_id"
)


def changed_animals(
    conn: Conn, name: str = CURSOR_NAME, *, horizon: timedelta = HORIZON
) -> tuple[list[str], datetime | None]:
    """Animals with rows received since the cursor (minus the overlap), and the new cursor value."""
    received, newest, _ = _received(conn, name, horizon)
    return sorted(received), newest


def changed_rows_params(cursor: datetime | None, horizon: timedelta = HORIZON) -> dict[str, datetime]:
    """The bounds of the changed-rows query: received after the cursor (minus the overlap), measured after that
    minus the ingest horizon and its margin."""
    since = datetime(1970, 1, 1, tzinfo=UTC) if cursor is None else cursor - CURSOR_OVERLAP
    return {"since": since, "oldest": since - horizon - HORIZON_MARGIN}


def _received(
    conn: Conn, name: str, horizon: timedelta = HORIZON
) -> tuple[dict[str, datetime], datetime | None, datetime]:
    """Each animal with rows received since the cursor (minus the overlap) and its last ``received_at``; the newest
    of them; the database's clock."""
    row = conn.execute("SELECT received_at FROM rules_cursor WHERE name = %s", (name,)).fetchone()
    rows = conn.execute(CHANGED_ROWS, changed_rows_params(None if row is None else row[0], horizon)).fetchall()
    clock = rows[0][2] if rows else conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    received = {str(r[0]): r[1] for r in rows}
    return received, max(received.values(), default=None), clock


def save_cursor(conn: Conn, value: datetime, name: str = CURSOR_NAME) -> None:
    """Move the cursor forward (never back)."""
    conn.execute(
        "INSERT INTO rules_cursor (name, received_at) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
        " SET received_at = greatest(rules_cursor.received_at, EXCLUDED.received_at), updated_at = now()",
        (name, value),
    )


def evaluate_animal(conn: Conn, ruleset: RuleSet, animal: AnimalRow, now: datetime, stats: CycleStats) -> None:
    """Evaluate one animal and reconcile its alerts and draft, in one transaction under its advisory lock."""
    from analytics import load_readings  # noqa: PLC0415

    ctx = animal.context
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('vigie.rules'), hashtext(%s))", (ctx.animal_id,))
        rules = effective_rules(conn, ruleset, ctx)
        start = now - LOOKBACK.get(ctx.species, timedelta(days=7))
        frame = load_readings(conn, ctx.animal_id, start, now + timedelta(microseconds=1))
        episodes = evaluate(frame, ctx, rules, now)
        out = reconcile(conn, ctx, episodes, rules.version, window_start=start, now=now)
        still_open = [
            int(r[0])
            for r in conn.execute(
                "SELECT id FROM alerts WHERE id = ANY(%s) AND status <> 'resolved'", (out.opened,)
            ).fetchall()
        ]
        draft = draft_for(conn, animal, still_open, ruleset) if still_open else None
    stats.animals += 1
    stats.opened += out.opened
    stats.updated += out.updated
    stats.resolved += out.resolved
    if draft is not None:
        stats.drafts.add(draft)


def run_cycle(
    conn: Conn,
    ruleset: RuleSet,
    now: datetime,
    *,
    full: bool = False,
    only: Sequence[str] | None = None,
    pending: set[str] | None = None,
    settle: timedelta = timedelta(0),
    horizon: timedelta = HORIZON,
) -> CycleStats:
    """One evaluation cycle over the animals with new rows (or all with ``full``); moves the cursor.

    With ``settle``, an animal with a row received in the last ``settle`` is deferred: it goes into ``pending`` (the
    caller's set, evaluated again at the next cycles until it has settled) and ``stats.deferred``."""
    stats = CycleStats()
    received, newest, clock = _received(conn, CURSOR_NAME, horizon)
    ids = sorted(received) if only is None else list(only)
    if pending:
        ids = sorted(set(ids) | pending)
    animals = load_animals(conn, None if full else ids)
    # a row received within ``settle`` is also within the cursor's overlap, so ``received`` knows every such animal
    arriving = {a for a, t in received.items() if settle > timedelta(0) and t > clock - settle}
    for animal in animals:
        animal_id = animal.context.animal_id
        if animal_id in arriving:
            stats.deferred.append(animal_id)
            if pending is not None:
                pending.add(animal_id)
            continue
        if pending is not None:
            pending.discard(animal_id)
        try:
            evaluate_animal(conn, ruleset, animal, now, stats)
        except psycopg.errors.QueryCanceled:
            logger.warning("evaluation of %s timed out", animal.context.animal_id)
    if newest is not None:
        save_cursor(conn, newest)
    return stats


async def serve(
    dsn: str,
    ruleset: RuleSet,
    *,
    stop: asyncio.Event,
    interval_s: float = 10.0,
    sweep_s: float = 300.0,
    cycle_timeout_s: float = 120.0,
    settle_s: float = SETTLE.total_seconds(),
    clock: Clock = utc_now,
    on_cycle: Callable[[CycleStats], None] | None = None,
    horizon: timedelta | None = None,
) -> None:
    """Run cycles every ``interval_s`` until ``stop`` is set; a database outage is logged and retried. Animals whose
    rows are still arriving wait until they have been quiet for ``settle_s`` (see the module's docstring).
    ``horizon``: the ingest's past horizon (default: ``VIGIE_INGEST_PAST_HORIZON_DAYS`` of the settings)."""
    pending: set[str] = set()
    settle = timedelta(seconds=settle_s)
    if horizon is None:
        from vigie.settings import Settings  # noqa: PLC0415 - the environment is read once, when the service starts

        horizon = timedelta(days=Settings().ingest_past_horizon_days)
    past = horizon

    def cycle(full: bool) -> CycleStats:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{int(cycle_timeout_s * 1000)}",))
            return run_cycle(conn, ruleset, clock(), full=full, pending=pending, settle=settle, horizon=past)

    async def loop() -> None:
        last_sweep: datetime | None = None
        while not stop.is_set():
            now = clock()
            full = last_sweep is None or now - last_sweep >= timedelta(seconds=sweep_s)
            try:
                async with asyncio.timeout(cycle_timeout_s):
                    stats = await asyncio.to_thread(cycle, full)
            except (psycopg.OperationalError, TimeoutError) as exc:
                logger.warning("rules cycle failed, retrying in %.0f s: %s", interval_s, exc)
            else:
                if full:
                    last_sweep = now
                if stats.opened or stats.resolved:
                    logger.info(
                        "rules: %d animals, %d alerts opened, %d resolved, %d drafts",
                        stats.animals,
                        len(stats.opened),
                        stats.resolved,
                        len(stats.drafts),
                    )
                if on_cycle is not None:
                    on_cycle(stats)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await stop.wait()

    logger.info("rules service started (every %.0f s, full sweep every %.0f s)", interval_s, sweep_s)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(loop(), name="rules.evaluator")
    logger.info("rules service stopped")
