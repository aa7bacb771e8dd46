"""The service images' builder stage, replayed without Docker.

There is no Docker engine in CI, so this test does what the builder stage does, in a temporary
directory: it copies what the Dockerfile's COPY instructions copy (after .dockerignore, as the
build context would be), then runs the Dockerfile's own `uv sync` commands with the same uv. The
resulting venv must hold the service, club_shared and gunicorn, and no dev tools; and the final
stage's CMD, run on it, must pass the image's own HEALTHCHECK.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_support import REPO, SERVICES, Instruction, parse_dockerfile, service_dockerfile, tool

pytestmark = pytest.mark.slow


def dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """(.dockerignore line → (is_exception, regex)); the last matching line wins, as in Docker."""
    patterns = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", glob):
            if part.startswith("["):
                regex += part  # a character class, e.g. *.py[cod]
            else:
                regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
        patterns.append((exception, re.compile(regex)))
    return patterns


def in_build_context(relative: str) -> bool:
    """Whether a repository path reaches the build context: a path is excluded when it, or any
    folder above it, matches an exclusion not overridden by a later exception."""
    parts = relative.split("/")
    excluded = False
    for exception, regex in dockerignore_patterns():
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not exception
    return not excluded


def copy_like_docker(source: str, destination: Path, into_directory: bool) -> None:
    """COPY <source> <destination> from the repository, through the .dockerignore filter
    (`into_directory`: the destination was written with a trailing slash)."""
    origin = REPO / source.rstrip("/")
    if origin.is_file():
        assert in_build_context(source), f"{source} is excluded by .dockerignore but the Dockerfile COPYs it"
        target = destination / origin.name if into_directory else destination
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
        return
    for path in origin.rglob("*"):
        relative = path.relative_to(REPO).as_posix()
        if path.is_file() and in_build_context(relative):
            target = destination / path.relative_to(origin)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def test_dockerignore_matcher_behaves_like_docker():
    assert in_build_context("services/booking/club_booking/app.py")
    assert in_build_context("suite/pyproject.toml")
    assert not in_build_context("suite/club_suite/__init__.py")
    assert not in_build_context("services/booking/tests/test_x.py")
    assert not in_build_context(".venv/bin/python")
    assert not in_build_context("var/keys/jwt-private.pem")
    assert not in_build_context("shared/club_shared/__pycache__/config.cpython-311.pyc")
    assert not in_build_context("shared/club_shared/config.pyc")


@dataclass(frozen=True)
class BuiltVenv:
    service: str
    src: Path  # stands in for the builder's /src
    venv: Path  # stands in for /app/.venv


@pytest.fixture(scope="module", params=SERVICES)
def built(request, tmp_path_factory) -> BuiltVenv:
    """The builder stage of services/<svc>/Dockerfile, replayed: its COPYs, then its uv syncs."""
    service = request.param
    root = tmp_path_factory.mktemp(service)
    src, venv = root / "src", root / "venv"
    src.mkdir()
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_LINK_MODE": "copy",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": sys.executable,  # this interpreter stands in for the image's python3.11
    }
    env.pop("VIRTUAL_ENV", None)
    ran = 0
    for instruction in builder_stage(service):
        if instruction.keyword == "COPY":
            *sources, destination = shlex.split(instruction.args)
            for source in sources:
                copy_like_docker(source, src / destination, into_directory=destination.endswith("/"))
        elif instruction.keyword == "RUN" and "uv sync" in instruction.args:
            command = shlex.split(instruction.args[instruction.args.index("uv sync") :])
            result = subprocess.run(
                [tool("uv"), *command[1:]], cwd=src, env=env, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
            ran += 1
    assert ran == 2, "the builder syncs twice: dependencies, then the service"
    return BuiltVenv(service, src, venv)


def builder_stage(service: str) -> list[Instruction]:
    return [i for i in parse_dockerfile(service_dockerfile(service)) if i.stage == 0]


def final_stage(service: str) -> list[Instruction]:
    instructions = parse_dockerfile(service_dockerfile(service))
    return [i for i in instructions if i.stage == instructions[-1].stage]


def test_builder_stage_makes_a_working_venv(built):
    service, venv = built.service, built.venv
    modules = (
        f"club_{service}.app, club_{service}.cli, club_shared.gunicorn_conf, gunicorn, prometheus_client"
    )
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import {modules}"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert (venv / "bin" / f"club-{service}").exists(), "the worker/migrate command is installed"
    site = next((venv / "lib").glob("python3*/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert not {"pytest", "ruff", "hypothesis", "uv"} & installed, "dev dependencies leaked into the image"
    # --no-editable: nothing may point back into /src, which the final stage does not have
    for pth in site.glob("*.pth"):
        assert str(built.src) not in pth.read_text(), f"{pth.name} points into the build directory"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_image_command_serves_health_and_metrics(built, tmp_path):
    """The final stage's CMD, run as written (with the image's ENV, no HOME, an empty metrics
    dir) on the replayed venv, answers the image's own HEALTHCHECK; SIGTERM stops it cleanly.
    Only the port is changed, to a free one on loopback."""
    final = final_stage(built.service)
    env = {"PATH": f"{built.venv}/bin:/usr/bin:/bin", "HOME": "/nonexistent"}
    for instruction in (i for i in final if i.keyword == "ENV"):
        for name, value in re.findall(r'(\w+)=("[^"]*"|\S+)', instruction.args):
            if name != "PATH":
                env[name] = value.strip('"')
    metrics = tmp_path / "metrics"  # the tmpfs/emptyDir mounted at PROMETHEUS_MULTIPROC_DIR
    metrics.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    env["WEB_CONCURRENCY"] = "1"

    port = free_port()
    cmd = json.loads(next(i.args for i in reversed(final) if i.keyword == "CMD"))
    cmd = [arg.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for arg in cmd]
    healthcheck = next(i.args for i in final if i.keyword == "HEALTHCHECK")
    probe = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    probe = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in probe]

    log = tmp_path / "web.log"  # a file, not a pipe nobody drains while the server runs
    server = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            result = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=10)
            if result.returncode == 0:
                break
            assert server.poll() is None, f"the web process exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"HEALTHCHECK never passed:\n{result.stderr}"
            time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert response.status == 200
            assert b"# TYPE" in response.read()
        assert any(metrics.iterdir()), "multiprocess metrics are written to PROMETHEUS_MULTIPROC_DIR"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    output = log.read_text()
    assert server.returncode == 0, output
    assert "[ERROR]" not in output, output  # gunicorn's own errors (the app logs JSON)
