"""The images' Dockerfiles: hadolint-clean, multi-stage, non-root, health-checked, and in step with
the workspace (uv pin, workspace members, the service's own commands)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

import pytest
from deploy_support import (
    REPO,
    SERVICES,
    parse_dockerfile,
    pinned_uv_version,
    service_dockerfile,
    service_scripts,
    tool,
    workspace_members,
)

ALL_DOCKERFILES = [service_dockerfile(s) for s in SERVICES] + [REPO / "gateway" / "Dockerfile"]
IDS = [*SERVICES, "gateway"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_dockerfile(service):
    assert service_dockerfile(service).is_file()


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=IDS)
def test_hadolint_clean(path):
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=IDS)
def test_multi_stage_and_the_final_stage_runs_as_a_numeric_non_root_user(path):
    instructions = parse_dockerfile(path)
    stages = {i.stage for i in instructions}
    assert len(stages) >= 2, "multi-stage: build tools stay out of the final image"
    final = [i for i in instructions if i.stage == max(stages)]
    users = [i.args for i in final if i.keyword == "USER"]
    assert users, "the final stage sets USER"
    uid = users[-1].split(":")[0]
    # numeric: Kubernetes' runAsNonRoot can only verify a numeric user
    assert uid.isdigit() and int(uid) != 0, users[-1]


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=IDS)
def test_has_a_healthcheck_on_healthz(path):
    checks = [i.args for i in parse_dockerfile(path) if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "/healthz" in checks[0], checks


@pytest.mark.parametrize("service", SERVICES)
def test_service_image_shape(service):
    instructions = parse_dockerfile(service_dockerfile(service))
    last_stage = instructions[-1].stage
    final = [i for i in instructions if i.stage == last_stage]
    builder = [i for i in instructions if i.stage != last_stage]

    assert "ARG PYTHON_IMAGE=python:3.11-slim" in {f"{i.keyword} {i.args}" for i in instructions}
    assert all(i.args.split()[0] == "${PYTHON_IMAGE}" for i in instructions if i.keyword == "FROM")

    # uv comes from PyPI at the dev group's pin
    uv_args = [i.args for i in builder if i.keyword == "ARG" and i.args.startswith("UV_VERSION=")]
    assert uv_args == [f"UV_VERSION={pinned_uv_version()}"]
    assert any(
        'pip install --no-cache-dir "uv==${UV_VERSION}"' in i.args for i in builder if i.keyword == "RUN"
    )

    # the service alone, from the lock, without dev dependencies, as wheels
    syncs = [i.args for i in builder if i.keyword == "RUN" and "uv sync" in i.args]
    assert syncs, "the builder runs uv sync"
    for sync in syncs:
        assert f"--package club-{service}" in sync and "--frozen" in sync and "--no-dev" in sync
    assert "--no-editable" in syncs[-1]

    # only the venv crosses into the final image
    copies = [i.args for i in final if i.keyword == "COPY"]
    assert copies == ["--from=builder /app/.venv /app/.venv"]
    env = " ".join(i.args for i in final if i.keyword == "ENV")
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/metrics" in env
    assert 'PATH="/app/.venv/bin:${PATH}"' in env
    assert [i.args for i in final if i.keyword == "EXPOSE"] == ["8000"]


@pytest.mark.parametrize("service", SERVICES)
def test_default_command_is_the_web_process_and_worker_and_migrate_exist(service):
    final = parse_dockerfile(service_dockerfile(service))
    cmd = json.loads([i.args for i in final if i.keyword == "CMD"][-1])
    assert cmd[0] == "gunicorn"
    # the shared gunicorn settings (multiprocess metrics clean-up, timeouts)
    config = cmd[cmd.index("--config") + 1]
    assert config == "python:club_shared.gunicorn_conf"
    assert (REPO / "shared" / "club_shared" / "gunicorn_conf.py").is_file()
    assert cmd[cmd.index("--bind") + 1] == "0.0.0.0:8000"
    assert cmd[cmd.index("--worker-class") + 1] == "gthread"
    assert "--no-control-socket" in cmd, "the image user has no home for gunicorn's control socket"
    assert cmd[-1] == f"club_{service}.app:create_app()"
    # `club-<svc> worker` / `club-<svc> migrate` are the same image's other commands: the
    # package must declare the console script they call.
    assert f"club-{service}" in service_scripts(service)


@pytest.mark.parametrize("service", SERVICES)
def test_builder_copies_every_workspace_member_manifest(service):
    """uv cannot read the lock without every member's pyproject.toml; a new member must be
    added to the Dockerfiles."""
    copies = {i.args for i in parse_dockerfile(service_dockerfile(service)) if i.keyword == "COPY"}
    for member in workspace_members():
        relative = member.relative_to(REPO).as_posix()
        assert f"{relative}/pyproject.toml {relative}/" in copies, (
            f"missing COPY of {relative}/pyproject.toml"
        )
    assert "shared/ shared/" in copies
    assert f"services/{service}/ services/{service}/" in copies


def test_service_dockerfiles_differ_only_in_the_service_name():
    """One template, five files (each buildable alone): this keeps them from drifting apart."""
    keep = re.compile(r"^COPY services/\w+/pyproject\.toml ")

    def normalised(service: str) -> str:
        return "".join(
            line if keep.match(line) else line.replace(service, "{service}")
            for line in service_dockerfile(service).read_text().splitlines(keepends=True)
        )

    reference = normalised("booking")
    for service in SERVICES:
        assert normalised(service) == reference, f"services/{service}/Dockerfile drifted from booking's"


def test_gateway_image():
    instructions = parse_dockerfile(REPO / "gateway" / "Dockerfile")
    final = [i for i in instructions if i.stage == instructions[-1].stage]
    assert final[0].args.startswith("nginx:"), "the official nginx image"
    copies = [i.args for i in final if i.keyword == "COPY"]
    assert "gateway/nginx.compose.conf /etc/nginx/nginx.conf" in copies
    assert any(c.startswith("gateway/static/ ") for c in copies)
    assert [i.args for i in final if i.keyword == "EXPOSE"] == ["8080"]

    # Swagger UI from the same swagger-ui-bundle version the lock resolves for the gateway.
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}["swagger-ui-bundle"]
    assert f"SWAGGER_UI_BUNDLE_VERSION={locked}" in {i.args for i in instructions if i.keyword == "ARG"}


def test_gateway_config_paths_exist_in_the_image():
    """Every path nginx.compose.conf serves from is one the gateway Dockerfile fills."""
    conf = (REPO / "gateway" / "nginx.compose.conf").read_text()
    dockerfile = (REPO / "gateway" / "Dockerfile").read_text()
    served = set(re.findall(r"(?:root|alias)\s+(/[^;\s]+?)/?;", conf))
    assert served, "nginx.compose.conf serves static files"
    for directory in served:
        assert f" {directory}/\n" in dockerfile, f"{directory} is not filled by gateway/Dockerfile"
    # unprivileged: the pid file and temp files must be in writable places
    assert re.search(r"^pid /tmp/", conf, re.M), "nginx.compose.conf keeps its pid file under /tmp"


def test_dockerignore_allows_only_what_the_images_need():
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: everything is excluded unless named"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert {"pyproject.toml", "uv.lock", "shared/", "services/", "gateway/"} <= allowed
    for member in workspace_members():
        relative = member.relative_to(REPO).as_posix()
        assert (
            f"{relative}/" in allowed
            or f"{relative}/pyproject.toml" in allowed
            or relative.startswith("services/")
        ), f"{relative}/pyproject.toml is excluded from the build context"
