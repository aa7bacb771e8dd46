"""Part or all of `make stack` on ephemeral ports, for tests and benchmarks that need the real thing.

The same processes `make stack` runs — migrations, each service's gunicorn web processes and its
worker from the generated Procfile lines, nginx from the generated config — but in databases
(`CLUB_DATABASE_PREFIX`) and a bus namespace (`BUS_NAMESPACE`) of the caller's own, which `close()`
drops and deletes. Every process runs in a process group of its own, so stopping one stops the
gunicorn workers under it.

    with LocalStack(work_dir, env, services=("booking",), replicas={"booking": 3}) as stack:
        requests.get(f"{stack.gateway}/api/v1/resources", ...)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import requests

from club_gateway import nginx, procfile, routes

REPO = Path(__file__).resolve().parents[2]
# Variables of the caller's own environment that would tie every process to one path or port.
PER_PROCESS = ("PROMETHEUS_MULTIPROC_DIR", "WORKER_METRICS_PORT", "GUNICORN_CMD_ARGS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], what: str, timeout: float, processes=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{what}: a process exited with {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            if check():
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (sh and the gunicorn master and workers under it), then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


class LocalStack:
    """`services` (default: all) with their workers behind one nginx.

    `env` must hold DATABASE_URL, CLUB_DATABASE_PREFIX, AMQP_URL, BUS_NAMESPACE and JWT_PUBLIC_KEY
    (membership signs with JWT_PRIVATE_KEY); `replicas` gives a service several web processes;
    `nginx_options` changes the generated config (rate limits, worker processes). `gateway` is
    nginx's base URL, `web[service]` the web processes' host:port, `worker_metrics[service]` the
    base URL of the worker's /metrics and /healthz.
    """

    def __init__(
        self,
        work_dir: Path,
        env: Mapping[str, str],
        services: Iterable[str] = routes.SERVICE_NAMES,
        replicas: Mapping[str, int] | None = None,
        nginx_options: Mapping[str, object] | None = None,
        nginx_bin: str = "nginx",
        workers: bool = True,
    ):
        self.work_dir = Path(work_dir)
        self.services = tuple(services)
        self.env = {k: v for k, v in env.items() if k not in PER_PROCESS}
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.setdefault("GUNICORN_CMD_ARGS", "--no-control-socket")
        self.replicas = dict(replicas or {})
        self.nginx_options = dict(nginx_options or {})
        self.nginx_bin = nginx_bin
        self.workers = workers
        self.processes: list[subprocess.Popen] = []
        self.web: dict[str, list[str]] = {}
        self.worker_metrics: dict[str, str] = {}
        self.access_log = self.work_dir / "access.json"
        self.gateway = ""

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spawn(self, name: str, command: str, extra_env: Mapping[str, str] | None = None) -> None:
        log = open(self.work_dir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.processes.append(
            subprocess.Popen(
                ["sh", "-c", command],
                env={**self.env, **(extra_env or {})},
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            migrated = subprocess.run(
                [f"club-{service}", "migrate"],
                env=self.env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if migrated.returncode != 0:
                raise RuntimeError(f"club-{service} migrate: {migrated.stderr[-3000:]}")

        ports = {
            service: [free_port() for _ in range(self.replicas.get(service, 1))] for service in self.services
        }
        lines = procfile.parse(procfile.render(ports=ports))
        for service in self.services:
            self.web[service] = [f"127.0.0.1:{port}" for port in ports[service]]
            names = (
                [service]
                if len(ports[service]) == 1
                else [f"{service}-{n}" for n in range(1, len(ports[service]) + 1)]
            )
            for name in names:
                self._spawn(name, lines[name])
            if self.workers:
                metrics_port = free_port()
                self.worker_metrics[service] = f"http://127.0.0.1:{metrics_port}"
                self._spawn(
                    f"{service}-worker",
                    lines[f"{service}-worker"],
                    {"WORKER_METRICS_PORT": str(metrics_port)},
                )

        gateway_port = free_port()
        upstreams = dict(nginx.local_upstreams())
        upstreams.update({service: ",".join(addresses) for service, addresses in self.web.items()})
        options = replace(
            nginx.Options(),
            listen=f"127.0.0.1:{gateway_port}",
            upstreams=upstreams,
            runtime_dir=str(self.work_dir / "nginx"),
            access_log=str(self.access_log),
            error_log=str(self.work_dir / "nginx-error.log"),
            **self.nginx_options,
        )
        nginx.prepare(self.work_dir / "nginx", options)
        log = open(self.work_dir / "nginx.log", "w")  # noqa: SIM115 - closed with the process
        self.processes.append(
            subprocess.Popen(
                [
                    self.nginx_bin,
                    "-p",
                    str(self.work_dir / "nginx"),
                    "-c",
                    "nginx.conf",
                    "-e",
                    "stderr",
                    "-g",
                    "daemon off;",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        self.gateway = f"http://127.0.0.1:{gateway_port}"
        for service, addresses in self.web.items():
            for address in addresses:
                wait_until(
                    lambda a=address: requests.get(f"http://{a}/readyz", timeout=5).status_code == 200,
                    f"{service} at {address} ready",
                    90,
                    self.processes,
                )
        for service, base in self.worker_metrics.items():
            wait_until(
                lambda b=base: requests.get(f"{b}/healthz", timeout=5).status_code == 200,
                f"{service} worker",
                90,
                self.processes,
            )
        wait_until(
            lambda: requests.get(f"{self.gateway}/healthz", timeout=2).status_code == 200,
            "nginx",
            20,
            self.processes,
        )

    def close(self) -> None:
        from club_shared.config import Settings
        from club_shared.db import drop_database
        from club_shared.testing.services import delete_bus_namespace

        for process in self.processes:
            stop(process)
        self.processes.clear()
        for service in self.services:
            settings = replace(
                Settings.from_env(service),
                database_url=self.env["DATABASE_URL"],
                database_prefix=self.env["CLUB_DATABASE_PREFIX"],
            )
            with contextlib.suppress(Exception):
                drop_database(settings.service_database_url)
            if self.env.get("AMQP_URL") and self.env.get("BUS_NAMESPACE"):
                delete_bus_namespace(
                    self.env["AMQP_URL"], self.env["BUS_NAMESPACE"], service, settings.bus_retry_delays_ms
                )
