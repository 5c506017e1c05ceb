"""`vigie rules` as a process: it evaluates committed rows, and SIGTERM stops it cleanly (exit 0)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psycopg

from tests.rules.db_helpers import alerts, hypo, seed

VIGIE = str(Path(sys.executable).with_name("vigie"))


def _lines(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)
    out.put("")


def _wait_for(lines: queue.Queue[str], text: str, seen: list[str], timeout: float = 60.0) -> None:
    while True:
        line = lines.get(timeout=timeout)
        seen.append(line)
        if text in line:
            return
        assert line, f"the process ended before logging {text!r}: {''.join(seen)}"


def test_sigterm_stops_the_service_after_it_raised_an_alert(db: psycopg.Connection[Any], db_dsn: str) -> None:
    seed(db)
    hypo(db, end=datetime.now(UTC) - timedelta(minutes=1))
    env = {**os.environ, "VIGIE_DATABASE_URL": db_dsn, "VIGIE_LOG_LEVEL": "INFO"}
    seen: list[str] = []
    lines: queue.Queue[str] = queue.Queue()
    with subprocess.Popen(
        [VIGIE, "rules", "--interval", "0.2", "--settle", "1"], env=env, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        reader = threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True)
        reader.start()
        try:
            _wait_for(lines, "alerts opened", seen)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=10)
    while not lines.empty():
        seen.append(lines.get())
    assert any("rules service stopped" in line for line in seen), "".join(seen)
    assert [r[1] for r in alerts(db)] == ["hypoglycemia"]
