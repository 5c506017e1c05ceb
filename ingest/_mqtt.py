"""The worker's MQTT side: paho-mqtt 2.x driven by the asyncio event loop.

MQTT v5, ``manual_ack`` (a message is acknowledged only after its transaction commits), ``clean_start=False``
with a session expiry (unacknowledged and queued messages survive a worker restart), and a Receive Maximum that
bounds how many unacknowledged messages the broker hands us (backpressure). The bound is also enforced here:
Mosquitto 2.0 moves up to Receive Maximum more messages into flight on each acknowledgement, so once that many are
held the socket is not read until acknowledgements bring the count down to half (the rest waits in the broker's
queue). The socket is read through a buffer (one ``recv`` per 64 KiB instead of three per message) and drained in
bounded slices so that the loop stays responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable
from typing import Any, NoReturn

import paho.mqtt.client as paho
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest._received import Delivery, Incoming
from ingest.errors import BrokerError

__all__ = ["Delivery", "Incoming", "MqttLink"]  # Incoming: also the benchmarks' reader callback

logger = logging.getLogger(__name__)
READ_BYTES = 256 * 1024  # bytes read per event-loop turn before yielding to other tasks
RECV_SIZE = 65536
CONNECT_TIMEOUT_S = 10.0


# (topics, payloads, mids, number of QoS 0 messages) of the PUBLISH packets cut from one read
Publishes = Callable[[list[bytes], list[bytes], list[int], int], None]


class _FastClient(paho.Client):
    """paho client with a faster receive path and batched acknowledgements.

    paho reads a packet with three ``recv`` calls and decodes every MQTT v5 PUBLISH into a ``Properties`` object;
    profiling showed this to be three quarters of the worker's time. Here the socket is read in 64 KiB chunks
    and complete packets are cut from the buffer: the PUBLISH packets (QoS 0 or 1) of a read go to ``deliver`` as
    one set of lists, every other packet to paho's own handler (after the publishes cut before it, so that a
    callback of paho sees them delivered). Acknowledgements of a batch are written as one packet run.
    Relies on paho 2.1 to 2.2 internals (``_sock``, ``_in_packet``, ``_packet_handle``, ``_out_packet``); pinned in
    pyproject.toml and exercised by every ingest test.
    """

    def __init__(self, *args: Any, deliver: Publishes, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = bytearray()
        self._deliver_publishes = deliver

    def reset_buffer(self) -> None:
        self._rbuf = bytearray()

    def drain(self, max_bytes: int = READ_BYTES) -> tuple[MQTTErrorCode, bool]:
        """Read what the socket has (up to ``max_bytes``) and handle every complete packet.

        Returns (rc, drained); drained means the socket had nothing more to give.
        """
        sock = self._sock
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN, True
        drained, got = False, 0
        while got < max_bytes:
            try:
                data = sock.recv(RECV_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError):
                drained = True
                break
            except OSError:
                return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST), True
            if not data:
                return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST), True
            self._rbuf += data
            got += len(data)
        if drained and isinstance(sock, ssl.SSLSocket) and sock.pending():
            drained = False
        if got:
            with self._msgtime_mutex:
                self._last_bytes_received = time.monotonic()
        rc = self._process_buffer()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return self._loop_rc_handle(rc), True
        return MQTTErrorCode.MQTT_ERR_SUCCESS, drained

    def _process_buffer(self) -> MQTTErrorCode:  # noqa: PLR0915 - the hot loop, kept in one piece for speed
        data = bytes(self._rbuf)
        n, pos, rc = len(data), 0, MQTTErrorCode.MQTT_ERR_SUCCESS
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        topics: list[bytes] = []
        payloads: list[bytes] = []
        mids: list[int] = []
        qos0 = 0
        try:
            while pos + 2 <= n:
                first = data[pos]
                length = data[pos + 1]
                if length < 0x80:  # a one-byte remaining length: every packet under 128 bytes
                    i = pos + 2
                elif pos + 2 < n and data[pos + 2] < 0x80:  # two bytes: under 16 KiB
                    length = (length & 0x7F) | (data[pos + 2] << 7)
                    i = pos + 3
                else:
                    header = _varint(data, pos + 1, n)
                    if header is None:
                        break  # the remaining length itself is incomplete
                    length, i = header
                end = i + length
                if end > n:
                    break  # wait for the rest of the packet
                kind = first & 0xF6  # PUBLISH without its DUP and RETAIN flags
                if kind == 0x32 or kind == 0x30:  # QoS 1 or 0  # noqa: PLR1714 - two int compares beat a set
                    p = i + 2 + ((data[i] << 8) | data[i + 1])
                    topics.append(data[i + 2 : p])
                    if kind == 0x32:
                        mids.append((data[p] << 8) | data[p + 1])
                        p += 2
                    else:
                        mids.append(0)
                        qos0 += 1
                    if v5:  # skip the properties: Vigie reads none of them
                        plen = data[p]
                        if plen < 0x80:
                            p += 1 + plen
                        else:
                            props = _varint(data, p, end)
                            if props is None:
                                _malformed("truncated properties")
                            p = props[1] + props[0]
                    if p > end:
                        _malformed("PUBLISH shorter than its header")
                    payloads.append(data[p:end])
                else:
                    if mids:  # what came before this packet is delivered first
                        self._deliver_publishes(topics, payloads, mids, qos0)
                        topics, payloads, mids, qos0 = [], [], [], 0
                    rc = self._paho_handle(first, data[i:end])
                    if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                        pos = end
                        break
                pos = end
        except (IndexError, ValueError):
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        if mids:
            self._deliver_publishes(topics, payloads, mids, qos0)
        del self._rbuf[:pos]
        return rc

    def _paho_handle(self, command: int, body: bytes) -> MQTTErrorCode:
        self._in_packet = _in_packet(command, body)
        try:
            return self._packet_handle()
        except MalformedPacket:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        finally:
            self._in_packet = _in_packet(0, b"")

    def ack_run(self, mids: list[int]) -> None:
        """Queue PUBACKs (success, in the given order) as one write."""
        if not mids:
            return
        if self._protocol == MQTTProtocolVersion.MQTTv5:
            packet = b"".join(map(_PUBACK_V5.__getitem__, mids))
        else:
            packet = b"".join(b"\x40\x02" + mid.to_bytes(2, "big") for mid in mids)
        self._out_packet.append(
            {"command": PUBACK, "mid": 0, "qos": 0, "pos": 0, "to_process": len(packet), "packet": packet, "info": None}
        )
        self._call_socket_register_write()


def _malformed(what: str) -> NoReturn:
    raise ValueError(what)


def _varint(data: bytes, i: int, n: int) -> tuple[int, int] | None:
    """An MQTT variable byte integer at ``i``: (value, index after it), or None when the bytes stop first."""
    value, shift = 0, 0
    while i < n:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7
        if shift >= 28:
            raise ValueError("malformed variable byte integer")
    return None


def _in_packet(command: int, body: bytes) -> Any:
    return {
        "command": command,
        "have_remaining": 1 if command else 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": len(body),
        "packet": bytearray(body),
        "to_process": 0,
        "pos": 0,
    }


# PUBACK without reason code (success) nor properties, which MQTT v5 allows (section 3.4.2.1)
_PUBACK_V5 = [b"\x40\x02" + mid.to_bytes(2, "big") for mid in range(65536)]


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
        on_message: Callable[[Incoming], None] | None = None,
        on_delivery: Callable[[Delivery], None] | None = None,
        session_expiry_s: int,
        receive_maximum: int,
        keepalive_s: int = 30,
    ) -> None:
        self._host, self._port = host, port
        self._topics = topics
        if (on_message is None) == (on_delivery is None):
            raise ValueError("give on_message (one call per message) or on_delivery (one call per socket read)")
        self._on_message = on_message
        self._on_delivery = on_delivery
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
        self._fd: int | None = None
        self.held = 0  # QoS 1 messages of the current connection delivered and not yet acknowledged
        self._throttled = False  # reading stopped because ``held`` reached Receive Maximum
        self._stopped = False  # reading stopped for good (shutdown)
        client = _FastClient(
            CallbackAPIVersion.VERSION2,
            deliver=self._on_publishes,
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
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._client = client

    # --- paho callbacks (run inside the event loop) ---------------------------------------------

    # paho may report a socket that is already closed (after a reset, a write can close it on the way), so the
    # event loop registrations go by the file descriptor seen at open, and forgetting one that is gone is fine.

    def _on_socket_open(self, client: paho.Client, _ud: object, sock: Any) -> None:
        assert self._loop is not None  # noqa: S101 - set by connect()
        self._client.reset_buffer()
        self._fd = sock.fileno()
        self.held, self._throttled = 0, False  # a new connection: what was held will be sent again
        self._loop.add_reader(self._fd, self._read)

    def _on_socket_close(self, client: paho.Client, _ud: object, sock: Any) -> None:
        self._forget(reader=True, writer=True)
        self._fd = None

    def _on_register_write(self, client: paho.Client, _ud: object, sock: Any) -> None:
        if self._loop is not None and self._fd is not None:
            self._loop.add_writer(self._fd, client.loop_write)

    def _on_unregister_write(self, client: paho.Client, _ud: object, sock: Any) -> None:
        self._forget(reader=False, writer=True)

    def _forget(self, *, reader: bool, writer: bool) -> None:
        loop, fd = self._loop, self._fd
        if loop is None or fd is None:
            return
        with contextlib.suppress(ValueError, OSError, KeyError):
            if reader:
                loop.remove_reader(fd)
            if writer:
                loop.remove_writer(fd)

    def _read(self) -> None:
        if self._throttled or self._stopped:
            return
        _rc, drained = self._client.drain()
        if not drained and not self._throttled:  # more is waiting: come back after the other tasks had a turn
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

    def _on_publishes(self, topics: list[bytes], payloads: list[bytes], mids: list[int], qos0: int) -> None:
        # every message cut from a read is delivered; reading stops once Receive Maximum messages are held
        self.held += len(mids) - qos0
        if self.held >= self._receive_maximum and not self._throttled:
            self._throttled = True
            self._forget(reader=True, writer=False)
        delivery = Delivery(topics, payloads, mids, qos0, time.time(), self.generation)
        if self._on_delivery is not None:
            self._on_delivery(delivery)
        else:
            assert self._on_message is not None  # noqa: S101 - checked in __init__
            for msg in delivery.incoming():
                self._on_message(msg)

    # --- public -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and self._subscribed.is_set()

    async def wait_lost(self) -> None:
        """Return when the connection is lost."""
        await self._lost.wait()

    def ack(self, messages: list[Incoming]) -> int:
        """Acknowledge committed messages in arrival order; skip those of an older connection."""
        gen = self.generation
        return self._ack_ids([m.mid for m in messages if m.generation == gen and m.qos > 0])

    def ack_deliveries(self, deliveries: list[Delivery]) -> int:
        """Acknowledge the committed messages of ``deliveries`` in arrival order; skip those of an older connection."""
        gen = self.generation
        mids: list[int] = []
        for d in deliveries:
            if d.generation == gen:
                mids += d.ack_ids()
        return self._ack_ids(mids)

    def _ack_ids(self, mids: list[int]) -> int:
        if self._client.socket() is not None:
            self._client.ack_run(mids)
        self.acks_sent += len(mids)
        self.held = max(0, self.held - len(mids))
        if self._throttled and self.held <= self._receive_maximum // 2:
            self._throttled = False
            if not self._stopped and self._loop is not None and self._fd is not None:
                self._loop.add_reader(self._fd, self._read)
                self._loop.call_soon(self._read)  # what is already buffered needs no new data to be delivered
        return len(mids)

    def pause_reading(self) -> None:
        """Stop reading the socket (shutdown: nothing new is taken while the last batch drains)."""
        self._stopped = True
        self._forget(reader=True, writer=False)

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
                await self._handshake()
        except (TimeoutError, OSError) as exc:
            self._client.disconnect()
            raise BrokerError(f"cannot reach the broker at {self._host}:{self._port}: {exc or 'timeout'}") from exc
        if self._lost.is_set():
            raise BrokerError("the broker refused the connection or the subscription")

    async def _handshake(self) -> None:
        """Wait until connected and subscribed, or until the connection is refused or lost on the way (a reset during
        the handshake must not cost the whole CONNECT_TIMEOUT_S)."""

        async def ready() -> None:
            await self._connected.wait()
            await self._subscribed.wait()

        waiters = [asyncio.ensure_future(ready()), asyncio.ensure_future(self._lost.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

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
        self._forget(reader=True, writer=True)
