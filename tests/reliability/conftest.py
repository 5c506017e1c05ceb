"""Helpers of the fault and security suite: a broker configured by `vigie broker config`, a loopback TCP proxy that
injects partitions, and the figures every fault test prints (published, stored, lost, duplicated, quarantined,
recovery time, worker memory)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import psycopg
import pytest

from tests.ingest.conftest import WorkerProcess, cgm_ids, count, glucose_message, publish, register_fleet, wait_until
from vigie import broker as vbroker
from vigie.net import free_port, wait_port
from vigie.settings import Settings

INGEST_USER = "vigie-ingest"
DEVICES = ("cgm-0", "cgm-1", "cgm-2", "robot-1", "old-cgm")  # register_fleet's devices; old-cgm is disabled


# --- a broker generated from the registry ---------------------------------------------------------


@dataclass
class SecureBroker:
    """Mosquitto started with the configuration `vigie broker config` generated."""

    out: Path
    plan: vbroker.BrokerPlan
    ingest_password: str
    passwords: dict[str, str]  # device → password
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [exe, "-c", str(self.out / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.plan.ingest_port)
        wait_port(self.plan.device_port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def ingest_url(self) -> str:
        return f"mqtt://{INGEST_USER}:{self.ingest_password}@127.0.0.1:{self.plan.ingest_port}"

    def device(self, username: str | None, password: str | None = None, **kw: object) -> aiomqtt.Client:
        """An MQTT client on the device listener (password: the device's own unless given)."""
        if username is not None and password is None:
            password = self.passwords[username]
        return aiomqtt.Client(
            "127.0.0.1",
            self.plan.device_port,
            username=username,
            password=password,
            timeout=5,
            **kw,  # type: ignore[arg-type]
        )

    def broker_log(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def make_secure_broker(settings: Settings, tmp_path: Path, tls: vbroker.TlsFiles | None = None) -> SecureBroker:
    """The test fleet with MQTT credentials (old-cgm disabled), and a broker generated from that registry."""
    register_fleet(settings.dsn)
    passwords: dict[str, str] = {}
    with psycopg.connect(settings.dsn) as conn:
        for device in DEVICES:
            passwords[device] = vbroker.issue_credentials(conn, device)
    ingest_password = vbroker.new_password()
    out = tmp_path / "broker"
    log = tmp_path / "mosquitto.log"
    plan = vbroker.BrokerPlan(
        topic_root=settings.topic_root,
        ingest_user=INGEST_USER,
        ingest_password_hash=vbroker.hash_password(ingest_password),
        ingest_client_ids=(INGEST_USER,),
        ingest_port=free_port(),
        device_port=free_port(),
        device_bind="127.0.0.1",
        tls=tls,
        run_as_user="root",  # started as root, Mosquitto would switch to `mosquitto` and lose its files
        log_file=log,
        sys_interval_s=1,
    )
    with psycopg.connect(settings.dsn) as conn:
        vbroker.generate(conn, plan, out)
    b = SecureBroker(out, plan, ingest_password, passwords, log)
    b.start()
    return b


@pytest.fixture
def secure_broker(settings: Settings, tmp_path: Path) -> Iterator[SecureBroker]:
    """A broker configured by `vigie broker config` for the test fleet."""
    b = make_secure_broker(settings, tmp_path)
    yield b
    b.stop()


# --- a loopback TCP proxy that injects network faults --------------------------------------------


class TcpProxy:
    """127.0.0.1:port → target, with faults: ``pass``, ``blackhole`` (bytes held, nothing gets through, as in
    a partition that TCP later heals), ``reset`` (every connection reset, new ones refused by a reset) and a
    per-chunk ``latency_s``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.mode = "pass"
        self.latency_s = 0.0
        self._healed = asyncio.Event()
        self._healed.set()
        self._conns: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.connections = 0

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._reset_all()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def set(self, mode: str, latency_s: float = 0.0) -> None:
        self.mode, self.latency_s = mode, latency_s
        if mode == "blackhole":
            self._healed.clear()
        else:
            self._healed.set()
        if mode == "reset":
            self._reset_all()

    def _reset_all(self) -> None:
        for w in list(self._conns):
            with contextlib.suppress(Exception):
                w.transport.abort()  # RST: SO_LINGER 0 is what abort() amounts to on a TCP socket
        self._conns.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            writer.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._conns.update((writer, up_w))
        for src, dst in ((reader, up_w), (up_r, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                await self._healed.wait()  # blackhole: hold the bytes until the partition heals
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                if dst.is_closing():
                    break
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.transport.abort() if self.mode == "reset" else dst.close()
            self._conns.discard(dst)


# --- figures ---------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class RssSampler:
    """Peak RSS of a process, sampled every 0.2 s while a fault runs."""

    pid: int
    peak_mb: float = 0.0
    samples: list[float] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                mb = rss_mb(self.pid)
                self.samples.append(mb)
                self.peak_mb = max(self.peak_mb, mb)
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def sampling(pid: int) -> AsyncIterator[RssSampler]:
    sampler = RssSampler(pid)
    task = asyncio.create_task(sampler.run())
    try:
        yield sampler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Figures:
    """What a fault run reports. `lost` counts acknowledged (device, seq) pairs that are not stored."""

    name: str
    published: int
    stored: int = 0
    distinct: int = 0
    quarantined: int = 0
    recovery_s: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.published - self.distinct

    @property
    def duplicated(self) -> int:
        return self.stored - self.distinct

    def num(self, key: str) -> float:
        """A numeric extra figure."""
        value = self.extra[key]
        assert isinstance(value, int | float), key
        return float(value)

    def measure(self, dsn: str) -> Figures:
        self.stored = count(dsn, "SELECT count(*) FROM readings")
        self.distinct = count(dsn, "SELECT count(DISTINCT (device_id, seq)) FROM readings")
        self.quarantined = count(dsn, "SELECT count(*) FROM quarantine")
        return self

    def report(self) -> str:
        extra = " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in self.extra.items())
        line = (
            f"\n[{self.name}] published={self.published} stored={self.stored} lost={self.lost} "
            f"duplicated={self.duplicated} quarantined={self.quarantined} recovery_s={self.recovery_s:.1f} {extra}"
        )
        print(line)
        return line


def elapsed(since: float) -> float:
    return time.monotonic() - since


# --- memory held per message ---------------------------------------------------------------------


_HELD_PROBE = """
import gc, sys, time
from pathlib import Path
from ingest import DeviceInfo, Limits, RegistryView, parse_message
from ingest._mqtt import Incoming
from tests.ingest.conftest import glucose_message
from vigie.catalog import load_catalog
from vigie.settings import DEFAULT_CONFIG_DIR

root, n = sys.argv[1], int(sys.argv[2])
catalog = load_catalog(DEFAULT_CONFIG_DIR)
devices = {f"cgm-{i}": DeviceInfo("clinic-a", f"dog-{i}", enabled=True) for i in range(3)}
registry = RegistryView(devices, {f"dog-{i}": "clinic-a" for i in range(3)})
limits = Limits(max_payload_bytes=256 * 1024)
t0 = time.time() - 86400  # every time in the past, up to 86,400 messages

def rss():
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024

def held(k):
    out = []
    for s in range(k):
        device = f"cgm-{s % 3}"
        packet = b"\\0" + glucose_message(s, t0 + s, 80 + s % 150)
        msg = Incoming(s % 65535 + 1, f"{root}/devices/{device}/telemetry", packet[1:], time.time(), 1, 1)
        out.append((msg, parse_message(device, msg.payload, now=msg.received_at, registry=registry, catalog=catalog, limits=limits)))
    assert all(p.rows for _, p in out)
    return out

held(20)  # every code path once
gc.collect()
before = rss()
kept = held(n)
print((rss() - before) / n)
"""


def held_message_bytes(root: str, n: int) -> float:
    """Resident bytes one received message costs the worker until its batch commits: its `Incoming` (topic
    decoded, payload copied out of the read buffer) and its parse result (the rows), which the batcher keeps
    until the commit. Measured as the RSS growth of a fresh Python process holding ``n`` such messages (the
    allocator's rounding and pool headers included), with the worker's own classes and parser."""
    out = subprocess.run(
        [sys.executable, "-c", _HELD_PROBE, root, str(n)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.strip())


# --- randomized iterations -------------------------------------------------------------------------

# Every draw of the randomized fault runs comes from this seed (one stream per fault, see `rng_for`), so a run is
# reproduced by the same seed (the machine's timing still varies). VIGIE_FAULT_ITERATIONS_SCALE scales every count.
FAULT_SEED = int(os.environ.get("VIGIE_FAULT_SEED", "20261129"))
ITERATIONS_SCALE = float(os.environ.get("VIGIE_FAULT_ITERATIONS_SCALE", "1"))
SEQ_STRIDE = 100_000  # iteration i uses seq i * SEQ_STRIDE + k: its rows are counted apart from the others'


def rng_for(fault: str) -> random.Random:
    """The seeded random stream of one fault (independent of which other faults run)."""
    return random.Random(f"{FAULT_SEED}:{fault}")


def iterations(default: int) -> int:
    return max(1, round(default * ITERATIONS_SCALE))


def seq_items(devices: list[str], n: int, base: int, *, t0: float) -> list[tuple[str, bytes]]:
    """n one-reading messages per device, interleaved, seq ``base``.., at ``t0 + seq`` seconds: the times of two
    iterations never meet, so the natural key (animal, metric, time, device) never merges them."""
    return [
        (f"{d}/telemetry", glucose_message(base + k, t0 + base + k, 80 + k % 150)) for k in range(n) for d in devices
    ]


def in_range(dsn: str, base: int, distinct: bool = False) -> int:
    """Rows of iteration ``base`` (seq in [base, base + SEQ_STRIDE)), or distinct (device, seq) pairs."""
    what = "DISTINCT (device_id, seq)" if distinct else "*"
    return count(dsn, f"SELECT count({what}) FROM readings WHERE seq >= %s AND seq < %s", (base, base + SEQ_STRIDE))


def t0_for_iterations() -> float:
    """Times of iteration seqs: 20 iterations x SEQ_STRIDE seconds (23 days) inside the 30-day past horizon."""
    return time.time() - 26 * 86400


@dataclass
class Series:
    """The figures of every iteration of one randomized fault, summarised as min / median / max."""

    name: str
    runs: list[Figures] = field(default_factory=list)

    def add(self, fig: Figures) -> Figures:
        self.runs.append(fig)
        fig.report()
        return fig

    def summary(self) -> dict[str, tuple[float, float, float]]:
        keys = ["published", "stored", "lost", "duplicated", "quarantined", "recovery_s"]
        keys += [k for k, v in self.runs[0].extra.items() if isinstance(v, int | float) and k not in keys]
        out: dict[str, tuple[float, float, float]] = {}
        for k in keys:
            values: list[float] = []
            for f in self.runs:
                v = f.extra.get(k, 0) if k in f.extra else getattr(f, k)
                assert isinstance(v, int | float)
                values.append(float(v))
            out[k] = (min(values), statistics.median(values), max(values))
        return out

    def report(self, **overall: float) -> str:
        """Print (and return) the summary line; ``overall`` adds figures of the whole series (peak RSS)."""

        def fmt(x: float) -> str:
            return f"{x:.0f}" if x.is_integer() else f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"

        parts = [f"{k}={fmt(lo)}/{fmt(mid)}/{fmt(hi)}" for k, (lo, mid, hi) in self.summary().items()]
        parts += [f"{k}={fmt(v)}" for k, v in overall.items()]
        line = f"\n[{self.name}: {len(self.runs)} iterations, seed {FAULT_SEED}, min/median/max] " + " ".join(parts)
        print(line)
        return line


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def worker_log(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """The worker's log file; its tail is shown when the test fails (the figures stay readable otherwise)."""
    log = tmp_path / "worker.log"
    yield log
    if request.node.stash.get(FAILED, False) and log.exists():
        print(log.read_text()[-4000:])


def items_for(
    devices: list[str], n: int, *, start: float, step_s: float = 1.0, first_seq: int = 0
) -> list[tuple[str, bytes]]:
    """n one-reading messages per device, interleaved, seq first_seq.., times start + seq * step_s."""
    return [
        (f"{d}/telemetry", glucose_message(s, start + s * step_s, 80 + s % 150))
        for s in range(first_seq, first_seq + n)
        for d in devices
    ]


async def paced(settings: Settings, items: list[tuple[str, bytes]], *, per_s: float, chunk: int = 100) -> int:
    """Publish ``items`` at about ``per_s`` messages a second (chunks of ``chunk``); returns how many the broker
    acknowledged."""
    sent = 0
    for start in range(0, len(items), chunk):
        t0 = time.monotonic()
        sent += await publish(settings, items[start : start + chunk])
        await asyncio.sleep(max(0.0, chunk / per_s - (time.monotonic() - t0)))
    return sent


async def burst(settings: Settings, items: list[tuple[str, bytes]], *, publishers: int = 4) -> int:
    """Publish ``items`` as fast as ``publishers`` concurrent clients can; returns how many were acknowledged."""
    parts = [items[i::publishers] for i in range(publishers)]
    return sum(await asyncio.gather(*(publish(settings, p) for p in parts)))


def stored(dsn: str) -> int:
    return count(dsn, "SELECT count(*) FROM readings")


@pytest.fixture
def fleet(settings: Settings) -> list[str]:
    """The test fleet of tests/ingest (three CGMs on dogs, a milking robot, a disabled CGM)."""
    return register_fleet(settings.dsn)


@pytest.fixture(autouse=True)
def _no_worker_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every worker a test started is gone when it ends, even when the test failed half-way."""
    started: list[WorkerProcess] = []
    original = WorkerProcess.start

    def start(self: WorkerProcess) -> None:
        started.append(self)
        original(self)

    monkeypatch.setattr(WorkerProcess, "start", start)
    yield
    for w in started:
        if w.proc is not None:
            if w.proc.poll() is None:
                w.proc.kill()
            w.proc.wait(timeout=30)


@dataclass
class PartitionRun:
    """What a partition run saw: messages sent and published, rows stored during the fault, when it healed."""

    sent: int
    published: int
    stored_during_fault: int
    healed_at: float
    rss_peak_mb: float


async def run_partition(
    proxy: TcpProxy, proc: WorkerProcess, settings: Settings, mode: str, duration_s: float
) -> PartitionRun:
    """Start the worker (its link to the broker or the database goes through ``proxy``; ``settings`` are the direct
    ones, used to publish and to count), stream 4,500 messages at
    1,500/s, apply ``mode`` (blackhole, reset, or slow = 50 ms per chunk) for ``duration_s`` once 300 are stored,
    heal, and wait until every published message is stored (or the worker dies: the caller asserts it did not)."""
    await asyncio.to_thread(proc.start)  # the proxy runs in this event loop: never block it
    assert proc.proc is not None
    worker, dsn = proc.proc, settings.dsn
    items = items_for(cgm_ids(), 1500, start=time.time() - 7200)
    async with sampling(worker.pid) as rss:
        publisher = asyncio.create_task(paced(settings, items, per_s=1500))
        await wait_until(lambda: stored(dsn) > 300)
        before = stored(dsn)
        proxy.set(mode if mode != "slow" else "pass", latency_s=0.05 if mode == "slow" else 0.0)
        await asyncio.sleep(duration_s)  # the fault's duration
        during = stored(dsn) - before
        proxy.set("pass")
        healed = time.monotonic()
        published = await publisher
        await wait_until(lambda: stored(dsn) >= published or worker.poll() is not None, within=60)
    return PartitionRun(len(items), published, during, healed, rss.peak_mb)
