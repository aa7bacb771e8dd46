"""The service images' builder stage, replayed without Docker.

There is no Docker engine in CI, so this test does what the builder stage does, in a temporary
directory: it copies what the Dockerfile's COPY instructions copy (after .dockerignore, as the
build context would be), then runs the Dockerfile's own `uv sync` commands with the same uv. The
resulting venv must hold the service, club_shared and gunicorn, and no dev tools.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_support import REPO, SERVICES, parse_dockerfile, service_dockerfile, tool

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


@pytest.mark.parametrize("service", SERVICES)
def test_builder_stage_makes_a_working_venv(service, tmp_path):
    instructions = parse_dockerfile(service_dockerfile(service))
    builder = [i for i in instructions if i.stage == 0]
    src, venv = tmp_path / "src", tmp_path / "venv"
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
    for instruction in builder:
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

    python = venv / "bin" / "python"
    modules = (
        f"club_{service}.app, club_{service}.cli, club_shared.gunicorn_conf, gunicorn, prometheus_client"
    )
    check = subprocess.run(
        [str(python), "-c", f"import {modules}"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert (venv / "bin" / f"club-{service}").exists(), "the worker/migrate command is installed"
    site = next((venv / "lib").glob("python3*/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert not {"pytest", "ruff", "hypothesis", "uv"} & installed, "dev dependencies leaked into the image"
    # --no-editable: nothing may point back into /src, which the final stage does not have
    for pth in site.glob("*.pth"):
        assert str(src) not in pth.read_text(), f"{pth.name} points into the build directory"
