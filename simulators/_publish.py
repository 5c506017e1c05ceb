"""Publishing over MQTT as real devices do: one connection per device, retained status with a Last Will, QoS 1.

Time model: the timeline [end - duration, end] (end = now by default) is published at ``speed`` x real time, or at
once with ``speed=None`` ("max"), until it catches up with the wall clock; then, with ``follow``, the simulation goes
on in real time. A message is never published before the wall clock reaches its send time, so no timestamp is ever
in the future (unless a positive clock-skew fault asks for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiomqtt
import numpy as np

from simulators._engine import Engine
from simulators._faults import Faults, apply_to_messages, apply_to_readings
from simulators._output import Message, status_topic, to_messages
from simulators._time import Clock, system_clock
from simulators.errors import SimulatorError
from vigie.settings import Settings

logger = logging.getLogger(__name__)
MAX_IN_FLIGHT = 256
FOLLOW_STEP_S = 5.0

Progress = Callable[[int, int], None]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class PublishCounts:
    """What a run published."""

    messages: int = 0
    readings: int = 0
    duplicates: int = 0
    malformed: int = 0
    devices: int = 0
    by_device: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready counts."""
        return {
            "messages": self.messages,
            "readings": self.readings,
            "duplicates": self.duplicates,
            "malformed": self.malformed,
            "devices": self.devices,
        }


@dataclass(frozen=True, slots=True)
class Pacing:
    """Maps a send time of the timeline to the wall-clock time at which it is published."""

    start: float
    wall0: float
    speed: float | None  # None: as fast as possible

    def due(self, sent: float) -> float:
        """Wall time at which a message sent at ``sent`` goes out (never before ``sent`` itself)."""
        if self.speed is None:
            return sent
        return max(self.wall0 + (sent - self.start) / self.speed, sent)


def client_for(settings: Settings, client_id: str, *, will_topic: str | None = None) -> aiomqtt.Client:
    """An aiomqtt client for the settings' broker (with a retained ``offline`` Last Will on ``will_topic``)."""
    addr = settings.mqtt
    client_logger = logging.getLogger("simulators.aiomqtt")
    # aiomqtt warns at every publish beyond 10 in flight; the publisher keeps up to MAX_IN_FLIGHT on purpose
    client_logger.setLevel(logging.ERROR)
    will = aiomqtt.Will(will_topic, b"offline", qos=1, retain=True) if will_topic else None
    return aiomqtt.Client(
        addr.host,
        addr.port,
        username=addr.username,
        password=addr.password,
        identifier=client_id,
        will=will,
        logger=client_logger,
        max_inflight_messages=100,
        timeout=30,
    )


class Publisher:
    """Publishes a simulation run; one connection per device."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        speed: float | None,
        faults: Faults,
        clock: Clock = system_clock,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.speed = speed
        self.faults = faults
        self.clock = clock
        self.progress = progress
        self.counts = PublishCounts()
        fleet = engine.fleet
        self._bound = [d.bound for d in fleet.scenario.devices]
        self._seqs: dict[str, int] = {d: int(clock() * 1000) for d in fleet.device_ids}
        self._rng = np.random.default_rng([fleet.seed, 52])

    def _messages(self, lo: float, hi: float) -> list[Message]:
        fleet = self.engine.fleet
        readings = apply_to_readings(fleet, self.engine.sent_between(lo, hi), self.faults)
        messages = to_messages(
            readings,
            device_ids=fleet.device_ids,
            animal_ids=fleet.animal_ids,
            bound=self._bound,
            topic_root=self.settings.topic_root,
            seqs=self._seqs,
        )
        messages.sort(key=lambda m: m.sent)
        return apply_to_messages(messages, self.faults, self._rng)

    async def _wait_until(self, wall: float, stop: asyncio.Event) -> bool:
        """Wait until the clock reaches ``wall`` (re-read at least every 0.5 s); False if ``stop`` was set first."""
        while not stop.is_set():
            delay = wall - self.clock()
            if delay <= 0:
                return True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(delay, 0.5)):
                    await stop.wait()
        return False

    async def _send(
        self, clients: dict[str, aiomqtt.Client], messages: list[Message], pacing: Pacing, stop: asyncio.Event
    ) -> None:
        sem = asyncio.Semaphore(MAX_IN_FLIGHT)
        total = len(messages)

        async def one(msg: Message) -> None:
            try:
                await clients[msg.device].publish(msg.topic, msg.payload, qos=1)
            except aiomqtt.MqttError as exc:
                raise SimulatorError(f"publishing to {msg.topic} failed: {exc}") from exc
            finally:
                sem.release()
            self.counts.messages += 1
            self.counts.by_device[msg.device] = self.counts.by_device.get(msg.device, 0) + 1
            if msg.kind == "duplicate":
                self.counts.duplicates += 1
            elif msg.kind == "malformed":
                self.counts.malformed += 1
            else:
                self.counts.readings += msg.readings
            if self.progress is not None:
                self.progress(self.counts.messages, total)

        try:
            async with asyncio.TaskGroup() as tg:
                for msg in messages:
                    if not await self._wait_until(pacing.due(msg.sent), stop):
                        break
                    await sem.acquire()
                    tg.create_task(one(msg), name=f"simulate.publish-{msg.device}")
        except* SimulatorError as group:  # one line for the user, not an exception group
            raise group.exceptions[0] from None

    async def run(self, *, follow: bool = False, stop: asyncio.Event | None = None) -> PublishCounts:
        """Publish the timeline, then (``follow``) go on in real time until ``stop`` is set."""
        stop = stop or asyncio.Event()
        fleet = self.engine.fleet
        root = self.settings.topic_root
        run_id = uuid.uuid4().hex[:6]
        self.counts.devices = len(fleet.device_ids)
        try:
            async with contextlib.AsyncExitStack() as stack:
                clients: dict[str, aiomqtt.Client] = {}
                for device_id in fleet.device_ids:
                    client = client_for(
                        self.settings, f"vigie-sim-{device_id}-{run_id}", will_topic=status_topic(root, device_id)
                    )
                    clients[device_id] = await stack.enter_async_context(client)
                    await client.publish(status_topic(root, device_id), b"online", qos=1, retain=True)
                pacing = Pacing(fleet.start, self.clock(), self.speed)
                hi = fleet.end + 1
                messages = self._messages(fleet.start, hi)
                logger.info("publishing %d messages of %d devices", len(messages), len(clients))
                await self._send(clients, messages, pacing, stop)
                while follow and not stop.is_set():
                    lo, hi = hi, max(hi + FOLLOW_STEP_S, self.clock() - 1)
                    if not await self._wait_until(hi, stop):
                        break
                    await self._send(clients, self._messages(lo, hi), pacing, stop)
                    self.engine.forget(lo)
                for device_id, client in clients.items():
                    await client.publish(status_topic(root, device_id), b"offline", qos=1, retain=True)
        except aiomqtt.MqttError as exc:
            addr = self.settings.mqtt
            raise SimulatorError(f"MQTT broker {addr.host}:{addr.port}: {exc}") from exc
        return self.counts
