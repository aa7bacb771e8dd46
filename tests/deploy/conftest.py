"""Fixtures for the deployment checks; the helpers themselves are in deploy_support.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib, which does not put a test's folder on sys.path.
sys.path.insert(0, str(Path(__file__).parent))

from deploy_support import REPO, kustomize  # noqa: E402


@pytest.fixture(scope="session")
def base_objects() -> list[dict]:
    """k8s/base rendered by kustomize."""
    return kustomize(REPO / "k8s" / "base")


@pytest.fixture(scope="session")
def production_objects() -> list[dict]:
    """k8s/overlays/production rendered by kustomize."""
    return kustomize(REPO / "k8s" / "overlays" / "production")
