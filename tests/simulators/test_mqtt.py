"""Publishing, recording and replaying over a real Mosquitto (the session's private broker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import orjson

from simulators._engine import Engine
from simulators._faults import MALFORMED, Faults
from simulators._publish import Publisher, client_for
from simulators._record import Recorded, read_recording, record, replay
from simulators._scenario import Scenario, parse_scenario
from tests.conftest import Broker
from vigie.settings import Settings

from .helpers import scenario_raw


def small_scenario() -> Scenario:
    return parse_scenario(
        scenario_raw(
            [
                {"id": "rex", "species": "dog", "weight": 20},
                {"id": "h", "species": "horse", "count": 2},
                {"id": "cow", "species": "cow", "count": 6},
            ],
            [
                # a fresh sensor and no phone outage: the follow test waits for this CGM's live readings
                {
                    "id": "cgm-rex",
                    "kind": "cgm",
                    "animal": "rex",
                    "interval_min": 5,
                    "sensor_start": "end-1d",
                    "outages_per_day": 0,
                },
                {"id": "feeder", "kind": "feeder", "animals": ["h-*"]},
                {"id": "robot", "kind": "milking", "animals": ["cow-*"]},
            ],
        ),
        name="small",
    )


def settings_for(broker: Broker, topic_root: str) -> Settings:
    return Settings(mqtt_url=broker.url, topic_root=topic_root)  # type: ignore[arg-type]


class Collector:
    """Collects messages of a subscription; ``wait_for(n)`` returns once n have arrived (bounded by a timeout)."""

    def __init__(self) -> None:
        self.messages: list[aiomqtt.Message] = []
        self._arrived = asyncio.Event()

    async def run(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            self.messages.append(msg)
            self._arrived.set()

    async def wait_until(self, predicate: Callable[[], bool], limit_s: float = 30) -> None:
        async with asyncio.timeout(limit_s):
            while not predicate():
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_for(self, n: int, limit_s: float = 30) -> None:
        async with asyncio.timeout(limit_s):
            while len(self.messages) < n:
                self._arrived.clear()
                await self._arrived.wait()


def count_readings(payload: bytes) -> int:
    body = orjson.loads(payload)
    if "readings" in body:
        return len(body["readings"])
    return sum(len(rec["values"]) for rec in body["records"])


async def test_a_subscriber_receives_exactly_what_was_published(broker: Broker, topic_root: str) -> None:
    settings = settings_for(broker, topic_root)
    now = time.time()
    engine = Engine(small_scenario(), seed=4, start=now - 6 * 3600, end=now)
    collector = Collector()
    async with client_for(settings, f"test-sub-{topic_root[-10:]}") as sub:
        await sub.subscribe(f"{topic_root}/devices/+/telemetry", qos=1)
        task = asyncio.create_task(collector.run(sub))
        publisher = Publisher(settings, engine, speed=None, faults=Faults(duplicates=0.1, malformed=0.08))
        counts = await publisher.run()
        await collector.wait_for(counts.messages)
        task.cancel()
    assert counts.messages == len(collector.messages) > 50
    assert counts.duplicates > 0
    assert counts.malformed > 0
    payloads = [bytes(m.payload) for m in collector.messages]
    malformed = [p for p in payloads if p in MALFORMED]
    assert len(malformed) == counts.malformed
    data = {p for p in payloads if p not in MALFORMED}  # duplicates are byte-identical re-sends
    assert len(payloads) - len(malformed) - len(data) == counts.duplicates
    assert sum(count_readings(p) for p in data) == counts.readings
    for p in data:  # nothing published is stamped in the future
        body = orjson.loads(p)
        items = body.get("readings") or body.get("records")
        assert max(item["time"] for item in items) <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    # every device left a retained "offline" status
    statuses: dict[str, bytes] = {}
    async with client_for(settings, f"test-status-{topic_root[-10:]}") as sub:
        await sub.subscribe(f"{topic_root}/devices/+/status", qos=1)
        async with asyncio.timeout(10):
            async for msg in sub.messages:
                statuses[str(msg.topic)] = bytes(msg.payload)
                if len(statuses) == 3:
                    break
    assert set(statuses.values()) == {b"offline"}


async def test_record_then_replay_reproduces_the_same_messages(broker: Broker, topic_root: str, tmp_path: Path) -> None:
    settings = settings_for(broker, topic_root)
    now = time.time()
    engine = Engine(small_scenario(), seed=5, start=now - 3 * 3600, end=now)
    expected = len(Publisher(settings, engine, speed=None, faults=Faults())._messages(now - 3 * 3600, now + 1))
    first = tmp_path / "first.jsonl"
    ready = asyncio.Event()
    rec = asyncio.create_task(record(settings, first, count=expected, ready=ready))
    async with asyncio.timeout(10):
        await ready.wait()
    counts = await Publisher(settings, engine, speed=None, faults=Faults()).run()
    assert counts.messages == expected
    async with asyncio.timeout(30):
        assert await rec == expected
    recording = read_recording(first)
    assert len(recording) == expected
    second = tmp_path / "second.jsonl"
    ready2 = asyncio.Event()
    rec2 = asyncio.create_task(record(settings, second, count=expected, ready=ready2))
    async with asyncio.timeout(10):
        await ready2.wait()
    assert await replay(settings, recording, speed=None) == expected
    async with asyncio.timeout(30):
        await rec2
    again = read_recording(second)
    assert [(m.topic, m.payload) for m in again] == [(m.topic, m.payload) for m in recording]


async def test_replay_keeps_the_original_gaps_scaled_by_speed(broker: Broker, topic_root: str) -> None:
    settings = settings_for(broker, topic_root)
    topic = f"{topic_root}/devices/x/telemetry"
    msgs = [Recorded(100.0 + i * 0.5, topic, f'{{"seq": {i}}}'.encode()) for i in range(5)]  # 2 s of traffic
    t0 = time.perf_counter()
    assert await replay(settings, msgs, speed=10) == 5
    assert 0.18 <= time.perf_counter() - t0 < 5  # 2 s / 10 (upper bound loose for loaded CI machines)


async def test_follow_goes_on_in_real_time_until_stopped(broker: Broker, topic_root: str) -> None:
    """After catching up, a follow run keeps publishing new readings; the stop event ends it cleanly.

    The injected clock runs 600 times faster than the wall clock, so ten simulated minutes pass in a second.
    """
    settings = settings_for(broker, topic_root)
    origin = time.time()

    def clock() -> float:
        return origin + (time.time() - origin) * 600

    engine = Engine(small_scenario(), seed=6, start=origin - 3600, end=origin)
    end_stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(origin + 600))
    collector = Collector()
    stop = asyncio.Event()
    async with client_for(settings, f"test-follow-{topic_root[-10:]}") as sub:
        await sub.subscribe(f"{topic_root}/devices/cgm-rex/telemetry", qos=1)
        task = asyncio.create_task(collector.run(sub))
        publisher = Publisher(settings, engine, speed=None, faults=Faults(), clock=clock)
        run = asyncio.create_task(publisher.run(follow=True, stop=stop))

        def fresh() -> bool:
            return any(
                r["time"] > end_stamp for m in collector.messages for r in orjson.loads(bytes(m.payload))["readings"]
            )

        await collector.wait_until(fresh, limit_s=20)
        stop.set()
        async with asyncio.timeout(20):
            counts = await run
        task.cancel()
    assert counts.messages >= len(collector.messages) > 0
