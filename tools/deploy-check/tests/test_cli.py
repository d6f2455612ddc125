"""The command line: exit codes and output the scripts rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import FIXTURE_COMPONENTS, FIXTURES, REPO, crds_dir, find, require_or_skip

from inbox_tools.deploy_check.cli import main

SPIN = str(FIXTURES / "spin.toml")
REFS = str(REPO / "kustomize" / "external-refs.yaml")


def write(tmp_path: Path, docs: list[dict]) -> str:
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def test_rules_pass(capsys) -> None:
    code = main(["rules", str(FIXTURES / "dev.yaml"), "--overlay", "dev", "--spin-toml", SPIN, "--external-refs", REFS])
    assert code == 0
    assert "0 error(s)" in capsys.readouterr().out


def test_rules_fail_with_exit_1(tmp_path, docs, capsys) -> None:
    d = docs("dev")
    find(d, "SpinApp", "webhook-inbox-api")["spec"]["components"] = ["health"]
    code = main(["rules", write(tmp_path, d), "--overlay", "dev", "--spin-toml", SPIN, "--external-refs", REFS])
    out = capsys.readouterr().out
    assert code == 1
    assert "ERROR [probes]" in out and "webhook-inbox-dev/webhook-inbox-api" in out


def test_rules_only(tmp_path, docs) -> None:
    d = docs("dev")
    find(d, "SpinApp", "webhook-inbox-api")["spec"]["components"] = ["health"]
    rendered = write(tmp_path, d)
    base = ["rules", rendered, "--overlay", "dev", "--spin-toml", SPIN, "--external-refs", REFS]
    assert main(base + ["--only", "namespace"]) == 0
    assert main(base + ["--only", "probes"]) == 1


def test_capacity_figures_file(tmp_path) -> None:
    base = [
        "rules",
        str(FIXTURES / "staging.yaml"),
        "--overlay",
        "staging",
        "--spin-toml",
        SPIN,
        "--external-refs",
        REFS,
    ]
    figures = tmp_path / "capacity.yaml"
    figures.write_text("margin: 0.5\ncomponents:\n" + "".join(
        f"  {c}: {{idle_mib: 35, per_in_flight_mib: 2, first_start_ms: 800}}\n" for c in FIXTURE_COMPONENTS))
    assert main(base + ["--capacity", str(figures)]) == 0
    # 30 in flight x 6 MiB x 1.5 + 35 idle does not fit 256 Mi.
    figures.write_text(figures.read_text().replace("per_in_flight_mib: 2,", "per_in_flight_mib: 6,"))
    assert main(base + ["--capacity", str(figures), "--only", "capacity"]) == 1
    figures.write_text("not: figures\n")
    assert main(base + ["--capacity", str(figures)]) == 2


def test_prod_placeholder_digest_release_mode() -> None:
    base = ["rules", str(FIXTURES / "prod.yaml"), "--overlay", "prod", "--spin-toml", SPIN, "--external-refs", REFS]
    assert main(base + ["--require-digest"]) == 0
    assert main(base + ["--require-digest", "--forbid-placeholder-digest"]) == 1


def test_unreadable_input_exits_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: a mapping\n")
    assert main(["rules", str(bad), "--overlay", "dev", "--spin-toml", SPIN]) == 2
    assert "not a Kubernetes object" in capsys.readouterr().err


def test_crd_schema_cli(tmp_path, docs, capsys) -> None:
    directory = crds_dir()
    require_or_skip(directory.is_dir(), f"SpinKube CRD folder not found: {directory}")
    d = docs("staging")
    args = ["crd-schema", "--crds-dir", str(directory), "--require-kind", "SpinApp"]
    assert main(args + [write(tmp_path, d)]) == 0
    assert "not validated offline, no CRD schema supplied: HTTPScaledObject" in capsys.readouterr().out
    find(d, "SpinApp", "webhook-inbox-api")["spec"]["nodeSelector"] = {}
    assert main(args + [write(tmp_path, d)]) == 1
    assert main(["crd-schema", "--crds-dir", str(directory), "--require-kind", "Nope", write(tmp_path, d)]) == 1


def test_k8s_schema_cli(tmp_path, docs) -> None:
    d = docs("prod")
    assert main(["k8s-schema", "--kubernetes-version", "1.35.0", write(tmp_path, d)]) == 0
    find(d, "Ingress")["spec"]["rules"][0]["hosts"] = ["x"]
    assert main(["k8s-schema", "--kubernetes-version", "1.35.0", write(tmp_path, d)]) == 1
    assert main(["k8s-schema", "--kubernetes-version", "9.99.0", write(tmp_path, d)]) == 2


def test_list_rules(capsys) -> None:
    assert main(["list-rules"]) == 0
    assert "apply-order" in capsys.readouterr().out


def test_usage_error() -> None:
    with pytest.raises(SystemExit):
        main(["rules"])
