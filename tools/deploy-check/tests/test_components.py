"""scripts/ci/components.py: the per-component manifests derived from spin.toml, and the stamps.

Nothing lists the components but spin.toml, so these tests also derive from a spin.toml with a
component and a variable the real one does not have (a `gallery` serving /gallery/...); the real component list is read
from the repository's spin.toml, never written here.
"""

from __future__ import annotations

import importlib.util
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import REPO

SPEC = importlib.util.spec_from_file_location("components", REPO / "scripts" / "ci" / "components.py")
components = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(components)  # type: ignore[union-attr]
REAL = components.component_ids(components.load(REPO / "spin.toml"))
ALL = [*REAL, "gallery"]

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
    manifest = components.load(app / "spin.toml")
    assert components.component_ids(manifest) == ALL


@pytest.mark.parametrize("component", ALL)
def test_each_derived_manifest_holds_its_component_its_routes_and_its_variables(app: Path, component: str) -> None:
    manifest = components.load(app / "spin.toml")
    out = app / "out" / component
    path = components.write_manifest(manifest, component, app, out)
    derived = tomllib.loads(path.read_text())
    assert list(derived["component"]) == [component]
    assert {t["component"] for t in derived["trigger"]["http"]} == {component}
    assert derived["trigger"]["http"] == [t for t in manifest["trigger"]["http"] if t["component"] == component]
    # Exactly the application variables its templates read, with their spin.toml declarations.
    body = manifest["component"][component]
    wanted = components._templates({k: v for k, v in body.items() if k != "build"})
    assert set(derived.get("variables", {})) == wanted
    for name in wanted:
        assert derived["variables"][name] == manifest["variables"][name]
    assert "build" not in derived["component"][component]
    # Paths point at the same files from the derived manifest's folder.
    source = (out / derived["component"][component]["source"]).resolve()
    assert source == (app / body["source"]).resolve()
    assert derived["application"] == manifest["application"]


def test_a_new_component_and_variable_need_no_other_change(app: Path) -> None:
    manifest = components.load(app / "spin.toml")
    derived = tomllib.loads(components.write_manifest(manifest, "gallery", app, app / "o").read_text())
    assert set(derived["variables"]) == {"gallery_title", "log_level"}
    files = derived["component"]["gallery"]["files"]
    assert (app / "o" / files[0]["source"]).resolve() == (app / "assets").resolve()
    assert components.package(manifest, "gallery") == "gallery"


def test_refusals(app: Path) -> None:
    manifest = components.load(app / "spin.toml")
    (app / "target" / "wasm32-wasip2" / "release" / "api.wasm").unlink()
    with pytest.raises(components.ComponentError, match="build it first"):
        components.derive(manifest, "api", app, app / "o")
    with pytest.raises(components.ComponentError, match="no component 'nope'"):
        components.derive(manifest, "nope", app, app / "o")
    manifest["component"]["health"]["variables"]["x"] = "{{ undeclared }}"
    with pytest.raises(components.ComponentError, match="undeclared"):
        components.derive(manifest, "health", app, app / "o")


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
    inputs = components.inputs(components.load(REPO / "spin.toml"), "health", REPO)
    assert "services/health" in inputs and "shared" in inputs and "Cargo.lock" in inputs
    assert not any(p.startswith(("services/api", "services/webhook")) for p in inputs)
    stamp = subprocess.run(
        ["python3", str(REPO / "scripts" / "ci" / "components.py"), "stamp", "health"], capture_output=True, text=True, check=True
    ).stdout.strip()
    commit = stamp.removesuffix("-dirty")
    assert subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"]).returncode == 0
