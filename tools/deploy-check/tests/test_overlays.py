"""The real overlays, rendered with kubectl kustomize, and what the configurations file buys.

These render from a private copy of kustomize/ as a fresh clone has it (git's files only, never a
git-ignored one) and need kubectl; they skip loudly without it (fail under REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, REPO_ARTIFACTS, errors, find, find_all, kubectl, require_or_skip

from inbox_tools.deploy_check.external_refs import ExternalRefs
from inbox_tools.deploy_check.rules import Context, run_rules
from inbox_tools.manifests import objects_from_docs
from inbox_tools.spin_manifest import SpinManifest

SORT_OPTIONS = (REPO / "kustomize" / "overlays" / "prod" / "kustomization.yaml").read_text()
SORT_OPTIONS = SORT_OPTIONS[SORT_OPTIONS.index("sortOptions:") :]
# What a kustomization that renames the SpinApps must repeat (docs/deploy.md, "Kustomize notes"):
# forward_dispatch_url is a URL, which kustomize's name references cannot follow, so it is set
# from the forwarder SpinApp's final name, whatever the prefix.
FORWARDER_ORIGIN = """replacements:
  - source:
      kind: SpinApp
      name: webhook-inbox-forwarder
      fieldPath: metadata.name
    targets:
      - select:
          kind: ConfigMap
          name: webhook-inbox-settings
        fieldPaths:
          - data.forward_dispatch_url
        options:
          delimiter: "//"
          index: 1
"""


def fresh_clone_files() -> list[str]:
    """kustomize/'s files as a fresh clone has them: tracked, or new and not ignored."""
    out = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "kustomize"],
        capture_output=True, text=True, check=True,
    )
    return [f for f in out.stdout.split("\0") if f and (REPO / f).is_file()]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    require_or_skip(kubectl() is not None, "kubectl not found: cannot render the overlays")
    for name in fresh_clone_files():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path / "kustomize"


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_no_overlay_reads_a_git_ignored_file(overlay: str) -> None:
    # A generator over a git-ignored file (dev's secrets.env was one) cannot render on a fresh
    # clone: `evalsymlink failure on .../secrets.env`. Secrets are created outside git instead.
    data = yaml.safe_load((REPO / "kustomize" / "overlays" / overlay / "kustomization.yaml").read_text())
    for generator in (data.get("secretGenerator") or []) + (data.get("configMapGenerator") or []):
        for name in (generator.get("envs") or []) + [f.split("=")[-1] for f in generator.get("files") or []]:
            path = REPO / "kustomize" / "overlays" / overlay / name
            ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", str(path)]).returncode == 0
            assert not ignored, f"overlay {overlay} reads the git-ignored {name}: a fresh clone cannot render it"


def render(directory: Path) -> list[dict]:
    out = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def rule_findings(docs: list[dict], overlay: str, **kwargs):
    ctx = Context(
        objects=objects_from_docs(docs),
        spin=SpinManifest.load(REPO / "spin.toml"),
        external=ExternalRefs.load(REPO / "kustomize" / "external-refs.yaml", overlay),
        require_digest=overlay == "prod",
        **kwargs,
    )
    return run_rules(ctx)


def wrapper(tree: Path, name: str, body: str) -> Path:
    directory = tree / "overlays" / name
    directory.mkdir()
    (directory / "kustomization.yaml").write_text(body)
    return directory


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_real_overlays_render_and_pass_the_rules(tree: Path, overlay: str) -> None:
    docs = render(tree / "overlays" / overlay)
    assert errors(rule_findings(docs, overlay)) == []
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] != "Namespace"} == {f"webhook-inbox-{overlay}"}


def test_images_reach_spinapps(tree: Path) -> None:
    # One artifact per component: each SpinApp gets its own component's image.
    prod = {
        d["spec"]["components"][0]: d["spec"]["image"] for d in find_all(render(tree / "overlays" / "prod"), "SpinApp")
    }
    assert set(prod) == set(REPO_ARTIFACTS)
    for component, image in prod.items():
        assert image.startswith(f"ghcr.io/example-org/webhook-inbox/{component}@sha256:")
    staging = {
        d["spec"]["components"][0]: d["spec"]["image"]
        for d in find_all(render(tree / "overlays" / "staging"), "SpinApp")
    }
    assert staging == {c: f"ghcr.io/example-org/webhook-inbox/{c}:0.1.0" for c in REPO_ARTIFACTS}


def test_generated_names_reach_spinapps(tree: Path) -> None:
    docs = render(tree / "overlays" / "dev")
    # Dev renders no Secret: webhook-inbox-secrets is created outside git, as in staging and prod.
    assert find_all(docs, "Secret") == []
    secret = "webhook-inbox-secrets"
    settings = find(docs, "ConfigMap")["metadata"]["name"]
    assert settings.startswith("webhook-inbox-settings-")
    api = find(docs, "SpinApp", "webhook-inbox-api")
    refs = {
        v["valueFrom"].get("secretKeyRef", v["valueFrom"].get("configMapKeyRef"))["name"]
        for v in api["spec"]["variables"]
    }
    assert refs == {secret, settings}


def test_name_prefix_and_suffix_follow_into_autoscalers_ingress_and_refs(tree: Path) -> None:
    # A platform team wrapping prod with a prefix: the HPAs must target the Deployments the
    # operator will name after the *prefixed* SpinApps, and so must the Ingress backends.
    body = f"namePrefix: acme-\nnameSuffix: -eu\nresources:\n  - ../prod\n{FORWARDER_ORIGIN}{SORT_OPTIONS}"
    docs = render(wrapper(tree, "prefixed", body))
    apps = {d["metadata"]["name"] for d in find_all(docs, "SpinApp")}
    assert apps == {f"acme-webhook-inbox-{c}-eu" for c in REPO_ARTIFACTS}
    assert {h["spec"]["scaleTargetRef"]["name"] for h in find_all(docs, "HorizontalPodAutoscaler")} == apps
    backends = {p["backend"]["service"]["name"] for p in find(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"]}
    # Every SpinApp but the forwarder, whose routes stay inside the cluster.
    assert backends == apps - {"acme-webhook-inbox-forwarder-eu"}
    executor = find(docs, "SpinAppExecutor")["metadata"]["name"]
    assert executor == "acme-containerd-shim-spin-eu"
    assert {a["spec"]["executor"] for a in find_all(docs, "SpinApp")} == {executor}
    api = find(docs, "SpinApp", "acme-webhook-inbox-api-eu")
    # Generated ConfigMap followed the prefix; the external Secrets (created outside git) did not.
    names = {
        v["valueFrom"].get("secretKeyRef", v["valueFrom"].get("configMapKeyRef"))["name"]
        for v in api["spec"]["variables"]
    }
    assert any(n.startswith("acme-webhook-inbox-settings-eu-") for n in names)
    assert "webhook-inbox-secrets" in names
    kv = api["spec"]["runtimeConfig"]["keyValueStores"][0]["options"][0]["valueFrom"]["secretKeyRef"]["name"]
    assert kv == "webhook-inbox-redis"
    assert api["spec"]["serviceAccountName"] == "acme-webhook-inbox-app-eu"
    # The forwarder's origin followed the prefix (the wrapper's replacement). The ticker needs no
    # name: it runs inside the forwarder's pods and calls them on loopback.
    settings = next(
        c for c in find_all(docs, "ConfigMap") if c["metadata"]["name"].startswith("acme-webhook-inbox-settings-eu-")
    )
    assert settings["data"]["forward_dispatch_url"] == "http://acme-webhook-inbox-forwarder-eu"
    assert find(docs, "SpinApp", "acme-webhook-inbox-forwarder-eu")["spec"]["components"] == ["forwarder", "ticker"]
    assert errors(rule_findings(docs, "prod")) == []


def test_a_rename_without_the_forwarder_origin_is_caught(tree: Path) -> None:
    # The same wrapper without the replacement: the webhook and api pods would ask a Service that
    # does not exist (the ticker, on loopback inside the forwarder's pods, is unaffected).
    body = f"namePrefix: acme-\nresources:\n  - ../prod\n{SORT_OPTIONS}"
    findings = rule_findings(render(wrapper(tree, "prefixed-wrong", body)), "prod")
    assert {m.split(" names Service ")[1].split(",")[0] for m in errors(findings, "forwarding")} == {
        "webhook-inbox-forwarder"
    }
    spin = SpinManifest.load(REPO / "spin.toml")
    callers = [c for c in spin.components.values() if "forward_dispatch_url" in c.outbound_templates()]
    assert callers and len(errors(findings, "forwarding")) == len(callers)  # the webhook's (and the api's)
    assert errors(findings, "ticker") == []


def test_name_prefix_follows_into_http_scaled_objects(tree: Path) -> None:
    body = f"namePrefix: acme-\nresources:\n  - ../staging\n{FORWARDER_ORIGIN}{SORT_OPTIONS}"
    docs = render(wrapper(tree, "prefixed-staging", body))
    for hso in find_all(docs, "HTTPScaledObject"):
        ref = hso["spec"]["scaleTargetRef"]
        assert ref["name"] == ref["service"] == hso["metadata"]["name"]
        assert ref["name"].startswith("acme-webhook-inbox-")
    assert errors(rule_findings(docs, "staging")) == []


def test_replicas_field_reaches_spinapps_but_never_adds_one(tree: Path) -> None:
    body = (
        "resources:\n  - ../dev\nreplicas:\n  - name: webhook-inbox-api\n    count: 3\n"
        f"{SORT_OPTIONS}"
    )
    docs = render(wrapper(tree, "scaled", body))
    assert find(docs, "SpinApp", "webhook-inbox-api")["spec"]["replicas"] == 3
    body = f"resources:\n  - ../prod\nreplicas:\n  - name: webhook-inbox-api\n    count: 3\n{SORT_OPTIONS}"
    docs = render(wrapper(tree, "scaled-prod", body))
    assert "replicas" not in find(docs, "SpinApp", "webhook-inbox-api")["spec"]


def test_wrapper_without_sort_options_is_caught(tree: Path) -> None:
    # sortOptions are not inherited: a wrapper that forgets them puts SpinApps before the executor.
    docs = render(wrapper(tree, "unsorted", "resources:\n  - ../prod\n"))
    assert any("rejected by the operator's webhook" in m for m in errors(rule_findings(docs, "prod"), "apply-order"))


def test_observability_component(tree: Path) -> None:
    kustomization = tree / "overlays" / "prod" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "\ncomponents:\n  - ../../components/observability\n")
    docs = render(tree / "overlays" / "prod")
    otel = find(docs, "SpinAppExecutor")["spec"]["deploymentConfig"]["otel"]
    # Traces and metrics only (Spin 3.6.3 would export logs too from the combined endpoint, and
    # the collector has no logs pipeline): issue 13, defect 5.
    collector = "http://otel-collector.webhook-inbox-prod.svc.cluster.local:4318"
    assert otel == {
        "exporter_otlp_traces_endpoint": f"{collector}/v1/traces",
        "exporter_otlp_metrics_endpoint": f"{collector}/v1/metrics",
    }
    assert find(docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "prom-metrics"
    assert any(c["metadata"]["name"].startswith("otel-collector-config-") for c in find_all(docs, "ConfigMap"))
    volume = find(docs, "Deployment", "otel-collector")["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"].startswith("otel-collector-config-")
    assert errors(rule_findings(docs, "prod")) == []


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_fixtures_match_the_overlays(tree: Path, overlay: str) -> None:
    # The rule tests mutate tests/fixtures/<overlay>.yaml: keep them what the overlays render.
    fixture = (Path(__file__).parent / "fixtures" / f"{overlay}.yaml").read_text()
    rendered = subprocess.run(
        [kubectl(), "kustomize", str(tree / "overlays" / overlay)], capture_output=True, text=True
    )
    body = "".join(line for line in fixture.splitlines(keepends=True) if not line.startswith("# "))
    assert body == rendered.stdout, (
        f"tests/fixtures/{overlay}.yaml is stale: run scripts/check-deploy.sh and copy "
        f"out/check-deploy/rendered/{overlay}.yaml over it (keep the two header comment lines)"
    )
