"""The worker's MQTT side: paho-mqtt 2.x driven by the asyncio event loop.

MQTT v5, ``manual_ack`` (a message is acknowledged only after its transaction commits), ``clean_start=False``
with a session expiry (unacknowledged and queued messages survive a worker restart), and a Receive Maximum that
bounds how many unacknowledged messages the broker hands us (backpressure). The socket is read through a
buffer (one ``recv`` per 64 KiB instead of three per message) and drained in bounded slices so that the loop stays
responsive.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.errors import BrokerError

logger = logging.getLogger(__name__)
READ_SLICE = 2000  # packets read per event-loop turn before yielding
RECV_SIZE = 65536
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message waiting for its commit: ack it with ``mid`` on connection ``generation``."""

    mid: int
    topic: str
    payload: bytes
    received_at: float
    generation: int
    qos: int


class _BufferedClient(paho.Client):
    """paho client whose socket reads go through a buffer, with a drain method for the event loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0

    def reset_buffer(self) -> None:
        self._rbuf, self._rpos = b"", 0

    def buffered(self) -> int:
        return len(self._rbuf) - self._rpos

    def _sock_recv(self, bufsize: int) -> bytes:
        pos, buf = self._rpos, self._rbuf
        if pos >= len(buf):
            data = super()._sock_recv(RECV_SIZE)  # raises BlockingIOError when nothing is there
            if not data:
                return data
            self._rbuf = buf = data
            pos = 0
        end = pos + bufsize
        self._rpos = end
        return buf[pos:end]

    def drain(self, budget: int) -> tuple[MQTTErrorCode, bool]:
        """Read up to ``budget`` packets; return (rc, drained) where drained means the socket is empty."""
        for _ in range(budget):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN, True
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS, True
            if rc > 0:
                return self._loop_rc_handle(rc), True
        return MQTTErrorCode.MQTT_ERR_SUCCESS, False


class MqttLink:
    """One persistent MQTT v5 session, owned by the worker's entry point (``async with``)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        username: str | None,
        password: str | None,
        topics: list[str],
        on_message: Callable[[Incoming], None],
        session_expiry_s: int,
        receive_maximum: int,
        keepalive_s: int = 30,
    ) -> None:
        self._host, self._port = host, port
        self._topics = topics
        self._deliver = on_message
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._keepalive_s = keepalive_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._lost = asyncio.Event()
        self.generation = 0
        self.session_present = False
        self.acks_sent = 0
        self._closing = False
        client = _BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if username is not None:
            client.username_pw_set(username, password)
        client.max_inflight_messages_set(65535)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._client = client

    # --- paho callbacks (run inside the event loop) ---------------------------------------------

    def _on_socket_open(self, client: paho.Client, _ud: object, sock: Any) -> None:
        assert self._loop is not None  # noqa: S101 - set by connect()
        self._client.reset_buffer()
        self._loop.add_reader(sock, self._read)

    def _on_socket_close(self, client: paho.Client, _ud: object, sock: Any) -> None:
        if self._loop is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    def _on_register_write(self, client: paho.Client, _ud: object, sock: Any) -> None:
        if self._loop is not None:
            self._loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, client: paho.Client, _ud: object, sock: Any) -> None:
        if self._loop is not None:
            self._loop.remove_writer(sock)

    def _read(self) -> None:
        _rc, drained = self._client.drain(READ_SLICE)
        if not drained or self._client.buffered():
            assert self._loop is not None  # noqa: S101
            self._loop.call_soon(self._read)

    def _on_connect(
        self, client: paho.Client, _ud: object, flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        if reason.is_failure:
            logger.error("broker refused the connection: %s", reason)
            self._lost.set()
            return
        self.generation += 1
        self.session_present = bool(flags.session_present)
        logger.info("connected to the broker (session present: %s)", self.session_present)
        self._lost.clear()
        self._connected.set()
        # subscribing again is harmless on a resumed session and needed on a new one
        self._subscribed.clear()
        client.subscribe([(t, 1) for t in self._topics])

    def _on_subscribe(
        self, client: paho.Client, _ud: object, _mid: int, reasons: list[ReasonCode], _p: Properties | None
    ) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            logger.error("subscription refused: %s", ", ".join(failed))
            self._lost.set()
            return
        self._subscribed.set()

    def _on_disconnect(
        self, client: paho.Client, _ud: object, _flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        self.generation += 1  # acks of messages from the old connection must not be sent on the new one
        self._connected.clear()
        self._subscribed.clear()
        self._lost.set()
        if self._closing:
            logger.info("disconnected from the broker")
        else:
            logger.warning("disconnected from the broker: %s", reason)

    def _on_message(self, client: paho.Client, _ud: object, msg: paho.MQTTMessage) -> None:
        payload = msg.payload  # bytes from the wire (paho types it bytes | bytearray)
        self._deliver(Incoming(msg.mid, msg.topic, payload, time.time(), self.generation, msg.qos))  # type: ignore[arg-type]

    # --- public -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and self._subscribed.is_set()

    async def wait_lost(self) -> None:
        """Return when the connection is lost."""
        await self._lost.wait()

    def ack(self, messages: list[Incoming]) -> int:
        """Acknowledge committed messages in arrival order; skip those of an older connection."""
        gen, client, sent = self.generation, self._client, 0
        for m in messages:
            if m.generation == gen and m.qos > 0:
                client.ack(m.mid, m.qos)
                sent += 1
        self.acks_sent += sent
        return sent

    def pause_reading(self) -> None:
        """Stop reading the socket (shutdown: nothing new is taken while the last batch drains)."""
        sock = self._client.socket()
        if self._loop is not None and sock is not None:
            self._loop.remove_reader(sock)

    async def connect(self) -> None:
        """Connect (or reconnect) and subscribe, within CONNECT_TIMEOUT_S."""
        self._loop = asyncio.get_running_loop()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = self._receive_maximum
        self._lost.clear()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self._loop.run_in_executor(None, self._blocking_connect, props)
                await self._connected.wait()
                await self._subscribed.wait()
        except (TimeoutError, OSError) as exc:
            self._client.disconnect()
            raise BrokerError(f"cannot reach the broker at {self._host}:{self._port}: {exc or 'timeout'}") from exc
        if self._lost.is_set():
            raise BrokerError("the broker refused the connection or the subscription")

    def _blocking_connect(self, props: Properties) -> None:
        self._client.connect(self._host, self._port, keepalive=self._keepalive_s, clean_start=False, properties=props)

    async def keepalive(self) -> None:
        """Run paho's housekeeping (pings, timeouts) once a second, forever."""
        while True:
            await asyncio.sleep(1.0)
            if self._client.socket() is not None:
                self._client.loop_misc()
            if self._client.want_write() and self._client.socket() is not None:
                self._client.loop_write()

    async def reconnect_forever(self, stop: asyncio.Event) -> None:
        """Reconnect with capped, jittered exponential backoff until connected or ``stop`` is set."""
        attempt = 0
        while not stop.is_set():
            attempt += 1
            delay = random.uniform(0.1, min(10.0, 0.5 * 1.5**attempt))  # noqa: S311 - jitter, not security
            logger.info("reconnecting to the broker in %.2f s (attempt %d)", delay, attempt)
            try:
                async with asyncio.timeout(delay):
                    await stop.wait()
            except TimeoutError:
                pass
            else:
                return
            try:
                await self.connect()
            except BrokerError as exc:
                logger.warning("%s", exc)
            else:
                return

    async def close(self) -> None:
        """Disconnect cleanly; the session (and any unacknowledged message) stays on the broker."""
        self._closing = True
        if self._client.socket() is not None:
            self._client.disconnect()
            self._client.loop_write()
        sock = self._client.socket()
        if isinstance(sock, socket.socket) and self._loop is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
