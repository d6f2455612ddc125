"""Command line: ``python -m inbox_tools.deploy_check {rules,crd-schema,k8s-schema,list-rules} ...``.

Exit status: 0 when nothing is wrong, 1 when a check found an error, 2 when the inputs could not
be read (bad file, unknown option, unsupported Kubernetes version).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from inbox_tools.deploy_check import crd_schema, k8s_schema
from inbox_tools.deploy_check.external_refs import ExternalRefs, ExternalRefsError
from inbox_tools.deploy_check.findings import ERROR
from inbox_tools.deploy_check.rules import RULES, Context, run_rules
from inbox_tools.manifests import ManifestLoadError, Obj, load_objects
from inbox_tools.spin_manifest import ManifestError, SpinManifest


def _load_all(paths: list[str]) -> list[Obj]:
    objects: list[Obj] = []
    for path in paths:
        objects.extend(load_objects(path))
    return objects


def _load_capacity(path: Path) -> dict:

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ManifestLoadError(f"{path}: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("components"), dict):
        raise ManifestLoadError(f"{path}: expected a mapping with `components:`")
    return data


def cmd_rules(args: argparse.Namespace) -> int:
    objects = load_objects(args.rendered)
    spin = SpinManifest.load(args.spin_toml)
    external = ExternalRefs.load(args.external_refs, args.overlay) if args.external_refs else ExternalRefs()
    unknown = set(args.only or []) - set(RULES)
    if unknown:
        raise SystemExit(f"unknown rule(s): {', '.join(sorted(unknown))}")
    ctx = Context(
        objects=objects,
        spin=spin,
        external=external,
        require_digest=args.require_digest,
        forbid_placeholder_digest=args.forbid_placeholder_digest,
        capacity=_load_capacity(args.capacity) if args.capacity else None,
    )
    findings = run_rules(ctx, set(args.only) if args.only else None)
    for finding in findings:
        print(finding.format(args.rendered))
    errors = sum(1 for f in findings if f.severity == ERROR)
    warnings = len(findings) - errors
    rules = len(args.only) if args.only else len(RULES)
    print(
        f"deploy-check rules: {args.rendered} (overlay {args.overlay}): {rules} rules over "
        f"{len(objects)} objects, {len(ctx.spinapps)} SpinApps: {errors} error(s), {warnings} warning(s)"
    )
    return 1 if errors else 0


def cmd_crd_schema(args: argparse.Namespace) -> int:
    registry = crd_schema.CrdRegistry.load(args.crds_dir)
    missing = [k for k in args.require_kind if not any(kind == k for (_g, kind) in registry.crds)]
    if missing:
        print(f"ERROR no CRD for required kind(s): {', '.join(missing)} in {', '.join(args.crds_dir)}")
        return 1
    failed = 0
    counts = {"ok": 0, "error": 0, "no-schema": 0}
    unvalidated: set[str] = set()
    for obj in _load_all(args.files):
        if k8s_schema.is_builtin(obj):
            continue
        result = crd_schema.validate(obj, registry)
        counts[result.status] += 1
        where = f"{obj.source}: {obj.ref} ({obj.api_version})"
        if result.status == "ok":
            cel = f", {result.cel_rules} CEL rule(s) not evaluated" if result.cel_rules else ""
            print(f"ok    {where}: valid against the CRD schema, unknown fields rejected{cel}")
        elif result.status == "error":
            failed += 1
            for message in result.errors:
                print(f"ERROR {where}: {message}")
        else:
            unvalidated.add(f"{obj.kind} ({obj.api_version})")
    for kind in sorted(unvalidated):
        print(f"WARN  not validated offline, no CRD schema supplied: {kind}")
    print(
        f"deploy-check crd-schema: {counts['ok']} valid, {counts['error']} invalid, "
        f"{counts['no-schema']} without a CRD schema"
    )
    return 1 if failed else 0


def cmd_k8s_schema(args: argparse.Namespace) -> int:
    counts = {"ok": 0, "error": 0, "crd": 0, "no-schema": 0}
    for obj in _load_all(args.files):
        result = k8s_schema.validate(obj, args.kubernetes_version)
        counts[result.status] += 1
        where = f"{obj.source}: {obj.ref} ({obj.api_version})"
        if result.status == "ok":
            print(f"ok    {where}: valid against Kubernetes {args.kubernetes_version} (strict)")
        elif result.status == "error":
            for message in result.errors:
                print(f"ERROR {where}: {message}")
        elif result.status == "no-schema":
            print(f"ERROR {where}: no Kubernetes {args.kubernetes_version} schema for this built-in kind")
    print(
        f"deploy-check k8s-schema: {counts['ok']} valid, {counts['error']} invalid, "
        f"{counts['no-schema']} unknown built-in kind(s), {counts['crd']} CRD object(s) left to crd-schema"
    )
    return 1 if counts["error"] or counts["no-schema"] else 0


def cmd_list_rules(_args: argparse.Namespace) -> int:
    for rule_id, fn in RULES.items():
        summary = (fn.__doc__ or "").strip().splitlines()
        print(f"{rule_id:24} {summary[0] if summary else ''}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy-check", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    rules = sub.add_parser("rules", help="operator and project rules on one rendered overlay")
    rules.add_argument("rendered", help="output of `kubectl kustomize <overlay>`")
    rules.add_argument("--overlay", required=True, help="overlay name (key in the external-refs file)")
    rules.add_argument("--spin-toml", required=True, type=Path)
    rules.add_argument("--external-refs", type=Path, help="allow-list of Secrets/ConfigMaps created outside git")
    rules.add_argument("--require-digest", action="store_true", help="images must be pinned by digest")
    rules.add_argument(
        "--forbid-placeholder-digest",
        action="store_true",
        help="fail (not warn) on an all-same-digit placeholder digest (release pipelines)",
    )
    rules.add_argument(
        "--capacity", type=Path, help="measured per-pod figures (deploy/capacity.yaml) for the capacity rule"
    )
    rules.add_argument("--only", action="append", metavar="RULE", help="run only this rule (repeatable)")
    rules.set_defaults(func=cmd_rules)

    crd = sub.add_parser("crd-schema", help="custom resources against their CRD schemas, strictly")
    crd.add_argument("files", nargs="+")
    crd.add_argument("--crds-dir", action="append", required=True, help="folder of CRD YAML files (repeatable)")
    crd.add_argument("--require-kind", action="append", default=[], help="fail unless a CRD for this kind is loaded")
    crd.set_defaults(func=cmd_crd_schema)

    k8s = sub.add_parser("k8s-schema", help="built-in kinds against the Kubernetes OpenAPI schemas, strictly")
    k8s.add_argument("files", nargs="+")
    k8s.add_argument("--kubernetes-version", required=True)
    k8s.set_defaults(func=cmd_k8s_schema)

    listing = sub.add_parser("list-rules", help="print the rule ids")
    listing.set_defaults(func=cmd_list_rules)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (
        ManifestLoadError,
        ManifestError,
        ExternalRefsError,
        crd_schema.CrdError,
        k8s_schema.UnsupportedVersionError,
    ) as error:
        print(f"ERROR {error}", file=sys.stderr)
        return 2
