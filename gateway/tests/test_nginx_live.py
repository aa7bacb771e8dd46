"""The generated nginx.conf, run by a real nginx in front of stand-in services.

Stand-ins: membership, booking and billing echo what they received; integrations accepts the
connection and hangs up (or, for a path containing "slow", says nothing until nginx gives up);
nothing listens for notifications.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from club_gateway import nginx as gen
from club_gateway import openapi

ECHOED = ("membership", "booking", "billing")


def echo_app(service: str):
    @Request.application
    def app(request: Request) -> Response:
        body = {
            "service": service,
            "path": request.full_path if request.query_string else request.path,
            "method": request.method,
            "request_id": request.headers.get("X-Request-ID"),
            "connection": request.headers.get("Connection"),
            "forwarded_for": request.headers.get("X-Forwarded-For"),
            "protocol": request.environ.get("SERVER_PROTOCOL"),
            "body_length": len(request.get_data()),
        }
        # Services echo the id themselves; the gateway must not send it twice.
        return Response(
            json.dumps(body), mimetype="application/json", headers={"X-Request-ID": "from-service"}
        )

    return app


class Hangup:
    """A TCP server that reads a request and closes without answering (or stalls first)."""

    def __init__(self, stall_seconds: float):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stall_seconds = stall_seconds
        self.stopping = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket):
        with conn:
            conn.settimeout(5)
            try:
                head = conn.recv(65536)
            except OSError:
                return
            if b"slow" in head.split(b"\r\n", 1)[0]:
                self.stopping.wait(self.stall_seconds)

    def close(self):
        self.stopping.set()
        self.sock.close()


class Nginx:
    def __init__(self, binary: str, options: gen.Options, user: str | None = None):
        # mkdtemp is 0700; nginx's workers drop to `nobody` when the tests run as root.
        self.prefix = Path(tempfile.mkdtemp(prefix="club-nginx-"))
        self.prefix.chmod(0o755)
        self.options = replace(options, access_log=str(self.prefix / "access.log"))
        conf = gen.prepare(self.prefix, self.options)
        self.base = f"http://{self.options.listen}"
        command = [binary, "-p", str(self.prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]
        if user:
            shutil.chown(self.prefix, user)
            command = ["runuser", "-u", user, "--", *command]
        self.process = subprocess.Popen(
            command,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.process.stderr.read()}")
            try:
                requests.get(self.base + "/healthz", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start listening")

    def access_log(self) -> list[dict]:
        path = self.prefix / "access.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def upstreams(free_port):
    servers = {name: make_server("127.0.0.1", 0, echo_app(name), threaded=True) for name in ECHOED}
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    hangup = Hangup(stall_seconds=3)
    addresses = {name: f"127.0.0.1:{server.server_port}" for name, server in servers.items()}
    addresses["integrations"] = f"127.0.0.1:{hangup.port}"
    addresses["notifications"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    yield addresses
    for server in servers.values():
        server.shutdown()
    hangup.close()


@pytest.fixture(scope="module")
def start_nginx(nginx_bin, free_port, upstreams):
    started = []

    def start(**changes) -> Nginx:
        options = gen.Options(
            listen=f"127.0.0.1:{free_port()}",
            upstreams=upstreams,
            worker_processes="1",
            read_timeout="1s",
            **changes,
        )
        server = Nginx(nginx_bin, options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def gw(start_nginx) -> Nginx:
    return start_nginx()


def assert_problem(response: requests.Response, status: int):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:clubhouse:problem:")
    assert body["title"] and body["detail"] and body["code"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/members/42", "membership"),
        ("/api/v1/auth", "membership"),
        ("/api/v1/auth?next=%2Fhome", "membership"),
        ("/api/v1/booking-requests/7/approve", "booking"),
        ("/api/v1/availability?date=2025-06-01", "booking"),
        ("/api/v1/webhooks/stripe", "billing"),
        ("/api/v1/billing", "billing"),
        ("/api/v1/billing-groups/3", "membership"),
    ],
)
def test_routes_by_prefix_and_passes_the_path_unchanged(gw, path, service):
    response = requests.get(gw.base + path, timeout=5)
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["service"] == service
    assert echoed["path"] == path


def test_keeps_upstream_connections_alive(gw):
    echoed = requests.get(gw.base + "/api/v1/members", headers={"Connection": "close"}, timeout=5).json()
    assert echoed["protocol"] == "HTTP/1.1"
    assert echoed["connection"] is None
    assert echoed["forwarded_for"] == "127.0.0.1"


def test_request_id_is_made_passed_on_and_echoed_once(gw):
    response = requests.get(gw.base + "/api/v1/members", timeout=5)
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert response.json()["request_id"] == request_id
    assert response.raw.headers.getlist("X-Request-ID") == [request_id]


def test_client_request_id_is_kept(gw):
    response = requests.get(gw.base + "/api/v1/members", headers={"X-Request-ID": "abc-123.x:y"}, timeout=5)
    assert response.headers["X-Request-ID"] == "abc-123.x:y"
    assert response.json()["request_id"] == "abc-123.x:y"


def test_unsafe_client_request_id_is_replaced(gw):
    response = requests.get(gw.base + "/api/v1/members", headers={"X-Request-ID": 'a" b'}, timeout=5)
    assert response.headers["X-Request-ID"] != 'a" b'
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/authx", "/api/v1/webhooks", "/api/v1/webhooks/other", "/", "/x.json"]
)
def test_unknown_path_is_404_problem(gw, path):
    assert_problem(requests.get(gw.base + path, timeout=5), 404)


def test_request_id_in_problem_body_is_the_clients(gw):
    response = requests.get(gw.base + "/api/v1/nope", headers={"X-Request-ID": "req-1"}, timeout=5)
    assert assert_problem(response, 404)["request_id"] == "req-1"


def test_body_over_1mb_is_413_problem(gw):
    response = requests.post(
        gw.base + "/api/v1/members",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert_problem(response, 413)


def test_body_under_1mb_reaches_the_service(gw):
    response = requests.post(gw.base + "/api/v1/members", data=b"x" * 900_000, timeout=10)
    assert response.json()["body_length"] == 900_000


def test_a_request_line_longer_than_nginx_reads_is_414_problem(gw):
    response = requests.get(gw.base + "/api/v1/members?q=" + "a" * 9000, timeout=5)
    assert_problem(response, 414)


def test_problem_pages_are_not_reachable_from_outside(gw):
    assert_problem(requests.get(gw.base + "/_club/problems/500", timeout=5), 404)


@pytest.mark.parametrize("coding", ["_", "gzip", "chunked, gzip"])
def test_a_transfer_coding_nginx_cannot_read_is_400_problem(gw, coding):
    """nginx's own answer is a 501 HTML page; the body's length is unknown, a 400 (RFC 9112 § 6.1)."""
    response = requests.post(
        gw.base + "/api/v1/members", data=b"0", headers={"Transfer-Encoding": coding}, timeout=5
    )
    assert_problem(response, 400)


def test_service_down_is_503_problem(gw):
    response = requests.get(gw.base + "/api/v1/notifications", timeout=5)
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"


def test_service_hanging_up_is_502_problem(gw):
    assert_problem(requests.get(gw.base + "/api/v1/tours", timeout=5), 502)


def test_service_too_slow_is_504_problem(gw):
    assert_problem(requests.get(gw.base + "/api/v1/tours/slow", timeout=10), 504)


def test_healthz_is_answered_by_nginx(gw):
    response = requests.get(gw.base + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert response.headers["X-Request-ID"]


def test_openapi_and_docs_are_static(gw):
    spec = requests.get(gw.base + "/openapi.json", timeout=5)
    assert spec.status_code == 200
    assert spec.headers["Content-Type"] == "application/json"
    assert spec.json() == openapi.merge(openapi.load_specs())
    for path in ("/docs", "/docs/"):
        page = requests.get(gw.base + path, timeout=5)
        assert page.status_code == 200
        assert page.headers["Content-Type"] == "text/html"
        assert "/docs/swagger-ui/swagger-ui-bundle.js" in page.text
    init = requests.get(gw.base + "/docs/init.js", timeout=5)
    assert '"/openapi.json"' in init.text
    bundle = requests.get(gw.base + "/docs/swagger-ui/swagger-ui-bundle.js", timeout=5)
    assert bundle.status_code == 200
    assert bundle.headers["Content-Type"] == "application/javascript"
    assert_problem(requests.get(gw.base + "/docs/swagger-ui/nope.js", timeout=5), 404)


def test_access_log_is_json_with_request_id(gw):
    requests.get(gw.base + "/api/v1/members", headers={"X-Request-ID": "logged-1"}, timeout=5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = [e for e in gw.access_log() if e["request_id"] == "logged-1"]
        if entries:
            break
        time.sleep(0.05)
    (entry,) = entries
    assert entry["uri"] == "/api/v1/members"
    assert entry["status"] == 200
    assert entry["upstream"] == "club_membership"


def test_per_token_rate_limit_is_429_problem(start_nginx):
    limited = start_nginx(rate_per_token="1r/m", burst_per_token=1)
    alice = {"Authorization": "Bearer alice.token"}
    statuses = [
        requests.get(limited.base + "/api/v1/members", headers=alice, timeout=5).status_code for _ in range(2)
    ]
    assert statuses == [200, 200]
    response = requests.get(limited.base + "/api/v1/members", headers=alice, timeout=5)
    assert_problem(response, 429)
    assert response.headers["Retry-After"] == "1"
    # Another token, and anonymous requests, have their own allowance.
    bob = {"Authorization": "Bearer bob.token"}
    assert requests.get(limited.base + "/api/v1/members", headers=bob, timeout=5).status_code == 200
    assert requests.get(limited.base + "/api/v1/members", timeout=5).status_code == 200


def test_per_ip_rate_limit_is_429_problem(start_nginx):
    limited = start_nginx(rate_per_ip="1r/m", burst_per_ip=2)
    statuses = [requests.get(limited.base + "/api/v1/members", timeout=5).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root to switch to nobody")
def test_runs_as_an_unprivileged_user(nginx_bin, free_port, upstreams):
    """No pid, temp or log file outside the prefix dir: an ordinary user can run the config."""
    options = gen.Options(listen=f"127.0.0.1:{free_port()}", upstreams=upstreams, worker_processes="1")
    server = Nginx(nginx_bin, options, user="nobody")
    try:
        assert requests.get(server.base + "/healthz", timeout=5).json() == {"status": "ok"}
        assert requests.get(server.base + "/api/v1/members", timeout=5).json()["service"] == "membership"
        posted = requests.post(server.base + "/api/v1/members", data=b"x" * 900_000, timeout=10)
        assert posted.json()["body_length"] == 900_000  # spooled through the prefix's temp dir
        assert_problem(requests.get(server.base + "/api/v1/notifications", timeout=5), 503)
        assert_problem(requests.post(server.base + "/api/v1/members", data=b"x" * 2_000_000, timeout=10), 413)
        assert server.access_log()
    finally:
        server.stop()
