"""The project's Python is one package (tools/python/inbox_tools): the commands people and CI run by
path are shims that run its modules with any python3, without the virtualenv, and no file reaches
another by a path on sys.path or by loading a file as a module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

# The interpreter the virtualenv was made from: it has not got the package installed, as the
# runner's python3 in GitHub's jobs has not.
BASE_PYTHON = getattr(sys, "_base_executable", None) or sys.executable
# Each shim and a command of it that needs no build, no network and no PyYAML.
SHIMS = {
    "scripts/ci/components.py": ["list", "--all"],
    "tools/provider-lists/provider_lists.py": ["--help"],
    "tools/provider-vectors/vectors.py": ["--check"],
    "bench/run.py": ["--help"],
    "deploy/manifest.py": [],
}


def test_the_base_interpreter_has_not_got_the_package() -> None:
    found = subprocess.run([BASE_PYTHON, "-c", "import inbox_tools"], capture_output=True, text=True, cwd="/")
    if found.returncode == 0:
        pytest.skip(f"{BASE_PYTHON} has the package installed: the shims cannot be told apart from it")
    assert "No module named 'inbox_tools'" in found.stderr


@pytest.mark.parametrize("shim", sorted(SHIMS))
def test_a_shim_runs_its_module_without_the_virtualenv(shim: str, tmp_path: Path) -> None:
    # From another folder, as a script's caller may be: the shim finds the package by its own path.
    ran = subprocess.run([BASE_PYTHON, str(REPO / shim), *SHIMS[shim]], capture_output=True, text=True, cwd=tmp_path)
    if shim == "deploy/manifest.py":
        # No arguments: its usage (exit 2), or the PyYAML hint where the interpreter has none;
        # either way the module ran, not an ImportError of the package.
        assert ran.returncode in (1, 2), ran.stderr
        assert "No module named" not in ran.stderr
        assert "COMMAND" in ran.stderr or "PyYAML is missing" in ran.stderr
        return
    assert ran.returncode == 0, ran.stderr
    if shim == "scripts/ci/components.py":
        assert ran.stdout.split()[0] == "health"


def test_no_python_file_puts_a_path_on_sys_path_or_loads_a_file_as_a_module() -> None:
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "*.py"], capture_output=True, text=True, check=True)
    glue = ("sys.path.insert", "sys.path.append", "sys.path[", "spec_from_file_location", "SourceFileLoader")
    found = [
        f"{name}: {needle}"
        for name in files.stdout.split()
        if name != "tools/deploy-check/tests/test_shims.py"
        for needle in glue
        if needle in (REPO / name).read_text(encoding="utf-8")
    ]
    assert found == []
