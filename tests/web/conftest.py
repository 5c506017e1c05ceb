"""Web page fixtures: the API tests' two clinics plus a day of CGM curve, insulin and meals, a horse with a feeder;
the app in-process (TestClient) or served for real by uvicorn (for the browser); Debian's Chromium through Playwright.

The browser is never downloaded: Playwright drives ``/usr/bin/chromium``. uvicorn listens on a socket bound and
listening before its thread starts, so the browser's first request waits in the backlog instead of a sleep loop.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import math
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Playwright, sync_playwright
from pydantic import SecretStr

from api._app import create_app
from api._delivery import DeliveryStats, run_delivery
from tests.api.conftest import PASSWORD, World, api_settings, world
from vigie import registry
from vigie.net import free_port
from vigie.settings import Settings

__all__ = ["PASSWORD", "World", "api_settings", "world"]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class WebWorld:
    """The API world plus what the web page shows: a horse of clinic A with a feeder."""

    world: World
    horse: str = "horse-a"

    @property
    def a(self) -> Any:
        return self.world.a

    @property
    def b(self) -> Any:
        return self.world.b


def _glucose_day(i: int) -> float:
    """mg/dL 4 to 24 h ago (5-min steps i = 48..287): ~280 before the injection 14 h ago, a nadir ~85 six hours after."""
    hours_ago = i * 5 / 60
    since_injection = 14.0 - hours_ago
    if since_injection < 0:
        return 280.0 + 5 * math.sin(i / 7)
    return 280.0 - 195.0 * math.sin(math.pi * min(since_injection, 12.0) / 12.0)


@pytest.fixture
def web_world(world: World, db_dsn: str) -> WebWorld:
    """Clinic A's cat gets a day of CGM curve with two insulin doses and meals; a horse with a feeder (data 9 h old)."""
    now = world.now
    a = world.a
    with psycopg.connect(db_dsn) as conn:
        rows: list[tuple[Any, ...]] = [
            (now - timedelta(minutes=5 * i), a.cat, "glucose", a.cgm, round(_glucose_day(i), 1)) for i in range(48, 288)
        ]
        for hours, dose, meal in ((14, 2.0, 40.0), (2, 2.5, 45.0)):
            at = now - timedelta(hours=hours, minutes=1)
            rows += [(at, a.cat, "insulin_dose", a.cgm, dose), (at, a.cat, "meal", a.cgm, meal)]
        for i in range(6, 42):  # three weeks of milkings of the cow (the world has the last 6), a Wood-like curve
            rows.append((now - timedelta(hours=12 * i), a.cow, "milk_yield", a.robot, round(14.0 + 0.05 * (42 - i), 2)))
        registry.add_animal(conn, "horse-a", species="horse", clinic=a.id, owner=a.owner, name="Tornade")
        registry.add_device(conn, "feeder-a", kind="feeder", animal="horse-a")
        for h in range(9, 10 * 24, 3):
            at = now - timedelta(hours=h)
            rows.append((at, "horse-a", "feed_intake", "feeder-a", 1.6 + 0.1 * math.sin(h)))
            if h % 6 == 0:
                rows.append((at, "horse-a", "water_intake", "feeder-a", 6.0))
        with (
            conn.cursor() as cur,
            cur.copy("COPY readings (time, animal_id, metric, device_id, value, clinic_id) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row((*row, a.id))
    return WebWorld(world)


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    """The real app (lifespan, pool, middleware) on the test database, in-process."""
    with TestClient(create_app(api_settings), follow_redirects=False) as c:
        yield c


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    match = CSRF_RE.search(html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


def log_in(client: TestClient, user: str, password: str = PASSWORD) -> str:
    """Log ``user`` in through the form; returns the session's CSRF token (from the next page)."""
    page = client.get("/login")
    assert page.status_code == 200
    r = client.post("/login", data={"username": user, "password": password, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    home = client.get(r.headers["location"])
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


@dataclass
class LiveServer:
    """The app served by uvicorn in a thread."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture
def live_server(api_settings: Settings) -> Iterator[LiveServer]:
    """The real app over real HTTP on a free loopback port, until the test ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts: no polling for readiness
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(api_settings), log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="web-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Playwright]:
    """Playwright's driver for the session."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (never a downloaded browser)."""
    b = playwright_session.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the browser tests save a screenshot of each page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class MailSink:
    """A real SMTP server (aiosmtpd, its own thread) that keeps what it receives: (recipients, parsed message)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd hook
        """Keep the message."""
        del server, session
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.received.append(([str(r) for r in envelope.rcpt_tos], message))
        return "250 OK"


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    """An SMTP server on a free loopback port for this test."""
    sink = MailSink()
    sink.controller.start()  # returns once the server answers
    yield sink
    sink.controller.stop()


def deliver_once(settings: Settings, sink: MailSink) -> DeliveryStats:
    """Run the delivery worker once (what ``vigie deliver --once`` does) against ``sink``; in its own thread, since
    Playwright's sync API owns this thread's event loop."""
    delivery = settings.model_copy(
        update={"smtp_url": SecretStr(f"smtp://127.0.0.1:{sink.port}"), "delivery_timeout_s": 5.0}
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run_delivery(delivery, stop=asyncio.Event(), once=True)).result(timeout=120)
