"""Shared fixtures: known-good rendered overlays to mutate, and tool/CRD discovery."""

from __future__ import annotations

import copy
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from inbox_tools import ROOT
from inbox_tools.deploy_check.external_refs import ExternalRefs
from inbox_tools.deploy_check.findings import ERROR
from inbox_tools.deploy_check.rules import Context, run_rules
from inbox_tools.manifests import objects_from_docs
from inbox_tools.spin_manifest import SpinManifest

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
REPO = ROOT
# The components, in spin.toml's order: of the fixture copy (rule tests) and of the repository
# (tests that render the real overlays). Nothing here lists them by hand.
FIXTURE_COMPONENTS = tuple(SpinManifest.load(FIXTURES / "spin.toml").components)
REPO_COMPONENTS = tuple(SpinManifest.load(REPO / "spin.toml").components)
# The artifacts among them: one SpinApp and one image each. A component whose tool table says it
# rides in another's artifact (the ticker, in the forwarder's) has neither.
FIXTURE_ARTIFACTS = tuple(
    c.id for c in SpinManifest.load(FIXTURES / "spin.toml").components.values() if c.carried_with is None
)
REPO_ARTIFACTS = tuple(
    c.id for c in SpinManifest.load(REPO / "spin.toml").components.values() if c.carried_with is None
)


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip loudly when a tool or folder is missing; fail instead under REQUIRE_TOOLS=1."""
    if condition:
        return
    if os.environ.get("REQUIRE_TOOLS") == "1":
        pytest.fail(f"{reason} (REQUIRE_TOOLS=1)")
    print(f"\n!!! SKIPPED: {reason}", file=sys.stderr)
    pytest.skip(f"!!! {reason}")


def crds_dir() -> Path:
    return Path(os.environ.get("SPINKUBE_CRDS_DIR", REPO.parent / "shared" / "reference" / "spinkube"))


def kubectl() -> str | None:
    venv = REPO / ".venv" / "bin" / "kubectl"
    if venv.exists():
        return str(venv)
    return shutil.which("kubectl")


def load_fixture(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((FIXTURES / f"{name}.yaml").read_text()) if d]


@pytest.fixture(scope="session")
def spin() -> SpinManifest:
    return SpinManifest.load(FIXTURES / "spin.toml")


@pytest.fixture(scope="session")
def external_refs_data() -> dict:
    return yaml.safe_load((REPO / "kustomize" / "external-refs.yaml").read_text())


@pytest.fixture
def docs() -> Callable[[str], list[dict[str, Any]]]:
    """A fresh, mutable copy of a rendered overlay fixture: docs('prod')."""
    cache: dict[str, list] = {}

    def get(name: str) -> list[dict[str, Any]]:
        if name not in cache:
            cache[name] = load_fixture(name)
        return copy.deepcopy(cache[name])

    return get


@pytest.fixture
def check(spin: SpinManifest, external_refs_data: dict):
    """check(docs, overlay, **ctx_kwargs) -> findings of every rule."""

    def run(documents: list[dict], overlay: str = "prod", **kwargs):
        kwargs.setdefault("require_digest", overlay == "prod")
        ctx = Context(
            objects=objects_from_docs(documents),
            spin=kwargs.pop("spin", spin),
            external=kwargs.pop("external", ExternalRefs.from_dict(external_refs_data, overlay)),
            **kwargs,
        )
        return run_rules(ctx)

    return run


def errors(findings, rule: str | None = None) -> list[str]:
    return [f.message for f in findings if f.severity == ERROR and (rule is None or f.rule == rule)]


def find(documents: list[dict], kind: str, name: str | None = None) -> dict:
    for d in documents:
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name):
            return d
    raise KeyError(f"{kind} {name}")


def find_all(documents: list[dict], kind: str) -> list[dict]:
    return [d for d in documents if d["kind"] == kind]
