"""A fast QoS 1 MQTT publisher for benchmarks: raw MQTT 3.1.1 packets, written in large chunks.

paho's threaded publisher tops out at a few thousand QoS 1 messages a second on these machines, which would make
it the bottleneck of every measurement. This generator keeps up to ``window`` publishes in flight, writes them
in 64 KiB chunks and reads PUBACKs in bulk. It is a load generator only: devices and Vigie use real clients.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Sequence

WINDOW = 1000


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _remaining_length(len(body)) + body


def _connect_packet(client_id: str) -> bytes:
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(cid)) + cid
    return _packet(0x10, body)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def publish_all(  # noqa: PLR0915 - one tight loop, kept whole for speed
    host: str,
    port: int,
    topics: Sequence[str],
    payloads: Sequence[bytes],
    *,
    rate: float | None = None,
    probe: str | None = None,
    client_id: str = "vigie-loadgen",
    window: int = WINDOW,
) -> tuple[int, list[float]]:
    """Publish every (topic, payload) with QoS 1; return (acknowledged count, publish times of ``probe`` topics)."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(_connect_packet(client_id))
    connack = _recv_exact(sock, 4)
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"broker refused the connection: {connack!r}")
    sock.setblocking(False)  # noqa: FBT003 - stdlib signature
    n = len(payloads)
    topic_bytes: dict[str, bytes] = {}
    probe_times: list[float] = []
    out = bytearray()
    rbuf = b""
    sent = acked = 0
    t0 = time.perf_counter()

    def pump(block: bool) -> None:
        nonlocal out, rbuf, acked
        readable, writable, _ = select.select([sock], [sock] if out else [], [], 0.05 if block else 0)
        if writable and out:
            try:
                k = sock.send(out)
                del out[:k]
            except BlockingIOError:
                pass
        if readable:
            data = sock.recv(262144)
            if not data:
                raise ConnectionError("broker closed the connection")
            rbuf += data
            whole = len(rbuf) // 4 * 4  # PUBACK is 4 bytes: 0x40 0x02 id id
            acked += whole // 4
            rbuf = rbuf[whole:]

    while sent < n:
        if rate is not None:
            ahead = t0 + sent / rate - time.perf_counter()
            if ahead > 0:
                if out:
                    pump(block=False)
                time.sleep(min(ahead, 0.005))
                continue
        if sent - acked >= window or len(out) > 65536:
            pump(block=True)
            continue
        topic = topics[sent]
        tb = topic_bytes.get(topic)
        if tb is None:
            tb = topic_bytes[topic] = struct.pack("!H", len(topic.encode())) + topic.encode()
        if probe is not None and topic.endswith(probe):
            probe_times.append(time.time())
        pid = sent % 65535 + 1
        out += _packet(0x32, tb + struct.pack("!H", pid) + payloads[sent])
        sent += 1
        if rate is not None or len(out) > 65536:
            pump(block=False)
    deadline = time.monotonic() + 120
    while acked < n and time.monotonic() < deadline:
        pump(block=True)
    sock.setblocking(True)  # noqa: FBT003 - stdlib signature
    sock.sendall(b"\xe0\x00")
    sock.close()
    return acked, probe_times
