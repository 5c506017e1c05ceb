"""The ceilings ``vigie bench ingest`` measures beside Vigie, on the same broker and database: C clients through
the broker, a counting subscriber (plain paho, or Vigie's own reader), and binary COPY into the hypertable."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest._bench_env import DEVICES, BenchEnv, make_corpus, receive, run_publisher, spawn
from ingest.errors import IngestError


def _counter(port: int, root: str, n: int, qos: int, protocol: MQTTProtocolVersion, out: Connection) -> None:
    """The receive ceiling: a plain paho subscriber that only counts."""
    state = {"count": 0, "first": 0.0, "last": 0.0}

    def on_message(client: paho.Client, _ud: object, _msg: paho.MQTTMessage) -> None:
        if state["count"] == 0:
            state["first"] = time.perf_counter()
        state["count"] += 1
        if state["count"] >= n:
            state["last"] = time.perf_counter()
            client.disconnect()

    def on_connect(client: paho.Client, *_a: object) -> None:
        client.subscribe(f"{root}/devices/+/telemetry", qos=qos)

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-count-{os.getpid()}", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_message, client.on_connect = on_message, on_connect
    client.on_subscribe = lambda *_a: out.send("ready")
    client.connect("127.0.0.1", port)
    client.loop_forever()
    out.send((state["count"], state["last"] - state["first"]))


def _vigie_counter(port: int, root: str, n: int, out: Connection) -> None:
    """A stricter ceiling: Vigie's own receive path (MQTT v5, QoS 1, one delivery per socket read as the worker
    takes them, acks in runs) counting only."""
    import asyncio  # noqa: PLC0415

    from ingest._mqtt import MqttLink  # noqa: PLC0415
    from ingest._received import Delivery  # noqa: PLC0415

    async def main() -> tuple[int, float]:
        got: list[Delivery] = []
        state = {"count": 0, "first": 0.0}
        done = asyncio.Event()

        def on_delivery(delivery: Delivery) -> None:
            if not state["count"]:
                state["first"] = time.perf_counter()
            state["count"] += len(delivery)
            got.append(delivery)
            if state["count"] >= n:
                done.set()

        link = MqttLink(
            host="127.0.0.1",
            port=port,
            client_id=f"bench-vcount-{os.getpid()}",
            username=None,
            password=None,
            topics=[f"{root}/devices/+/telemetry"],
            on_delivery=on_delivery,
            session_expiry_s=0,
            receive_maximum=20000,
        )
        await link.connect()
        out.send("ready")
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.005):
                    await done.wait()
            link.ack_deliveries(got)
            got.clear()
        seconds = time.perf_counter() - state["first"]
        await link.close()
        return int(state["count"]), seconds

    out.send(asyncio.run(main()))


def _subscriptions_logged(env: BenchEnv, client_id: str) -> int:
    text = env.broker_log.read_text() if env.broker_log.exists() else ""
    return text.count(f" {client_id} ")


def measure_c_ceiling(env: BenchEnv, n: int, qos: int) -> float:
    """msg/s delivered by the broker between C clients: ``mosquitto_pub -l`` of ``n`` lines → ``mosquitto_sub -C n``."""
    pub, sub = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
    if pub is None or sub is None:
        raise IngestError("benchmark: mosquitto_pub / mosquitto_sub not found (Debian package mosquitto-clients)")
    corpus = make_corpus("bench/c", min(n, 2000), 1, time.time() - 86400)
    lines = env.workdir / "lines.txt"
    with lines.open("wb") as out:
        for i in range(n):
            out.write(corpus.payloads[i % len(corpus.payloads)] + b"\n")
    topic = "bench/c/devices/bench-0/telemetry"
    port = str(env.port)
    before = _subscriptions_logged(env, f"csub-{qos}")
    receiver = subprocess.Popen(
        [sub, "-h", "127.0.0.1", "-p", port, "-t", topic, "-q", str(qos), "-C", str(n), "-i", f"csub-{qos}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30  # mosquitto_sub has no "ready" signal: the broker logs the subscription
    while _subscriptions_logged(env, f"csub-{qos}") <= before:
        if time.monotonic() > deadline or receiver.poll() is not None:
            receiver.kill()
            raise IngestError("benchmark: mosquitto_sub did not subscribe within 30 s")
        time.sleep(0.02)
    t0 = time.perf_counter()
    with lines.open("rb") as stdin:
        subprocess.run(
            [pub, "-h", "127.0.0.1", "-p", port, "-t", topic, "-q", str(qos), "-M", "1000", "-l", "-i", f"cpub-{qos}"],
            stdin=stdin,
            check=True,
            timeout=300,
        )
    try:
        receiver.wait(timeout=120)
    except subprocess.TimeoutExpired as exc:
        receiver.kill()
        raise IngestError(f"benchmark: mosquitto_sub did not receive {n} messages") from exc
    return n / (time.perf_counter() - t0)


def measure_receive_ceiling(env: BenchEnv, n: int, qos: int, protocol: MQTTProtocolVersion | None) -> float:
    """msg/s of a subscriber that only counts (plain paho, or Vigie's reader when ``protocol`` is None),
    with the publisher running alongside."""
    corpus = make_corpus("bench/ceiling", n, 1, time.time() - 86400)
    if protocol is None:
        counter, counter_out = spawn(_vigie_counter, env.port, "bench/ceiling", n)
    else:
        counter, counter_out = spawn(_counter, env.port, "bench/ceiling", n, qos, protocol)
    receive(counter_out, 30, "the counting subscriber")  # subscribed
    publisher, pub_out = spawn(
        run_publisher,
        env.port,
        corpus,
        None,
        "-",
    )
    reply: tuple[int, float] = receive(counter_out, 300, "the counting subscriber")  # type: ignore[assignment]
    got, seconds = reply
    receive(pub_out, 300, "the publisher")
    publisher.join(10)
    counter.join(10)
    if got < n:
        raise IngestError(f"benchmark: the counting subscriber received {got} of {n}")
    return n / seconds


def measure_copy_ceiling(env: BenchEnv, rows: int, batch: int = 5000) -> float:
    """rows/s of binary COPY into the hypertable, one transaction per ``batch`` rows."""
    start = time.time() - 86400
    data = [
        (
            datetime.fromtimestamp(start + i * 0.25, UTC),
            f"bench-{i % DEVICES}",
            f"dog-{i % DEVICES}",
            "glucose",
            100.0 + i % 200,
            "bench",
            i // DEVICES,
        )
        for i in range(rows)
    ]
    env.reset()
    with psycopg.connect(env.dsn) as conn:
        t0 = time.perf_counter()
        for lo in range(0, rows, batch):
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY readings (time, device_id, animal_id, metric, value, clinic_id, seq) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(["timestamptz", "text", "text", "text", "float8", "text", "int8"])
                for row in data[lo : lo + batch]:
                    copy.write_row(row)
            conn.commit()
        seconds = time.perf_counter() - t0
    env.reset()
    return rows / seconds
