"""The worker's packet splitter, fed bytes directly (no broker): fragments, properties, malformed packets."""

from __future__ import annotations

import struct

import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from ingest._mqtt import Delivery, Incoming, MqttLink, _FastClient, _varint


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: str, payload: bytes, mid: int, *, qos: int = 1, props: bytes | None = b"") -> bytes:
    body = struct.pack("!H", len(topic)) + topic.encode()
    if qos:
        body += struct.pack("!H", mid)
    if props is not None:  # MQTT v5: property length + properties
        body += varint(len(props)) + props
    body += payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


def client(protocol: MQTTProtocolVersion) -> tuple[_FastClient, list[tuple[int, bytes, bytes, int]]]:
    """A reader whose deliveries are flattened to (mid, topic, payload, qos), checking each delivery's lists."""
    got: list[tuple[int, bytes, bytes, int]] = []

    def deliver(topics: list[bytes], payloads: list[bytes], mids: list[int], qos0: int) -> None:
        assert len(topics) == len(payloads) == len(mids) > 0
        assert qos0 == mids.count(0)
        got.extend((mid, t, p, 1 if mid else 0) for t, p, mid in zip(topics, payloads, mids, strict=True))

    c = _FastClient(CallbackAPIVersion.VERSION2, protocol=protocol, manual_ack=True, deliver=deliver)
    return c, got


def test_varint() -> None:
    for n in (0, 1, 127, 128, 16383, 16384, 268_435_455):
        enc = varint(n)
        assert _varint(enc, 0, len(enc)) == (n, len(enc))
    assert _varint(b"\x80", 0, 1) is None  # incomplete
    with pytest.raises(ValueError, match="malformed"):
        _varint(b"\xff\xff\xff\xff\x01", 0, 5)


def test_v5_publishes_fed_byte_by_byte_are_cut_whole() -> None:
    c, got = client(MQTTProtocolVersion.MQTTv5)
    big = b"x" * 300  # a two-byte remaining length
    stream = publish("a/b", b'{"v":1}', 7, props=b"\x01\x01") + publish("c", big, 8) + publish("q0", b"zero", 0, qos=0)
    for byte in stream:
        c._rbuf += bytes([byte])
        assert c._process_buffer() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert got == [(7, b"a/b", b'{"v":1}', 1), (8, b"c", big, 1), (0, b"q0", b"zero", 0)]
    assert c._rbuf == bytearray()


def test_v311_publish_has_no_properties() -> None:
    c, got = client(MQTTProtocolVersion.MQTTv311)
    c._rbuf += publish("t", b"p", 65535, props=None) + publish("t", b"half", 2, props=None)[:5]
    assert c._process_buffer() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert got == [(65535, b"t", b"p", 1)]
    assert len(c._rbuf) == 5  # the incomplete packet waits for its end


def test_a_publish_shorter_than_its_header_is_a_protocol_error() -> None:
    c, got = client(MQTTProtocolVersion.MQTTv5)
    body = struct.pack("!H", 50) + b"short"  # topic length says 50, packet has 5
    c._rbuf += bytes([0x32]) + varint(len(body)) + body
    assert c._process_buffer() == MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert got == []


def test_other_packets_go_to_paho() -> None:
    c, got = client(MQTTProtocolVersion.MQTTv5)
    c._rbuf += b"\xd0\x00"  # PINGRESP
    c._ping_t = 123.0
    assert c._process_buffer() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert c._ping_t == 0  # paho's handler ran
    assert got == []


def test_acks_are_written_as_one_run_in_order() -> None:
    c, _ = client(MQTTProtocolVersion.MQTTv5)
    c._sock = object()  # type: ignore[assignment]  # ack_run only queues; nothing is sent here
    c._registered_write = True
    c.ack_run([3, 1, 2])
    (pkt,) = c._out_packet
    assert pkt["packet"] == b"\x40\x02\x00\x03\x40\x02\x00\x01\x40\x02\x00\x02"
    c._sock = None


def test_long_packets_and_long_properties() -> None:
    c, got = client(MQTTProtocolVersion.MQTTv5)
    huge = b"y" * 20000  # a three-byte remaining length
    props = b"\x26" + b"\x00\x03key" + b"\x00\x7fv" + b"v" * 126  # a user property: 136 bytes of properties
    stream = publish("a", huge, 1) + publish("b", b"p", 2, props=props) + publish("c", b"q", 3)
    c._rbuf += stream
    assert c._process_buffer() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert got == [(1, b"a", huge, 1), (2, b"b", b"p", 1), (3, b"c", b"q", 1)]


def test_publishes_before_another_packet_are_delivered_before_paho_handles_it() -> None:
    order: list[str] = []

    def deliver(topics: list[bytes], payloads: list[bytes], mids: list[int], qos0: int) -> None:
        order.append("deliver " + ",".join(t.decode() for t in topics))

    c = _FastClient(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True, deliver=deliver)
    handled = c._paho_handle

    def paho_handle(command: int, body: bytes) -> MQTTErrorCode:
        order.append(f"paho {command:#x}")
        return handled(command, body)

    c._paho_handle = paho_handle  # type: ignore[method-assign]
    c._rbuf += publish("a", b"1", 1) + publish("b", b"2", 2) + b"\xd0\x00" + publish("c", b"3", 3)
    assert c._process_buffer() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert order == ["deliver a,b", "paho 0xd0", "deliver c"]


def test_deliveries_are_acknowledged_by_generation_and_qos() -> None:
    link = MqttLink(
        host="127.0.0.1",
        port=1,
        client_id="t",
        username=None,
        password=None,
        topics=[],
        on_delivery=lambda d: None,
        session_expiry_s=60,
        receive_maximum=10,
    )
    link.generation = 2
    old = Delivery([b"t"], [b"p"], [5], 0, 0.0, 1)
    mixed = Delivery([b"t", b"t", b"t"], [b"p", b"q", b"r"], [7, 0, 8], 1, 0.0, 2)
    assert mixed.ack_ids() == [7, 8]
    assert link.ack_deliveries([old, mixed]) == 2  # the old connection's message is not acknowledged here
    assert [(m.mid, m.topic, m.payload, m.qos) for m in mixed.incoming()] == [
        (7, "t", b"p", 1),
        (0, "t", b"q", 0),
        (8, "t", b"r", 1),
    ]


def test_receive_maximum_stops_reading_until_acks_bring_the_count_down() -> None:
    got: list[Incoming] = []
    link = MqttLink(
        host="127.0.0.1",
        port=1,
        client_id="t",
        username=None,
        password=None,
        topics=[],
        on_message=got.append,  # one call per message, as the benchmarks' reader uses it
        session_expiry_s=60,
        receive_maximum=4,
    )
    link._on_publishes([b"a", b"b", b"c"], [b"1", b"2", b"3"], [1, 2, 0], 1)
    assert (link.held, link._throttled) == (2, False)
    link._on_publishes([b"d", b"e"], [b"4", b"5"], [3, 4], 0)
    assert (link.held, link._throttled) == (4, True)  # the whole read is delivered, then reading stops
    assert [m.payload for m in got] == [b"1", b"2", b"3", b"4", b"5"]
    link.ack(got[:2])
    assert (link.held, link._throttled) == (2, False)  # half of Receive Maximum: reading resumes
    with pytest.raises(ValueError, match="on_message"):
        MqttLink(
            host="h",
            port=1,
            client_id="t",
            username=None,
            password=None,
            topics=[],
            session_expiry_s=60,
            receive_maximum=4,
        )
