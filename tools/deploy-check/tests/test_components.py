"""inbox_tools.components (scripts/ci/components.py): per-component manifests derived from spin.toml; stamps.

Nothing lists the components but spin.toml, so these tests also derive from a spin.toml with a
component and a variable the real one does not have (a `gallery` serving /gallery/...); the real component list is read
from the repository's spin.toml, never written here. A component whose tool table says it rides
with another (the ticker, with the forwarder) is not an artifact of its own.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO

from inbox_tools import components
from inbox_tools.spin_manifest import ManifestError, SpinManifest

REAL_MANIFEST = SpinManifest.load(REPO / "spin.toml")
# Every component of spin.toml, and the artifacts among them (the others ride in one of these).
REAL = list(REAL_MANIFEST.components)
ALL = [*REAL, "gallery"]
ARTIFACTS = [*REAL_MANIFEST.artifacts(), "gallery"]
CARRIED = {c.id: c.carried_with for c in REAL_MANIFEST.components.values() if c.carried_with}

CONSOLE = """
[variables.gallery_title]
default = "Inbox"

[[trigger.http]]
route = "/gallery/..."
component = "gallery"

[component.gallery]
source = "target/wasm32-wasip2/release/gallery.wasm"
files = [{ source = "assets", destination = "/" }]
allowed_outbound_hosts = ["https://{{ gallery_title }}.example.invalid"]
[component.gallery.variables]
title = "{{ gallery_title }}"
log = "level={{ log_level }}"
[component.gallery.build]
command = "cargo build --target wasm32-wasip2 --release -p gallery"
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    text = (REPO / "spin.toml").read_text()
    (tmp_path / "spin.toml").write_text(text + CONSOLE)
    wasm = tmp_path / "target" / "wasm32-wasip2" / "release"
    wasm.mkdir(parents=True)
    for name in ALL:
        (wasm / f"{name}.wasm").write_bytes(b"\0asm")
    (tmp_path / "assets").mkdir()
    return tmp_path


def test_the_component_list_is_spin_tomls(app: Path) -> None:
    spin = SpinManifest.load(app / "spin.toml")
    assert list(spin.components) == ALL
    assert spin.artifacts() == ARTIFACTS


def test_list_names_the_five_artifacts_and_list_all_the_ticker_too() -> None:
    script = [sys.executable, str(REPO / "scripts" / "ci" / "components.py")]
    listed = subprocess.run([*script, "list"], capture_output=True, text=True, check=True).stdout.split()
    assert listed == ["health", "api", "webhook", "console", "forwarder"]
    every = subprocess.run([*script, "list", "--all"], capture_output=True, text=True, check=True).stdout.split()
    assert every == [*listed, "ticker"]
    held = subprocess.run([*script, "members", "forwarder"], capture_output=True, text=True, check=True).stdout.split()
    assert held == ["forwarder", "ticker"]
    refused = subprocess.run([*script, "manifest", "ticker", "/nonexistent"], capture_output=True, text=True)
    assert refused.returncode == 1 and "rides in 'forwarder'" in refused.stderr


@pytest.mark.parametrize("component", ARTIFACTS)
def test_each_derived_manifest_holds_its_components_their_routes_and_their_variables(app: Path, component: str) -> None:
    spin = SpinManifest.load(app / "spin.toml")
    manifest = spin.data
    out = app / "out" / component
    path = components.write_manifest(spin, component, app, out)
    derived = tomllib.loads(path.read_text())
    held = [component, *(c for c, owner in CARRIED.items() if owner == component)]
    assert list(derived["component"]) == held
    assert {t["component"] for t in derived["trigger"]["http"]} == {component}
    assert derived["trigger"]["http"] == [t for t in manifest["trigger"]["http"] if t["component"] == component]
    # A carried component gets the trigger its tool table names, and nothing else does.
    assert set(derived["trigger"]) == {"http"} | ({"command"} if len(held) > 1 else set())
    assert derived["trigger"].get("command", []) == [{"component": c} for c in held[1:]]
    # Exactly the application variables their templates read, with their spin.toml declarations.
    wanted = set().union(
        *(components._templates({k: v for k, v in manifest["component"][c].items() if k != "build"}) for c in held)
    )
    assert set(derived.get("variables", {})) == wanted
    for name in wanted:
        assert derived["variables"][name] == manifest["variables"][name]
    for held_id in held:
        body = manifest["component"][held_id]
        assert "build" not in derived["component"][held_id]
        # Paths point at the same files from the derived manifest's folder.
        source = (out / derived["component"][held_id]["source"]).resolve()
        assert source == (app / body["source"]).resolve()
    assert derived["application"] == manifest["application"]


def test_the_forwarder_artifact_carries_the_ticker_on_a_command_trigger(app: Path) -> None:
    spin = SpinManifest.load(app / "spin.toml")
    # spin.toml itself gives the ticker no trigger (spin up runs no command trigger).
    assert not any(t.get("component") == "ticker" for ts in spin.data["trigger"].values() for t in ts)
    derived = tomllib.loads(components.write_manifest(spin, "forwarder", app, app / "o").read_text())
    assert derived["trigger"]["command"] == [{"component": "ticker"}]
    assert list(derived["component"]) == ["forwarder", "ticker"]
    assert derived["component"]["ticker"]["allowed_outbound_hosts"] == ["http://127.0.0.1:80"]
    assert derived["component"]["ticker"]["variables"] == {"api_token": "{{ api_token }}"}
    assert "api_token" in derived["variables"]
    assert spin.members("forwarder") == ["forwarder", "ticker"]
    with pytest.raises(components.ComponentError, match="not an artifact"):
        components.derive(spin, "ticker", app, app / "o")


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ({"trigger": "command", "with": "nope"}, "is not a component"),
        ({"trigger": "command", "with": "ticker"}, "an artifact itself"),
        ({"trigger": "cron", "with": "forwarder"}, "runs on one of: command"),
        ({"with": "forwarder"}, "runs on one of: command"),
    ],
)
def test_a_carried_component_must_name_an_artifact_and_a_command_trigger(app: Path, tool: dict, message: str) -> None:
    manifest = SpinManifest.load(app / "spin.toml").data
    manifest["component"]["ticker"]["tool"]["webhook-inbox"] = tool
    with pytest.raises(ManifestError, match=message):
        SpinManifest.from_dict(manifest)


def test_a_new_component_and_variable_need_no_other_change(app: Path) -> None:
    spin = SpinManifest.load(app / "spin.toml")
    derived = tomllib.loads(components.write_manifest(spin, "gallery", app, app / "o").read_text())
    assert set(derived["variables"]) == {"gallery_title", "log_level"}
    files = derived["component"]["gallery"]["files"]
    assert (app / "o" / files[0]["source"]).resolve() == (app / "assets").resolve()
    assert components.package(spin, "gallery") == "gallery"


def test_refusals(app: Path) -> None:
    spin = SpinManifest.load(app / "spin.toml")
    (app / "target" / "wasm32-wasip2" / "release" / "api.wasm").unlink()
    with pytest.raises(components.ComponentError, match="build it first"):
        components.derive(spin, "api", app, app / "o")
    with pytest.raises(components.ComponentError, match="no component 'nope'"):
        components.derive(spin, "nope", app, app / "o")
    # A template the model lets through (allowed_outbound_hosts) naming an undeclared variable.
    spin.data["component"]["health"]["allowed_outbound_hosts"] = ["https://{{ undeclared }}.example"]
    with pytest.raises(components.ComponentError, match="undeclared"):
        components.derive(spin, "health", app, app / "o")
    # One in the component's variables: the model itself refuses spin.toml.
    spin.data["component"]["health"].setdefault("variables", {})["x"] = "{{ undeclared }}"
    with pytest.raises(ManifestError, match="undeclared"):
        SpinManifest.from_dict(spin.data)


@pytest.mark.parametrize(
    "table",
    [
        {"a": "x \"quoted\" \\ back\nnewline", "b": 1, "c": True, "d": ["x", "y"], "e": {"f": {"g": "h"}}},
        {"t": [{"route": "/...", "component": "c"}, {"route": "/a", "private": False}], "k-e_y": {"x.y": "z"}},
    ],
)
def test_the_toml_writer_reads_back_exactly(table: dict) -> None:
    assert tomllib.loads(components.dumps(table)) == table


def test_stamps_follow_only_a_components_own_inputs(tmp_path: Path) -> None:
    # The real checkout: each stamp is a commit of this repository, and health's inputs do not
    # include another component's crate.
    inputs = components.inputs(REAL_MANIFEST, "health", REPO)
    assert "services/health" in inputs and "crates/inbox-core" in inputs and "Cargo.lock" in inputs
    assert not any(p.startswith(("services/api", "services/webhook", "services/ticker")) for p in inputs)
    # The forwarder's artifact carries the ticker: a change to the ticker's crate rolls it.
    forwarder = components.inputs(REAL_MANIFEST, "forwarder", REPO)
    assert {"services/forwarder", "services/ticker", "crates/inbox-core", "crates/api-contract", "spin-adapter"} <= set(
        forwarder
    )
    stamp = subprocess.run(
        ["python3", str(REPO / "scripts" / "ci" / "components.py"), "stamp", "health"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    commit = stamp.removesuffix("-dirty")
    assert subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"]).returncode == 0
