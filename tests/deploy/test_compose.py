"""docker-compose.yml, validated offline: the Compose Specification's JSON schema, and a check that
every service, file, port and environment variable it names exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from deploy_support import (
    REPO,
    SERVICES,
    allowed_env_vars,
    parse_dockerfile,
    service_dockerfile,
    service_scripts,
    tool,
)

COMPOSE_FILE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    # yaml.safe_load resolves the `<<: *anchor` merge keys the way Compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text())


def check_jsonschema(path) -> subprocess.CompletedProcess:
    # The compose-spec schema ships inside check-jsonschema (vendor.compose-spec), so no network.
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_matches_the_compose_specification_schema():
    result = check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_mistake(tmp_path):
    """Guards the check above against passing vacuously (wrong schema, anchors not resolved…)."""
    broken = COMPOSE_FILE.read_text().replace(
        "condition: service_completed_successfully", "condition: service_finished", 1
    )
    (tmp_path / "docker-compose.yml").write_text(broken)
    assert check_jsonschema(tmp_path / "docker-compose.yml").returncode != 0


def test_docker_compose_config_accepts_it_when_compose_is_installed():
    """`docker compose config` interpolates and validates without an engine. The Compose plugin
    is not part of this machine's image, so this runs only where a developer has it."""
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("docker compose is not installed (the schema check above still ran)")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_migrate_web_and_worker_on_its_own_image(compose, service):
    services = compose["services"]
    scripts = service_scripts(service)
    assert f"club-{service}" in scripts, f"services/{service}/pyproject.toml declares club-{service}"
    for name in (f"{service}-migrate", service, f"{service}-worker"):
        spec = services[name]
        assert spec["build"] == {"context": ".", "dockerfile": f"services/{service}/Dockerfile"}
        assert spec["image"].startswith(f"clubhouse/{service}:")
    assert services[f"{service}-migrate"]["command"] == [f"club-{service}", "migrate"]
    assert services[f"{service}-migrate"]["restart"] == "no"
    assert services[f"{service}-worker"]["command"] == [f"club-{service}", "worker"]
    assert "command" not in services[service], "web runs the image's default CMD (gunicorn)"


@pytest.mark.parametrize("service", SERVICES)
def test_start_order(compose, service):
    services = compose["services"]
    migrate = services[f"{service}-migrate"]["depends_on"]
    assert migrate["postgres"]["condition"] == "service_healthy"
    assert migrate["jwt-keys"]["condition"] == "service_completed_successfully"
    for name in (service, f"{service}-worker"):
        depends = services[name]["depends_on"]
        assert depends[f"{service}-migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
        assert depends["jwt-keys"]["condition"] == "service_completed_successfully"
    gateway = services["gateway"]["depends_on"]
    assert gateway[service]["condition"] == "service_healthy"


def test_every_dependency_and_build_file_exists(compose):
    services = compose["services"]
    for name, spec in services.items():
        for dependency in spec.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        if "build" in spec:
            assert (REPO / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file()
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_every_environment_variable_is_one_the_code_reads(compose):
    allowed = allowed_env_vars()
    for name, spec in compose["services"].items():
        if spec.get("image", "").startswith(("postgres:", "rabbitmq:")):
            continue  # the official images' own variables
        unknown = set(spec.get("environment", {})) - allowed
        assert not unknown, f"{name} sets variables no code or README names: {sorted(unknown)}"


def test_healthchecks(compose):
    services = compose["services"]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "rabbitmq-diagnostics" in services["rabbitmq"]["healthcheck"]["test"]
    for service in SERVICES:
        # web uses the image's HEALTHCHECK (GET /healthz); migrations have no HTTP server
        assert "healthcheck" not in services[service]
        assert services[f"{service}-migrate"]["healthcheck"] == {"disable": True}
        # the worker answers /healthz on WORKER_METRICS_PORT (club_shared.worker.serve_metrics)
        worker = services[f"{service}-worker"]
        port = worker["environment"]["WORKER_METRICS_PORT"]
        assert f"http://127.0.0.1:{port}/healthz" in " ".join(worker["healthcheck"]["test"])


def test_infrastructure_versions_and_volumes(compose):
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert any(v.endswith(":/var/lib/rabbitmq") for v in services["rabbitmq"]["volumes"])


def test_postgres_init_creates_one_database_per_service(compose):
    mounts = [v for v in compose["services"]["postgres"]["volumes"] if "/docker-entrypoint-initdb.d/" in v]
    assert len(mounts) == 1
    sql = (REPO / mounts[0].split(":")[0]).read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+);", sql))
    assert created == {f"club_{service}" for service in SERVICES}


def test_only_membership_holds_the_private_key(compose):
    for name, spec in compose["services"].items():
        holds = any("jwt-private:" in v for v in spec.get("volumes", []))
        assert holds == (name.startswith("membership") or name == "jwt-keys"), name


def test_ports_line_up_with_the_gateway_config_and_the_images(compose):
    services = compose["services"]
    # The gateway: published 8080 → nginx listens on 8080 → the image exposes 8080.
    conf = (REPO / "gateway" / "nginx.compose.conf").read_text()
    assert services["gateway"]["ports"] == ["8080:8080"]
    assert re.findall(r"^\s*listen\s+(\d+)", conf, re.M) == ["8080"]
    gateway_expose = [
        i.args for i in parse_dockerfile(REPO / "gateway" / "Dockerfile") if i.keyword == "EXPOSE"
    ]
    assert gateway_expose == ["8080"]

    # Upstreams: each is a Compose web service whose gunicorn binds (and health-checks) that port.
    upstreams = dict(re.findall(r"^\s*server\s+([\w-]+):(\d+)", conf, re.M))
    assert set(upstreams) == set(SERVICES)
    for service, port in upstreams.items():
        assert service in services
        instructions = parse_dockerfile(service_dockerfile(service))
        cmd = json.loads([i.args for i in instructions if i.keyword == "CMD"][-1])
        assert cmd[cmd.index("--bind") + 1] == f"0.0.0.0:{port}"
        assert [i.args for i in instructions if i.keyword == "EXPOSE"] == [port]
        healthcheck = [i.args for i in instructions if i.keyword == "HEALTHCHECK"][0]
        assert f"127.0.0.1:{port}/healthz" in healthcheck

    # Nothing but the gateway and the management UI (this machine only) is published.
    published = {name for name, spec in services.items() if spec.get("ports")}
    assert published == {"gateway", "rabbitmq"}
    assert services["rabbitmq"]["ports"] == ["127.0.0.1:15672:15672"]


def test_club_containers_are_hardened_as_in_kubernetes(compose):
    """Read-only root, writable /tmp only, no capabilities: a process that writes elsewhere or
    needs a privilege fails in `docker compose up`, not first in the cluster."""
    for name, spec in compose["services"].items():
        if name in ("postgres", "rabbitmq", "jwt-keys"):
            continue  # official images that run their own init as root; a one-shot key maker
        assert spec["read_only"] is True, name
        assert spec["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in spec["security_opt"], name
        assert "/tmp" in spec["tmpfs"], name
        if name != "gateway":
            # PROMETHEUS_MULTIPROC_DIR (the image's ENV) must exist and start empty
            assert "/tmp/metrics" in spec["tmpfs"], name
