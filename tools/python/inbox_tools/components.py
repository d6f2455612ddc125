"""One OCI artifact per component, derived from the one spin.toml at release time.

spin.toml stays the single source for `spin up` (every component in one app). At release time
each component becomes an application of its own: this tool writes, for a component, a Spin
manifest holding only that component, the triggers that route to it and the application
variables its templates read, with every path made relative to where the derived manifest is
written. Nothing here knows the component list: it is read from spin.toml, so a component or a
variable added there is released without touching this file.

A component may instead ride in another component's artifact: one whose spin.toml table says

    [component.ticker.tool.webhook-inbox]
    trigger = "command"      # the trigger the cluster runs it on (spin.toml gives it none)
    with = "forwarder"       # the artifact (and the SpinApp) that carries it

is not an artifact of its own. The artifact of `forwarder` then holds both components, the
forwarder's routes and a `[[trigger.command]] component = "ticker"` (the SpinKube shim runs every
trigger type of an app at once). Locally `spin up` runs no command trigger without a plugin, so
spin.toml declares none (Spin ignores `tool` tables).

It also computes each artifact's commit stamp: the newest commit that changed anything its Wasm
is built from (the crates of its components and the workspace crates they depend on, the
workspace manifest, the lockfile, the toolchain pin and the release build script). A release that
does not touch an artifact builds it with the same stamp, so its bytes, its artifact and its
digest stay the same and its pods are not rolled (docs/deploy.md, "One artifact per component").

  scripts/ci/components.py list [--all]              the artifacts (components not carried by
                                                     another), one per line, in spin.toml order;
                                                     --all: every component of spin.toml
  scripts/ci/components.py members ARTIFACT          the components its artifact holds, its own first
  scripts/ci/components.py manifest ARTIFACT OUTDIR  write OUTDIR/spin.toml for ARTIFACT
  scripts/ci/components.py package COMPONENT         the cargo package its build command builds
  scripts/ci/components.py inputs ARTIFACT           the paths its stamp is computed over
  scripts/ci/components.py stamp ARTIFACT            the stamp: a commit sha (+ "-dirty" when those
                                                     paths have uncommitted changes), or "unknown"
  scripts/ci/components.py stamp-time ARTIFACT       the committer date of the stamp (ISO 8601)

(`python -m inbox_tools.components ...` is the same.) Options: --spin-toml FILE (default: spin.toml
of the repository root). Standard library only (Python >= 3.11); `inputs`/`stamp` need cargo and
git. spin.toml is read, and who carries whom decided, by inbox_tools.spin_manifest, the project's
one model of it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from inbox_tools import ROOT
from inbox_tools.spin_manifest import TEMPLATE_REF, ManifestError, SpinManifest

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# Beside the crates: what else decides the bytes of a release build.
BUILD_INPUTS = (
    "Cargo.toml",
    "Cargo.lock",
    "rust-toolchain.toml",
    ".cargo",
    "scripts/build",
    "scripts/ci/build-component.sh",
)
# spin.toml cannot be split as asked: the model's error (the carried-component rules raise it too).
ComponentError = ManifestError


def _templates(value: Any) -> set[str]:
    """Application variables referenced by {{ name }} anywhere inside value."""
    if isinstance(value, str):
        return set(TEMPLATE_REF.findall(value))
    if isinstance(value, dict):
        return set().union(*(_templates(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_templates(v) for v in value)) if value else set()
    return set()


def _relocate(path: str, base: Path, out_dir: Path) -> str:
    """A path relative to spin.toml's folder, made relative to out_dir."""
    return os.path.relpath((base / path).resolve(), out_dir.resolve())


def _body(spin: SpinManifest, component: str, base: Path, out_dir: Path) -> dict[str, Any]:
    """A component's table for the derived manifest: no build section, paths relocated."""
    body = {k: v for k, v in spin.data["component"][component].items() if k != "build"}
    source = body.get("source")
    if isinstance(source, str):
        if not (base / source).is_file():
            raise ComponentError(f"component {component!r}: {source} is missing: build it first")
        body["source"] = _relocate(source, base, out_dir)
    if isinstance(body.get("files"), list):
        files = []
        for entry in body["files"]:
            if isinstance(entry, str):
                files.append(_relocate(entry, base, out_dir))
            elif isinstance(entry, dict) and isinstance(entry.get("source"), str):
                files.append({**entry, "source": _relocate(entry["source"], base, out_dir)})
            else:
                files.append(entry)
        body["files"] = files
    if body.get("dependencies"):
        # Composition pulls in other sources whose paths would need relocating too.
        raise ComponentError(f"component {component!r} has dependencies: not supported by this split")
    return body


def derive(spin: SpinManifest, component: str, base: Path, out_dir: Path) -> dict[str, Any]:
    """The manifest of an application holding only the artifact `component` (and what it carries)."""
    held = spin.members(component)
    bodies = {c: _body(spin, c, base, out_dir) for c in held}
    manifest = spin.data

    triggers: dict[str, list[dict[str, Any]]] = {}
    for kind, entries in (manifest.get("trigger") or {}).items():
        for entry in entries:
            target = entry.get("component")
            if isinstance(target, dict):
                raise ComponentError(f"a [[trigger.{kind}]] has an inline component: not supported by this split")
            if target in held:
                triggers.setdefault(kind, []).append(entry)
    if not triggers:
        raise ComponentError(f"no trigger routes to component {component!r}: it would serve nothing")
    for carried in held[1:]:
        kind = spin.components[carried].trigger
        if any(entry.get("component") == carried for entry in triggers.get(kind, [])):
            continue  # spin.toml already gives it that trigger
        triggers.setdefault(kind, []).append({"component": carried})

    wanted = _templates(bodies)
    declared = manifest.get("variables") or {}
    unknown = sorted(wanted - set(declared))
    if unknown:
        raise ComponentError(f"component {component!r} reads undeclared variable(s): {', '.join(unknown)}")

    derived: dict[str, Any] = {"spin_manifest_version": 2, "application": manifest["application"]}
    variables = {name: spec for name, spec in declared.items() if name in wanted}
    if variables:
        derived["variables"] = variables
    derived["trigger"] = triggers
    derived["component"] = bodies
    return derived


# --- a TOML writer for what tomllib reads back identically -------------------------------------


def _key(key: str) -> str:
    return key if BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise ComponentError(f"cannot write {type(value).__name__} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def dumps(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    lines: list[str] = []
    nested: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, dict) or _is_table_array(value):
            nested.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in nested:
        path = prefix + (key,)
        name = ".".join(_key(p) for p in path)
        if isinstance(value, dict):
            out += f"\n[{name}]\n" + dumps(value, path)
        else:
            for entry in value:
                out += f"\n[[{name}]]\n" + dumps(entry, path)
    return out


def write_manifest(spin: SpinManifest, component: str, base: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    derived = derive(spin, component, base, out_dir)
    held = spin.members(component)
    alone = "alone" if len(held) == 1 else "with " + ", ".join(held[1:])
    text = (
        f"# Derived from spin.toml by scripts/ci/components.py: component {component} {alone}.\n"
        "# Generated at release time; do not edit.\n" + dumps(derived)
    )
    if tomllib.loads(text) != derived:  # the writer must be exact
        raise ComponentError("internal error: the derived manifest does not read back as written")
    path = out_dir / "spin.toml"
    path.write_text(text)
    return path


# --- stamps --------------------------------------------------------------------------------------


def package(spin: SpinManifest, component: str) -> str:
    """The cargo package that `[component.<id>.build].command` builds (`-p NAME`), else the id."""
    command = ((spin.data.get("component") or {}).get(component, {}).get("build") or {}).get("command", "")
    words = shlex.split(command) if isinstance(command, str) else []
    for i, word in enumerate(words):
        if word in ("-p", "--package") and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--package="):
            return word.split("=", 1)[1]
    return component


def inputs(spin: SpinManifest, component: str, root: Path) -> list[str]:
    """Repository-relative paths whose content decides the release Wasm of the artifact
    `component`: the crates of every component it holds, and what they depend on."""
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout
    )
    by_name = {p["name"]: p for p in metadata["packages"]}
    todo = []
    for held in spin.members(component):
        start = package(spin, held)
        if start not in by_name:
            raise ComponentError(f"component {held!r} builds package {start!r}, not in the workspace")
        todo.append(start)
    seen: list[str] = []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        for dep in by_name[name]["dependencies"]:
            if dep.get("path") and dep.get("kind") in (None, "build") and dep["name"] in by_name:
                todo.append(dep["name"])
    paths = {os.path.relpath(Path(by_name[n]["manifest_path"]).parent, root) for n in seen}
    paths.update(p for p in BUILD_INPUTS if (root / p).exists())
    return sorted(paths)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def stamp(spin: SpinManifest, component: str, root: Path) -> str:
    paths = inputs(spin, component, root)
    try:
        commit = _git(root, "log", "-1", "--format=%H", "--", *paths)
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", *paths)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if not commit:
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def stamp_time(spin: SpinManifest, component: str, root: Path) -> str:
    commit = stamp(spin, component, root).removesuffix("-dirty")
    if commit == "unknown":
        return "1970-01-01T00:00:00Z"
    return _git(root, "log", "-1", "--format=%cI", commit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spin-toml", type=Path, default=ROOT / "spin.toml")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list").add_argument("--all", action="store_true", help="every component, carried ones too")
    for name in ("members", "package", "inputs", "stamp", "stamp-time"):
        sub.add_parser(name).add_argument("component")
    man = sub.add_parser("manifest")
    man.add_argument("component")
    man.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        spin = SpinManifest.load(args.spin_toml)
        root = args.spin_toml.resolve().parent
        if args.command == "list":
            print("\n".join(spin.components if args.all else spin.artifacts()))
            return 0
        if args.command != "manifest" and args.component not in spin.components:
            raise ComponentError(f"no component {args.component!r} in {args.spin_toml}")
        if args.command == "members":
            print("\n".join(spin.members(args.component)))
        elif args.command == "manifest":
            print(write_manifest(spin, args.component, root, args.out_dir))
        elif args.command == "package":
            print(package(spin, args.component))
        elif args.command == "inputs":
            print("\n".join(inputs(spin, args.component, root)))
        elif args.command == "stamp":
            print(stamp(spin, args.component, root))
        else:
            print(stamp_time(spin, args.component, root))
    except (ComponentError, OSError, subprocess.CalledProcessError) as error:
        print(f"components.py: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
