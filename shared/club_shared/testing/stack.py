"""A slice of `make stack` started from its generated config, for tests and for scripts.

`LocalStack` runs the chosen services' gunicorn web processes and workers from the Procfile that
`club_gateway.procfile` renders, and nginx from the config `club_gateway.nginx` renders, on
ephemeral ports, in databases (`<prefix><service>`) and a bus namespace of the caller's choosing.
`PrivatePostgres` and `PrivateRabbit` are servers of a test's own, which it may restart or cut
off without disturbing anyone else's tests on the shared ones.

Plain code rather than fixtures, so a script (a load run under bench/) can use it as well as the
tests' fixtures; it needs the gateway package (`club_gateway`), which the workspace installs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def wait_until(
    check: Callable[[], bool], what: str, timeout: float, processes: Iterable[subprocess.Popen] = ()
) -> float:
    """Poll `check` (a failed HTTP request counts as "not yet") until it holds; the seconds it took.
    AssertionError after `timeout`, or as soon as one of `processes` exits."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"{what}: a process exited with {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            if check():
                return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """`sig` to the process group we started (sh and the gunicorn master and workers under it);
    SIGKILL if it has not gone after 15 s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (children first), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # the fourth field of stat, after the parenthesised command name
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def _is_gunicorn(pid: int) -> bool:
    # `sh -c "gunicorn …"` names gunicorn too; the master and workers run it under python
    line = _command_line(pid)
    return "gunicorn" in line and not line.startswith("sh ")


def _command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# -- private servers ------------------------------------------------------------------------------


def _as_postgres(command: Sequence[str]) -> list[str]:
    # initdb and postgres refuse to run as root; CI runs as root, with Debian's postgres user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


def _private_dir(prefix: str) -> Path:
    # Under /tmp itself: the server runs as its own system user, who could not reach into the
    # caller's private temporary directories (pytest's are 0700).
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class PrivatePostgres:
    """A PostgreSQL server of one's own (the system's initdb/pg_ctl) on an ephemeral port, its
    files in a directory of its own under /tmp, removed by `stop()`."""

    def __init__(self):
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
        found = (
            versions[-1].parent if versions else (Path(p).parent if (p := shutil.which("pg_ctl")) else None)
        )
        if found is None:
            raise FileNotFoundError("pg_ctl is not installed (apt-get install postgresql)")
        self.bin = found
        self.dir = _private_dir("club-pg-")
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", *args]),
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        subprocess.run(
            _as_postgres(
                [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._ctl("-o", options, "-l", str(self.dir / "postgres.log"), "start")
        return self.url

    def restart(self) -> None:
        """Stop (fast: every session is cut) and start again, as an operator's restart does."""
        self._ctl("-m", "fast", "-l", str(self.dir / "postgres.log"), "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRabbit:
    """A RabbitMQ node of one's own (`<name>@localhost`) on an ephemeral port, no plugins, its
    files in a directory of its own under /tmp, removed by `stop()`."""

    def __init__(self, name: str):
        self.dir = _private_dir("club-rabbitmq-")
        self.node = f"{name}@localhost"
        # the node's distribution port is its AMQP port + 20000: both must be free
        self.port = next(p for p in iter(free_port, None) if p + 20000 < 65536 and _free(p + 20000))
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            # the system's rabbitmq.conf names the shared broker's listener: this node has its own
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
        }

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["rabbitmqctl", "-n", self.node, *args],
            env=self._env(),
            cwd="/",
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self) -> str:
        self.dir.chmod(0o777)  # Debian's rabbitmq-server switches to the rabbitmq user when root
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        subprocess.run(
            ["rabbitmq-server", "-detached"],
            env=self._env(),
            cwd="/",
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.await_startup()
        return self.url

    def await_startup(self, timeout: float = 90) -> None:
        # `await_startup` fails at once while the node has not registered with epmd yet
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ctl("await_startup", "--timeout", "30", timeout=40)
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.ctl("stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# -- the stack ------------------------------------------------------------------------------------


class LocalStack:
    """Services' web processes (`web`: service → replicas) and workers, and nginx in front.

    `env` holds what every process is given on top of this one's environment: DATABASE_URL,
    CLUB_DATABASE_PREFIX, AMQP_URL, BUS_NAMESPACE, JWT_PUBLIC_KEY and the like. Each process runs in
    its own session, its output in `<workdir>/<name>.log`; `processes` maps the Procfile's names
    (`booking-1`, `booking-worker`, `gateway`) to them.
    """

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        web: Mapping[str, int],
        workers: Sequence[str] = (),
        nginx_bin: str | None = None,
        nginx_options: Mapping[str, object] | None = None,
    ):
        from club_gateway import procfile

        self.workdir = workdir
        self.env = {
            key: value
            for key, value in os.environ.items()
            # each gunicorn master makes its own metrics dir; the caller's settings must not leak in
            if key not in ("PROMETHEUS_MULTIPROC_DIR", "WORKER_METRICS_PORT")
            and not key.endswith("_DATABASE_URL")
        }
        self.env.update(
            PATH=f"{BIN}{os.pathsep}{self.env.get('PATH', '')}",
            CLUB_ENV="test",
            LOG_LEVEL="WARNING",
            # One process of four threads per replica: several replicas on a two-core machine.
            WEB_CONCURRENCY="1",
            GUNICORN_CMD_ARGS="--no-control-socket --threads 4",
        )
        self.env.update(env)
        self.web_ports = {service: [free_port() for _ in range(count)] for service, count in web.items()}
        self.web = {s: [f"127.0.0.1:{p}" for p in ports] for s, ports in self.web_ports.items()}
        self.lines = procfile.parse(procfile.render(ports=self.web_ports))
        self.worker_ports = {service: free_port() for service in workers}
        #: service → the worker's /metrics and /healthz
        self.workers = {s: f"http://127.0.0.1:{p}" for s, p in self.worker_ports.items()}
        self.nginx_bin = nginx_bin
        self.nginx_options = dict(nginx_options or {})
        self.gateway_port = free_port()
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        self.access_log = workdir / "access.json"
        self.processes: dict[str, subprocess.Popen] = {}

    # names of the Procfile lines
    def web_names(self, service: str) -> list[str]:
        count = len(self.web_ports[service])
        return [service] if count == 1 else [f"{service}-{n}" for n in range(1, count + 1)]

    def migrate(self) -> None:
        """Every service's migrations (web or worker), in its `<prefix><service>` database."""
        for service in dict.fromkeys([*self.web_ports, *self.worker_ports]):
            done = subprocess.run(
                [str(BIN / f"club-{service}"), "migrate"],
                env=self.env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=180,
            )
            if done.returncode != 0:
                raise RuntimeError(f"club-{service} migrate: {done.stderr[-3000:]}")

    def start(self) -> LocalStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.migrate()
        for service in self.web_ports:
            for name in self.web_names(service):
                self.spawn(name)
        for service in self.worker_ports:
            self.spawn(f"{service}-worker")
        if self.nginx_bin:
            self._start_nginx()
        self.wait_ready()
        return self

    def spawn(self, name: str) -> subprocess.Popen:
        """(Re)start one Procfile process, as honcho or a supervisor would."""
        env = self.env
        if name.endswith("-worker"):
            env = {**env, "WORKER_METRICS_PORT": str(self.worker_ports[name.removesuffix("-worker")])}
        log = open(self.workdir / f"{name}.log", "a")  # noqa: SIM115 - the child holds it
        with log:
            process = subprocess.Popen(
                ["sh", "-c", self.lines[name]],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def _start_nginx(self) -> None:
        from club_gateway import nginx

        options = nginx.Options(
            listen=f"127.0.0.1:{self.gateway_port}",
            upstreams={**nginx.local_upstreams(), **{s: ",".join(a) for s, a in self.web.items()}},
            access_log=str(self.access_log),
            **self.nginx_options,
        )
        nginx.prepare(self.workdir / "nginx", options)
        log = open(self.workdir / "gateway.log", "a")  # noqa: SIM115 - the child holds it
        with log:
            self.processes["gateway"] = subprocess.Popen(
                [self.nginx_bin, "-p", str(self.workdir / "nginx"), "-c", "nginx.conf", "-e", "stderr"]
                + ["-g", "daemon off;"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 90) -> None:
        running = list(self.processes.values())
        for addresses in self.web.values():
            for address in addresses:
                wait_until(
                    lambda a=address: requests.get(f"http://{a}/readyz", timeout=5).status_code == 200,
                    f"web process {address} ready",
                    timeout,
                    running,
                )
        for service, url in self.workers.items():
            wait_until(
                lambda u=url: requests.get(f"{u}/healthz", timeout=5).status_code == 200,
                f"{service} worker healthy",
                timeout,
                running,
            )
        if self.nginx_bin:
            wait_until(
                lambda: requests.get(f"{self.gateway}/healthz", timeout=2).status_code == 200,
                "nginx",
                20,
                running,
            )

    def gunicorn_workers(self, name: str) -> list[int]:
        """The pids of the gunicorn worker processes (not the master) of web process `name`."""
        top = self.processes[name].pid  # sh, or the master itself where sh execs its command
        gunicorns = [p for p in [top, *descendants(top)] if _is_gunicorn(p)]
        return [p for master in gunicorns[:1] for p in descendants(master)]

    def worker_pid(self, service: str) -> int:
        """The worker's Python process (under the `sh -c` of its Procfile line)."""
        process = self.processes[f"{service}-worker"]
        return next((p for p in descendants(process.pid) if "worker" in _command_line(p)), process.pid)

    def stop(self) -> None:
        for process in self.processes.values():
            stop_process(process)


def stack_env(pg_url: str, amqp_url: str, prefix: str, namespace: str, jwt_public_key: str) -> dict[str, str]:
    return {
        "DATABASE_URL": pg_url,
        "CLUB_DATABASE_PREFIX": prefix,
        "AMQP_URL": amqp_url,
        "BUS_NAMESPACE": namespace,
        "JWT_PUBLIC_KEY": jwt_public_key,
    }


def service_settings(service: str, env: Mapping[str, str]):
    """The Settings a stack's process of `service` has, for a runtime in the caller's process
    (with the in-memory bus: the caller reads and writes the database, the stack's workers do
    the relaying)."""
    from ..config import Settings

    return replace(
        Settings.from_env(service),
        env="test",
        database_url=env["DATABASE_URL"],
        database_prefix=env["CLUB_DATABASE_PREFIX"],
        amqp_url="memory://",
        bus_namespace=env["BUS_NAMESPACE"],
        jwt_public_key=env["JWT_PUBLIC_KEY"],
        db_pool_size=2,
    )
