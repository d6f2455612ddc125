"""deploy/release.sh (what .github/workflows/deploy.yml runs), offline through --dry-run.

The dry run renders exactly what a real run applies (the overlay in a private copy, the image
pinned by a kustomize `images:` wrapper) and touches no cluster, so these tests prove the image
reaches every SpinApp, the apply order survives the wrapper, the operator's and the project's
rules still hold, and malformed input is refused before anything is contacted. They need kubectl
for `kubectl kustomize` and skip loudly without it (fail under REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from conftest import REPO, REPO_ARTIFACTS, errors, find, find_all, kubectl, require_or_skip

from inbox_tools.deploy_check.external_refs import ExternalRefs
from inbox_tools.deploy_check.rules import Context, run_rules
from inbox_tools.manifests import objects_from_docs
from inbox_tools.spin_manifest import SpinManifest

SCRIPT = REPO / "deploy" / "release.sh"
DEPLOY_APP = REPO / "deploy" / "deploy-app.sh"
DIGEST = "sha256:" + "ab12" * 16
COMPONENTS = REPO_ARTIFACTS
REPO_PREFIX = "ghcr.io/acme/webhook-inbox"
# One artifact per component, as scripts/push.sh pushes them.
IMAGES = {c: f"{REPO_PREFIX}/{c}@{DIGEST}" for c in COMPONENTS}
IMAGE = " ".join(f"{c}={ref}" for c, ref in IMAGES.items())


def run(*args: str, script: Path = SCRIPT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, NO_COLOR="1")
    environment.pop("IMAGE_REPOSITORY", None)
    # kubectl from the project's .venv first, as scripts/check-deploy.sh does.
    tool = kubectl()
    if tool:
        environment["PATH"] = f"{Path(tool).parent}{os.pathsep}{environment['PATH']}"
    environment.update(env or {})
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=environment, timeout=120)


def dry_run(overlay: str, *args: str, env: dict[str, str] | None = None) -> tuple[list[dict], str]:
    require_or_skip(kubectl() is not None, "kubectl not found: cannot render the overlays")
    out = run(overlay, "--image", IMAGE, "--dry-run", *args, env=env)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d], out.stderr


def rule_findings(docs: list[dict], overlay: str):
    ctx = Context(
        objects=objects_from_docs(docs),
        spin=SpinManifest.load(REPO / "spin.toml"),
        external=ExternalRefs.load(REPO / "kustomize" / "external-refs.yaml", overlay),
        require_digest=overlay == "prod",
        forbid_placeholder_digest=True,
    )
    return run_rules(ctx)


def test_help() -> None:
    out = run("--help")
    assert out.returncode == 0
    assert "Usage: deploy/release.sh ENV --image COMPONENT=REF" in out.stdout
    assert "--dry-run" in out.stdout


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_dry_run_pins_the_digest_on_every_spinapp_and_keeps_the_rules(overlay: str) -> None:
    docs, plan = dry_run(overlay)
    apps = find_all(docs, "SpinApp")
    assert {a["metadata"]["name"] for a in apps} == {f"webhook-inbox-{c}" for c in COMPONENTS}
    assert {a["spec"]["components"][0]: a["spec"]["image"] for a in apps} == IMAGES
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] != "Namespace"} == {f"webhook-inbox-{overlay}"}
    # Every SpinApp carries its executor's spec hash: an executor change changes the SpinApps.
    assert len({a["metadata"]["annotations"]["webhook-inbox.dev/executor-spec-hash"] for a in apps}) == 1
    # The wrapper repeats sortOptions: the executor is created before the SpinApps (apply-order
    # rule), and no placeholder digest is left anywhere.
    assert errors(rule_findings(docs, overlay)) == []
    kinds = [d["kind"] for d in docs]
    assert kinds.index("SpinAppExecutor") < min(i for i, k in enumerate(kinds) if k == "SpinApp")
    for component, ref in IMAGES.items():
        assert f"image:      {component} {ref}" in plan
    for app in apps:
        assert f"SpinApp {app['metadata']['name']} ({app['spec']['components'][0]}):" in plan
    smoke = "KEDA HTTP interceptor" if overlay == "staging" else "on service/webhook-inbox-api port 80"
    assert smoke in plan
    # Each SpinApp is smoke-tested on its own probe paths; the forwarder, which KEDA does not
    # scale, on its Service in every environment.
    assert "GET /api/healthz /api/readyz" in plan
    assert "GET /forwarder/healthz /forwarder/readyz on service/webhook-inbox-forwarder port 80" in plan
    # The ticker runs inside the forwarder's pods, from the forwarder's artifact: no workload of
    # its own to roll out, no image of its own.
    assert find(docs, "SpinApp", "webhook-inbox-forwarder")["spec"]["components"] == ["forwarder", "ticker"]
    assert not find_all(docs, "Deployment") and "ticker" not in IMAGES
    assert "rollout status (the ticker" not in plan


def test_dry_run_never_renders_a_secret(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("api_token=real-token-must-not-appear\n")
    docs, plan = dry_run("dev", "--secrets-env", str(secrets))
    # Every overlay renders from git alone: the Secrets are created outside it.
    assert find_all(docs, "Secret") == []
    assert "real-token" not in yaml.safe_dump_all(docs) + plan


@pytest.mark.parametrize("script", [SCRIPT, DEPLOY_APP])
def test_the_placeholder_digest_is_refused_before_any_cluster_call(tmp_path: Path, script: Path) -> None:
    # prod's overlay commits sha256:000...0; deploying it would leave the pods in ErrImagePull.
    zero = "sha256:" + "0" * 64
    args = ["prod", "--yes"] + (
        ["--image", " ".join(f"{c}={REPO_PREFIX}/{c}@{zero}" for c in COMPONENTS)] if script == SCRIPT else []
    )
    log = tmp_path / "kubectl-calls"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "kubectl").write_text(
        f'#!/bin/sh\n[ "$1" = kustomize ] && exec {kubectl()} "$@"\necho "$*" >>{log}\nexit 1\n'
    )
    (fake / "kubectl").chmod(0o755)
    out = run(*args, script=script, env={"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"})
    assert out.returncode != 0
    assert "refusing to deploy the placeholder image digest" in out.stderr, out.stdout + out.stderr
    assert "--image COMPONENT=REPO@sha256:<digest>" in out.stderr
    assert not log.exists(), f"the cluster was contacted: {log.read_text()}"


def test_bare_digest_takes_the_repository() -> None:
    require_or_skip(kubectl() is not None, "kubectl not found: cannot render the overlays")
    bare = " ".join(f"{c}={DIGEST}" for c in COMPONENTS)
    out = run("prod", "--image", bare, "--repository", REPO_PREFIX, "--dry-run")
    assert out.returncode == 0, out.stderr
    apps = find_all([d for d in yaml.safe_load_all(out.stdout) if d], "SpinApp")
    assert {a["spec"]["components"][0]: a["spec"]["image"] for a in apps} == IMAGES
    out = run("prod", "--image", bare, "--dry-run", env={"IMAGE_REPOSITORY": REPO_PREFIX})
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prod", "--image", "api=ghcr.io/acme/webhook-inbox/api:1.2.3"], "must be pinned by digest"),
        (["prod", "--image", "api=ghcr.io/acme/webhook-inbox/api@sha256:abc"], "must be pinned by digest"),
        (["prod", "--image", f"api=ghcr.io/acme/webhook-inbox/api:1.2.3@{DIGEST}"], "not both"),
        (["prod", "--image", f"api={DIGEST}"], "name the repository"),
        (["prod", "--image", f"ghcr.io/acme/webhook-inbox@{DIGEST}"], "COMPONENT=REF"),
        (["prod"], "--image is required"),
        (["qa", "--image", IMAGE], "unknown ENV"),
        (["--image", IMAGE], "ENV is required"),
        (["staging", "--image", IMAGE, "--secrets-env", "/etc/hostname"], "for dev only"),
        (["dev", "--image", IMAGE, "--secrets-env", "/nonexistent/secrets.env"], "no such file"),
        (["prod", "--image", IMAGE, "--expect-commit", "api=main"], "git commit sha"),
        (["prod", "--image", IMAGE, "--expect-commit", "0123456"], "COMPONENT=SHA"),
        (["prod", "--image", IMAGE, "--frobnicate"], "unknown option"),
    ],
)
def test_bad_input_is_refused_before_any_cluster_call(args: list[str], message: str) -> None:
    # KUBECONFIG at a file that does not exist: a kubectl call would fail differently.
    out = run(*args, "--dry-run", env={"KUBECONFIG": "/nonexistent/kubeconfig"})
    assert out.returncode != 0
    assert message in out.stderr, out.stderr


def test_deploy_app_refuses_a_malformed_image_before_the_cluster() -> None:
    require_or_skip(kubectl() is not None, "kubectl not found: cannot render the overlays")
    out = run("dev", "--image", "webhook-inbox", script=DEPLOY_APP, env={"KUBECONFIG": "/nonexistent/kubeconfig"})
    assert out.returncode != 0
    assert "needs a tag or a digest" in out.stderr, out.stderr
    out = run(
        "dev", "--image", "api=ghcr.io/acme/x/api:1", script=DEPLOY_APP, env={"KUBECONFIG": "/nonexistent/kubeconfig"}
    )
    assert out.returncode != 0
    others = ", ".join(sorted(c for c in COMPONENTS if c != "api"))
    assert f"no image for component(s) {others}" in out.stderr, out.stderr


# --- the real path, against a fake kubectl ------------------------------------------------------
# No cluster is available offline, so a stand-in kubectl answers the calls release.sh makes the
# way a cluster with the spin-operator would: the operator's Deployments run the applied image,
# and `port-forward` serves /healthz and /readyz from a local HTTP server. It proves the order of
# the steps, the digest reaching the Deployments, dev keeping its Secret values, the staging path
# through the interceptor with the Ingress host, the commit check, and that no secret is printed.
FAKE_KUBECTL = r'''#!/usr/bin/env python3
import http.server, json, os, subprocess, sys

args = sys.argv[1:]
state = os.environ["FAKE_STATE"]
with open(os.path.join(state, "calls.log"), "a") as log:
    log.write(" ".join(args) + "\n")
ns = None
if args[:1] == ["-n"]:
    ns, args = args[1], args[2:]

def applied():
    path = os.path.join(state, "applied.yaml")
    return open(path).read() if os.path.exists(path) else ""

def images():
    return " ".join(line.split(": ", 1)[1] for line in applied().splitlines() if line.startswith("  image: "))


def spinapp_names():
    import yaml
    return [d["metadata"]["name"] for d in yaml.safe_load_all(applied()) if d and d.get("kind") == "SpinApp"]

if args[:2] == ["version", "--client"]:
    print("Client Version: v1.35.0")
elif args[:2] == ["config", "current-context"]:
    print("ci-cluster")
elif args[:1] == ["kustomize"]:
    os.execv(os.environ["REAL_KUBECTL"], [os.environ["REAL_KUBECTL"], *args])
elif args[:1] == ["apply"]:
    source = args[args.index("-f") + 1]
    text = sys.stdin.read() if source == "-" else open(source).read()
    if source != "-":
        open(os.path.join(state, "applied.yaml"), "w").write(text)
    print("applied")
elif args[:3] == ["get", "secret", "webhook-inbox-redis"]:
    print("secret/" + args[2])
elif args[:3] == ["get", "secret", "webhook-inbox-secrets"]:
    if os.environ.get("FAKE_NO_APP_SECRET") and not os.path.exists(os.path.join(state, "created")):
        sys.exit(1)
    print("secret/" + args[2])
elif args[:3] == ["create", "secret", "generic"]:
    open(os.path.join(state, "created"), "w").write(" ".join(args))
elif args[:1] in (["delete"], ["label"], ["wait"]) or args[:2] == ["rollout", "restart"]:
    pass
elif args[:2] == ["get", "crd"] or args[:2] == ["get", "runtimeclass"]:
    print(args[2])
elif args[:2] == ["get", "deployments"]:
    print("deployment.apps/spin-operator-controller-manager")
elif args[:2] == ["create", "namespace"]:
    print(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {args[2]}")
elif args[:2] == ["get", "spinapps"]:
    print(" ".join(spinapp_names()))
elif args[:2] == ["get", "deployment"]:
    print(images() + " ")
elif args[:1] == ["get"] and args[1].startswith("deployment/"):
    print(args[1])
elif args[:2] == ["rollout", "status"]:
    print(f"deployment {args[2]} successfully rolled out")
elif args[:2] == ["get", "ingress"]:
    print("staging.webhook-inbox.localhost", end="")
elif args[:3] == ["get", "service", "keda-http-interceptor"]:
    print("8080" if "ports" in args[-1] else "keda-add-ons-http-interceptor-proxy.keda.svc.cluster.local", end="")
elif args[:1] == ["port-forward"]:
    # Which file this port-forward writes its "Forwarding from" line to, and what it held already.
    out = os.readlink("/proc/self/fd/1")
    with open(os.path.join(state, "port-forward-logs"), "a") as log:
        log.write(f"{out}\t{os.path.getsize(out) if os.path.exists(out) else 0}\n")
    want_host = os.environ.get("FAKE_HOST")
    commit = os.environ.get("FAKE_COMMIT", "unknown")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            with open(os.path.join(state, "requests.log"), "a") as log:
                log.write(f"{ns} {args[1]} {self.path} {self.headers.get('Host')}\n")
            # The interceptor routes by Host; a SpinApp's own Service answers whatever the Host.
            if want_host and ns == "keda" and self.headers.get("Host") != want_host:
                self.send_response(404); self.end_headers(); return
            probe = self.path.rsplit("/", 1)[-1]
            body = {"healthz": {"status": "ok", "commit": commit}, "readyz": {"status": "ready"}}.get(probe)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(json.dumps(body or {}).encode())

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    print(f"Forwarding from 127.0.0.1:{server.server_port} -> {args[2].lstrip(':')}", flush=True)
    server.serve_forever()
else:
    sys.exit(f"fake kubectl: unexpected call {sys.argv[1:]}")
'''


@pytest.fixture
def fake_cluster(tmp_path: Path):
    require_or_skip(kubectl() is not None, "kubectl not found: cannot render the overlays")
    require_or_skip(
        subprocess.run(["sh", "-c", "command -v curl"], capture_output=True).returncode == 0, "curl not found"
    )
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text(FAKE_KUBECTL)
    fake.chmod(0o755)

    def deploy(*args: str, script: Path = SCRIPT, **env: str) -> subprocess.CompletedProcess:
        environment = dict(
            os.environ,
            NO_COLOR="1",
            PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            FAKE_STATE=str(state),
            REAL_KUBECTL=str(kubectl()),
            SMOKE_TIMEOUT="5",
            **env,
        )
        return subprocess.run(
            ["bash", str(script), *args], capture_output=True, text=True, env=environment, timeout=120
        )

    def calls() -> list[str]:
        return (state / "calls.log").read_text().splitlines()

    def requests() -> list[str]:
        path = state / "requests.log"
        return path.read_text().splitlines() if path.exists() else []

    def applied() -> list[dict]:
        return [d for d in yaml.safe_load_all((state / "applied.yaml").read_text()) if d]

    deploy.calls, deploy.requests, deploy.applied = calls, requests, applied  # type: ignore[attr-defined]
    deploy.state = str(state)  # type: ignore[attr-defined]
    return deploy


def test_prod_applies_waits_and_smoke_tests_every_service(fake_cluster) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    expect = " ".join(f"{c}={commit}" for c in COMPONENTS)
    out = fake_cluster("prod", "--image", IMAGE, "--yes", "--expect-commit", expect, FAKE_COMMIT=commit)
    assert out.returncode == 0, out.stdout + out.stderr
    assert {
        a["spec"]["components"][0]: a["spec"]["image"] for a in find_all(fake_cluster.applied(), "SpinApp")
    } == IMAGES
    calls = fake_cluster.calls()
    apply = next(i for i, c in enumerate(calls) if c.startswith("apply"))
    rollouts = [i for i, c in enumerate(calls) if c.startswith("-n webhook-inbox-prod rollout status")]
    forwards = [i for i, c in enumerate(calls) if "port-forward" in c]
    # One rollout per SpinApp (the ticker runs in the forwarder's pods); one smoke test per SpinApp.
    assert len(rollouts) == len(COMPONENTS) and len(forwards) == len(COMPONENTS)
    assert apply < min(rollouts) and max(rollouts) < min(forwards)
    assert not any("webhook-inbox-ticker" in c for c in calls)
    paths = sorted(r.split()[1:3] for r in fake_cluster.requests())
    # Each SpinApp is probed on its own component's paths (its checks).
    assert [p for p in paths if p[1].endswith("/readyz")] == [
        ["service/webhook-inbox-api", "/api/readyz"],
        ["service/webhook-inbox-console", "/console/readyz"],
        ["service/webhook-inbox-forwarder", "/forwarder/readyz"],
        ["service/webhook-inbox-health", "/readyz"],
        ["service/webhook-inbox-webhook", "/webhooks/readyz"],
    ]
    assert "GET /webhooks/readyz -> 200" in out.stdout


def test_a_wrong_commit_fails_the_smoke_test(fake_cluster) -> None:
    out = fake_cluster("prod", "--image", IMAGE, "--yes", "--expect-commit", "api=0123456", FAKE_COMMIT="fedcba9")
    assert out.returncode != 0
    assert "not commit 0123456" in out.stderr, out.stderr


# A proxy in the environment (CI runners and corporate shells set one; pip and apt need it on
# these machines). curl sends even http://127.0.0.1 through http_proxy, so the smoke test reached
# the proxy instead of the port-forward: "did not answer 200", never the commit check. This one
# answers 403 to everything, as the proxy of the machine CI failed on did.
@pytest.fixture
def proxy():

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(403)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    yield {"http_proxy": url, "HTTP_PROXY": url, "https_proxy": url, "HTTPS_PROXY": url, "no_proxy": "", "NO_PROXY": ""}
    server.shutdown()


def test_the_smoke_test_ignores_a_proxy_in_the_environment(fake_cluster, proxy) -> None:
    out = fake_cluster(
        "prod", "--image", IMAGE, "--yes", "--expect-commit", "api=0123456", FAKE_COMMIT="fedcba9", **proxy
    )
    assert out.returncode != 0
    assert "not commit 0123456" in out.stderr, out.stderr
    commit = "0123456789abcdef0123456789abcdef01234567"
    expect = " ".join(f"{c}={commit}" for c in COMPONENTS)
    out = fake_cluster("staging", "--image", IMAGE, "--yes", "--expect-commit", expect, FAKE_COMMIT=commit,
                       FAKE_HOST="staging.webhook-inbox.localhost", **proxy)
    assert out.returncode == 0, out.stderr


def test_each_port_forward_is_read_from_its_own_fresh_log(fake_cluster) -> None:
    # One log for every port-forward let a read race the background `>` truncation and take the
    # previous port-forward's port (its listener already stopped): the smoke test failed about one
    # run in four on a busy machine. Each port-forward now gets its own log, empty when it starts.
    out = fake_cluster("prod", "--image", IMAGE, "--yes")
    assert out.returncode == 0, out.stderr
    logs = [line.split("\t") for line in (Path(fake_cluster.state) / "port-forward-logs").read_text().splitlines()]
    assert len(logs) == len(COMPONENTS)
    assert len({path for path, _ in logs}) == len(logs), logs
    assert {size for _, size in logs} == {"0"}, logs


def test_staging_goes_through_the_interceptor_with_the_ingress_host(fake_cluster) -> None:
    out = fake_cluster("staging", "--image", IMAGE, "--yes", FAKE_HOST="staging.webhook-inbox.localhost")
    assert out.returncode == 0, out.stdout + out.stderr
    assert any(
        c == "-n keda port-forward service/keda-add-ons-http-interceptor-proxy :8080" for c in fake_cluster.calls()
    )
    via_interceptor = [r.split() for r in fake_cluster.requests() if r.startswith("keda ")]
    assert {r[3] for r in via_interceptor} == {"staging.webhook-inbox.localhost"}
    assert {r[2] for r in via_interceptor} >= {"/readyz", "/api/readyz", "/webhooks/readyz", "/console/readyz"}
    # The forwarder is not scaled by KEDA and the interceptor does not route to it: its Service.
    direct = [r.split()[:3] for r in fake_cluster.requests() if not r.startswith("keda ")]
    assert direct == [["webhook-inbox-staging", "service/webhook-inbox-forwarder", "/forwarder/healthz"],
                      ["webhook-inbox-staging", "service/webhook-inbox-forwarder", "/forwarder/readyz"]]


def test_dev_creates_a_missing_secret_and_never_prints_it(fake_cluster) -> None:
    out = fake_cluster("dev", "--image", IMAGE, "--yes", "--no-smoke-test", FAKE_NO_APP_SECRET="1")
    assert out.returncode == 0, out.stdout + out.stderr
    created = (Path(fake_cluster.state) / "created").read_text()
    assert created.startswith("create secret generic webhook-inbox-secrets --from-file=")
    assert find_all(fake_cluster.applied(), "Secret") == []
    assert "random values" in out.stderr


def test_staging_without_its_secret_stops(fake_cluster) -> None:
    out = fake_cluster("staging", "--image", IMAGE, "--yes", "--no-smoke-test", FAKE_NO_APP_SECRET="1")
    assert out.returncode != 0 and "create it from your secret store" in out.stderr


def test_deploy_app_observability_makes_the_spinapps_reconcile(fake_cluster, tmp_path: Path) -> None:
    # The operator does not watch SpinAppExecutors: turning observability on must change the
    # SpinApps too, or nothing is exported until they happen to reconcile.
    hashes = {}
    for flags in ([], ["--observability"]):
        out = fake_cluster("dev", *flags, "--no-redis", "--no-smoke-test", "--yes", script=DEPLOY_APP)
        assert out.returncode == 0, out.stdout + out.stderr
        apps = find_all(fake_cluster.applied(), "SpinApp")
        executor = find(fake_cluster.applied(), "SpinAppExecutor")
        assert ("otel" in executor["spec"]["deploymentConfig"]) == bool(flags)
        hashes[bool(flags)] = {a["metadata"]["annotations"]["webhook-inbox.dev/executor-spec-hash"] for a in apps}
        assert len(hashes[bool(flags)]) == 1
    assert hashes[True] != hashes[False]
    assert "the operator reconciles them" in out.stdout


def test_context_guard(fake_cluster) -> None:
    out = fake_cluster("prod", "--image", IMAGE)
    assert out.returncode != 0
    assert "not 'k3d-webhook-inbox'" in out.stderr


# --- deploy/prune-runtime-configs.sh: the old runtime configs after a Redis password rotation ---

OWNER = {"apiVersion": "core.spinkube.dev/v1alpha1", "kind": "SpinApp", "name": "webhook-inbox-api"}


def secret(name: str, owners: list[dict], keys: tuple[str, ...] = ("runtime-config.toml",)) -> dict:
    return {"metadata": {"name": name, "ownerReferences": owners}, "data": {k: "eA==" for k in keys}}


def test_prune_deletes_only_unmounted_operator_runtime_configs(tmp_path: Path) -> None:

    secrets = {"items": [
        secret("webhook-inbox-api-1a2b3c4d", [OWNER]),          # old runtime config: stale
        secret("webhook-inbox-api-5e6f7a8b", [OWNER]),          # mounted by the Deployment: kept
        secret("webhook-inbox-api-9c0d1e2f", []),               # not the operator's: kept
        secret("webhook-inbox-redis", []),                      # ours: kept
        secret("webhook-inbox-api-3a4b5c6d", [OWNER], ("url",)),  # no runtime-config.toml: kept
        secret("webhook-inbox-api-extra-1a2b", [OWNER]),        # not <app>-<hex>: kept
    ]}
    deployments = {"items": [{"spec": {"template": {"spec": {"volumes": [
        {"name": "spin-runtime-config", "secret": {"secretName": "webhook-inbox-api-5e6f7a8b"}}]}}}}]}
    state = tmp_path / "state"
    state.mkdir()
    (state / "secrets.json").write_text(json.dumps(secrets))
    (state / "deployments.json").write_text(json.dumps(deployments))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >>{state}/calls\n'
        'case "$*" in\n'
        '  "version --client") echo "Client Version: v1.35.0" ;;\n'
        '  "config current-context") echo ci ;;\n'
        f'  *"get secrets -o json") cat {state}/secrets.json ;;\n'
        f'  *"get deployments -o json") cat {state}/deployments.json ;;\n'
        '  *"delete secret "*) ;;\n'
        '  *) exit 1 ;;\n'
        "esac\n"
    )
    (bin_dir / "kubectl").chmod(0o755)
    script = REPO / "deploy" / "prune-runtime-configs.sh"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    dry = run("--dry-run", "--yes", "webhook-inbox-prod", script=script, env=env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would delete Secret webhook-inbox-api-1a2b3c4d" in dry.stdout
    assert "delete secret" not in (state / "calls").read_text()
    out = run("--yes", "webhook-inbox-prod", script=script, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    deletes = [c for c in (state / "calls").read_text().splitlines() if "delete secret" in c]
    assert deletes == ["-n webhook-inbox-prod delete secret webhook-inbox-api-1a2b3c4d"]
    assert "eA==" not in out.stdout + out.stderr
