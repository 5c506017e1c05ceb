"""`vigie dashboards push` against a local HTTP server that answers like Grafana's API and records every request."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards import JSON_DIR
from tests.conftest import free_port

RunCli = Callable[..., tuple[int, str, str]]
TOKEN = "glsa_test_token"  # noqa: S105 - the fake server's token


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGrafana:
    """The state of the fake server: folders, dashboards (with versions) and the requests received."""

    url: str = ""
    folders: dict[str, str] = field(default_factory=dict)
    dashboards: dict[str, tuple[int, dict[str, Any], str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    html: bool = False  # answer like a web server that is not Grafana
    dashboard_error: tuple[int, str] | None = None  # answer POST /api/dashboards/db with this status and message


def _handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            state.requests.append(Request(self.command, self.path, dict(self.headers.items()), body))
            if state.html:
                page = b"<html>not grafana</html>"
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"message": "Unauthorized"})
                return
            if self.command == "GET" and self.path.startswith("/api/folders/"):
                uid = self.path.rsplit("/", 1)[1]
                if uid in state.folders:
                    self._answer(200, {"uid": uid, "title": state.folders[uid], "id": 7})
                else:
                    self._answer(404, {"message": "folder not found", "status": "not-found"})
            elif self.command == "POST" and self.path == "/api/folders":
                state.folders[body["uid"]] = body["title"]
                self._answer(200, {"uid": body["uid"], "title": body["title"], "id": 7})
            elif self.command == "POST" and self.path == "/api/dashboards/db" and state.dashboard_error:
                status, message = state.dashboard_error
                self._answer(status, {"message": message})
            elif self.command == "POST" and self.path == "/api/dashboards/db":
                dash = body["dashboard"]
                uid = dash["uid"]
                if uid in state.dashboards and not body.get("overwrite"):
                    self._answer(
                        412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
                    )
                    return
                version = state.dashboards[uid][0] + 1 if uid in state.dashboards else 1
                state.dashboards[uid] = (version, dash, body["folderUid"])
                self._answer(200, {"id": 1, "uid": uid, "url": f"/d/{uid}/x", "status": "success", "version": version})
            else:
                self._answer(404, {"message": "Not found"})

        do_GET = do_POST = _serve  # noqa: N815 - http.server's naming

    return Handler


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    state = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-grafana", daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _committed() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(JSON_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        out[data["uid"]] = data
    return out


def test_push_creates_the_folder_once_and_overwrites_by_uid(grafana: FakeGrafana, run_cli: RunCli) -> None:
    code, out, err = run_cli("dashboards", "push", "--url", grafana.url, "--token", TOKEN)
    assert code == 0, err
    first = [(r.method, r.path) for r in grafana.requests]
    assert first[:2] == [("GET", "/api/folders/vigie"), ("POST", "/api/folders")]
    assert first[2:] == [("POST", "/api/dashboards/db")] * 5
    assert grafana.requests[1].body == {"title": "Vigie", "uid": "vigie"}
    committed = _committed()
    for r in grafana.requests:
        assert r.headers["Authorization"] == f"Bearer {TOKEN}"
    for r in grafana.requests[2:]:
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.body["overwrite"] is True
        assert r.body["folderUid"] == "vigie"
        assert r.body["dashboard"] == committed[r.body["dashboard"]["uid"]]
        assert "id" not in r.body["dashboard"]
    assert set(grafana.dashboards) == set(committed)
    assert "5 dashboards in folder 'Vigie'" in out

    grafana.requests.clear()
    code, out, err = run_cli("dashboards", "push", "--url", grafana.url + "/", "--token", TOKEN)
    assert code == 0, err
    second = [(r.method, r.path) for r in grafana.requests]
    assert second == [("GET", "/api/folders/vigie")] + [("POST", "/api/dashboards/db")] * 5  # no second folder
    assert grafana.folders == {"vigie": "Vigie"}
    assert {uid: (v, folder) for uid, (v, _, folder) in grafana.dashboards.items()} == dict.fromkeys(
        committed, (2, "vigie")
    )
    assert {uid: d for uid, (_, d, _) in grafana.dashboards.items()} == committed  # same content, replaced in place
    assert "version 2" in out


def test_push_into_another_folder(grafana: FakeGrafana, run_cli: RunCli) -> None:
    code, _, err = run_cli("dashboards", "push", "--url", grafana.url, "--token", TOKEN, "--folder", "Élevage Martin")
    assert code == 0, err
    assert grafana.folders == {"levage-martin": "Élevage Martin"}
    assert {folder for _, _, folder in grafana.dashboards.values()} == {"levage-martin"}


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1
    assert out == ""
    assert err.startswith("vigie: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    return err


def test_refused_token_is_one_line(grafana: FakeGrafana, run_cli: RunCli) -> None:
    err = _one_line_error(*run_cli("dashboards", "push", "--url", grafana.url, "--token", "wrong"))
    assert "refused the token (401 Unauthorized)" in err
    assert [(r.method, r.path) for r in grafana.requests] == [("GET", "/api/folders/vigie")]  # stopped at once
    assert grafana.dashboards == {}


def test_unreachable_server_is_one_line(run_cli: RunCli) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    err = _one_line_error(*run_cli("dashboards", "push", "--url", url, "--token", TOKEN, "--timeout", "3"))
    assert f"cannot reach Grafana at {url}" in err


@pytest.mark.parametrize("url", ["localhost:3000", "ftp://grafana.example", "http://", "http://host:notaport"])
def test_bad_url_is_one_line(url: str, run_cli: RunCli) -> None:
    err = _one_line_error(*run_cli("dashboards", "push", "--url", url, "--token", TOKEN))
    assert "Grafana URL" in err or "bad port" in err


def test_a_server_that_is_not_grafana_is_one_line(grafana: FakeGrafana, run_cli: RunCli) -> None:
    grafana.html = True
    err = _one_line_error(*run_cli("dashboards", "push", "--url", grafana.url, "--token", TOKEN))
    assert "did not answer like Grafana's HTTP API" in err


def test_empty_token_is_refused_before_any_request(grafana: FakeGrafana, run_cli: RunCli) -> None:
    err = _one_line_error(*run_cli("dashboards", "push", "--url", grafana.url, "--token", " "))
    assert "empty API token" in err
    assert grafana.requests == []


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (403, "Access denied", "refused the request (403 Forbidden): the token needs the Editor role"),
        (500, "database is locked", "refused the request: Server Error 500: database is locked"),
        (412, "version-mismatch", "refused the request: Client Error 412: version-mismatch"),
    ],
)
def test_refused_upload_is_one_line(
    grafana: FakeGrafana, run_cli: RunCli, status: int, message: str, expected: str
) -> None:
    grafana.dashboard_error = (status, message)
    err = _one_line_error(*run_cli("dashboards", "push", "--url", grafana.url, "--token", TOKEN))
    assert expected in err
    assert [(r.method, r.path) for r in grafana.requests][-1] == ("POST", "/api/dashboards/db")  # the first upload
