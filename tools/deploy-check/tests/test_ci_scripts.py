"""The workflows' shell steps (scripts/ci/*.sh) and the workflows' own policy, offline.

The workflows only call repository scripts, so what they do is tested here, the way a step runs
them: with GitHub's output files pointed into a temporary folder. The policy tests read the
workflow files: least-privilege permissions, one-line `run:` steps calling scripts, no expression
or secret expanded inside a shell line.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO

CI = REPO / "scripts" / "ci"
WORKFLOWS = REPO / ".github" / "workflows"
DIGEST = "sha256:" + "cd34" * 16
COMMIT = "0123456789abcdef0123456789abcdef01234567"
STAMP = "89abcdef0123456789abcdef0123456789abcdef"


def run(script: str, *args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("GITHUB_") and k not in {"RUNNER_TEMP", "IMAGE"}
    }
    environment.update(env)
    return subprocess.run(
        ["bash", str(CI / script), *args], capture_output=True, text=True, env=environment, cwd=cwd, timeout=60
    )


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


# --- release-push.sh ----------------------------------------------------------------------------
FAKE_PUSH = """#!/usr/bin/env bash
# Stands in for scripts/push.sh: same interface, no registry.
set -euo pipefail
echo "$*" >"${FAKE_LOG}"
flags=()
while [[ "$1" == --* ]]; do flags+=("$1"); shift; done
image="$1"
refs=()
{
  echo "image=${image}"
  echo "components=health api"
  for c in health api; do
    echo "digest_${c}=${FAKE_DIGEST}"
    echo "reference_${c}=${image}/${c}@${FAKE_DIGEST}"
    echo "commit_${c}=${FAKE_STAMP}"
    refs+=("${c}=${image}/${c}@${FAKE_DIGEST}")
  done
  echo "references=${refs[*]}"
} >>"${GITHUB_OUTPUT}"
printf '%s\\n' "${refs[@]}"
"""


@pytest.fixture
def fake_push(tmp_path: Path) -> dict[str, str]:
    script = tmp_path / "push.sh"
    script.write_text(FAKE_PUSH)
    script.chmod(0o755)
    return {"PUSH_SH": str(script), "FAKE_LOG": str(tmp_path / "push.log"), "FAKE_DIGEST": DIGEST, "FAKE_STAMP": STAMP}


@pytest.mark.parametrize(
    ("ref", "tags"),
    [
        ("refs/heads/main", [COMMIT, "main"]),
        ("refs/tags/v1.2.3", [COMMIT, "1.2.3"]),
        ("refs/tags/v2.0.0-rc.1", [COMMIT, "2.0.0-rc.1"]),
        ("refs/heads/feature", [COMMIT]),
    ],
)
def test_release_push_tags_records_and_outputs(
    tmp_path: Path, fake_push: dict[str, str], ref: str, tags: list[str]
) -> None:
    github_output = tmp_path / "github-output"
    out = run(
        "release-push.sh",
        "--record",
        str(tmp_path / "record"),
        GITHUB_REPOSITORY="Acme-Org/Webhook-Inbox",
        GITHUB_SHA=COMMIT,
        GITHUB_REF=ref,
        GITHUB_OUTPUT=str(github_output),
        **fake_push,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    image = "ghcr.io/acme-org/webhook-inbox"  # GHCR wants lowercase
    assert Path(fake_push["FAKE_LOG"]).read_text().split() == [image, *tags]
    record = outputs(tmp_path / "record" / "release.env")
    # One artifact per component: a digest, a reference and a stamp each.
    assert record["components"] == "health api"
    assert record["reference_api"] == f"{image}/api@{DIGEST}" and record["digest_health"] == DIGEST
    assert record["references"] == f"health={image}/health@{DIGEST} api={image}/api@{DIGEST}"
    assert record["commits"] == f"health={STAMP} api={STAMP}"
    assert record["commit"] == COMMIT and record["ref"] == ref and record["tags"] == " ".join(tags)
    job = outputs(github_output)
    assert job["image"] == image and job["references"] == record["references"] and job["commits"] == record["commits"]


def test_release_push_dry_run_and_refusals(tmp_path: Path, fake_push: dict[str, str]) -> None:
    out = run(
        "release-push.sh",
        "--dry-run",
        "--insecure",
        IMAGE="127.0.0.1:5000/e2e/app",
        GITHUB_SHA=COMMIT,
        GITHUB_REF="refs/tags/v3.1.4",
        **fake_push,
    )
    assert out.returncode == 0, out.stderr
    assert f"--insecure 127.0.0.1:5000/e2e/app {COMMIT} 3.1.4" in out.stdout
    assert not Path(fake_push["FAKE_LOG"]).exists()
    bad = run(
        "release-push.sh",
        GITHUB_SHA=COMMIT,
        GITHUB_REF="refs/tags/v1.0.0+build.5",
        GITHUB_REPOSITORY="a/b",
        **fake_push,
    )
    assert bad.returncode != 0 and "not a valid image tag" in bad.stderr
    bad = run("release-push.sh", IMAGE="ghcr.io/a/b:latest", GITHUB_SHA=COMMIT, **fake_push)
    assert bad.returncode != 0 and "without tag or digest" in bad.stderr
    broken = tmp_path / "broken.sh"
    broken.write_text("#!/bin/sh\nprintf 'image=ghcr.io/a/b\\ncomponents=api\\n' >>\"$GITHUB_OUTPUT\"\n")
    broken.chmod(0o755)
    bad = run("release-push.sh", GITHUB_SHA=COMMIT, GITHUB_REPOSITORY="a/b", PUSH_SH=str(broken))
    assert bad.returncode != 0 and "reported no digest for api" in bad.stderr


# --- deploy-target.sh ---------------------------------------------------------------------------
def record(tmp_path: Path, ref: str) -> Path:
    path = tmp_path / "release.env"
    path.write_text(
        f"image=ghcr.io/acme/app\ncomponents=health api\ndigest_health={DIGEST}\ncommit_health={STAMP}\n"
        f"digest_api={DIGEST}\ncommit_api={COMMIT}\n"
        f"references=health=ghcr.io/acme/app/health@{DIGEST} api=ghcr.io/acme/app/api@{DIGEST}\n"
        f"commit={COMMIT}\nref={ref}\n"
    )
    return path


IMAGES = f"health=ghcr.io/acme/app/health@{DIGEST} api=ghcr.io/acme/app/api@{DIGEST}"


@pytest.mark.parametrize(("ref", "environment"), [("refs/heads/main", "dev"), ("refs/tags/v1.2.3", "staging")])
def test_deploy_target_after_a_release(tmp_path: Path, ref: str, environment: str) -> None:
    github_output, summary = tmp_path / "out", tmp_path / "summary"
    out = run(
        "deploy-target.sh",
        RELEASE_RECORD=str(record(tmp_path, ref)),
        GITHUB_OUTPUT=str(github_output),
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert out.returncode == 0, out.stderr
    expected = {"environment": environment, "images": IMAGES, "commits": f"health={STAMP} api={COMMIT}"}
    assert outputs(github_output) == expected
    assert f"`ghcr.io/acme/app/api@{DIGEST}`" in summary.read_text()
    # The same from release.yml's call (deploy.yml's inputs), without a record file.
    github_output.unlink()
    out = run(
        "deploy-target.sh",
        DEPLOY_REF=ref,
        DEPLOY_IMAGES=IMAGES,
        DEPLOY_COMMITS=f"health={STAMP} api={COMMIT}",
        GITHUB_OUTPUT=str(github_output),
    )
    assert out.returncode == 0, out.stderr
    assert outputs(github_output) == expected


def test_deploy_target_by_hand(tmp_path: Path) -> None:
    github_output = tmp_path / "out"
    out = run(
        "deploy-target.sh",
        DEPLOY_ENVIRONMENT="prod",
        DEPLOY_IMAGES=f"health={DIGEST} api={DIGEST}",
        GITHUB_REPOSITORY="Acme/App",
        GITHUB_OUTPUT=str(github_output),
    )
    assert out.returncode == 0, out.stderr
    assert outputs(github_output) == {"environment": "prod", "images": IMAGES, "commits": ""}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--environment", "prod", "--images", "api=ghcr.io/acme/app/api:1.2.3"], "pinned by digest"),
        (["--environment", "prod", "--images", "api=ghcr.io/acme/app/api:1.2.3@" + DIGEST], "pinned by digest"),
        (["--environment", "prod", "--images", "ghcr.io/acme/app@" + DIGEST], "COMPONENT=REF"),
        (["--environment", "qa", "--images", "api=ghcr.io/acme/app/api@" + DIGEST], "unknown environment"),
        (["--environment", "prod", "--images", "api=ghcr.io/acme/app/api@" + DIGEST + ";rm"], "pinned by digest"),
        (["--environment", "prod", "--images", f"api={DIGEST} api={DIGEST}", "--repository", "r"], "named twice"),
        (["--environment", "prod"], "give --record FILE"),
        (["--images", "api=" + DIGEST, "--environment", "dev"], "needs --repository"),
        (["--ref", "refs/heads/main", "--images", IMAGES, "--commits", f"api={COMMIT}-dirty"], "uncommitted"),
    ],
)
def test_deploy_target_refuses(args: list[str], message: str) -> None:
    out = run("deploy-target.sh", *args)
    assert out.returncode != 0
    assert message in out.stderr, out.stderr


def test_deploy_target_refuses_a_branch_release(tmp_path: Path) -> None:
    out = run("deploy-target.sh", "--record", str(record(tmp_path, "refs/heads/feature")))
    assert out.returncode != 0 and "deployed nowhere automatically" in out.stderr


# --- kubeconfig.sh ------------------------------------------------------------------------------
KUBECONFIG_YAML = """apiVersion: v1
kind: Config
clusters:
  - name: c
    cluster: {server: https://example.invalid:6443}
users:
  - name: u
    user: {token: very-secret-token}
contexts:
  - name: ctx
    context: {cluster: c, user: u}
current-context: ctx
"""


@pytest.mark.parametrize("encoding", ["yaml", "base64", "base64-wrapped"])
def test_kubeconfig_from_the_secret(tmp_path: Path, encoding: str) -> None:
    data = {
        "yaml": KUBECONFIG_YAML,
        "base64": base64.b64encode(KUBECONFIG_YAML.encode()).decode(),
        "base64-wrapped": base64.encodebytes(KUBECONFIG_YAML.encode()).decode(),
    }[encoding]
    github_env = tmp_path / "github-env"
    out = run("kubeconfig.sh", KUBECONFIG_DATA=data, RUNNER_TEMP=str(tmp_path), GITHUB_ENV=str(github_env))
    assert out.returncode == 0, out.stderr
    written = tmp_path / "kubeconfig"
    assert written.read_text().strip() == KUBECONFIG_YAML.strip()
    assert written.stat().st_mode & 0o777 == 0o600
    assert github_env.read_text() == f"KUBECONFIG={written}\n"
    assert "very-secret-token" not in out.stdout + out.stderr


@pytest.mark.parametrize("data", ["", "bm90IGEga3ViZWNvbmZpZw==", "not base64 at all!"])
def test_kubeconfig_refuses_garbage_without_printing_it(tmp_path: Path, data: str) -> None:
    out = run("kubeconfig.sh", KUBECONFIG_DATA=data, RUNNER_TEMP=str(tmp_path))
    assert out.returncode != 0
    assert not (tmp_path / "kubeconfig").exists()
    if data:
        assert data not in out.stdout + out.stderr


# --- component-tests.sh / wasm-sizes.sh argument handling (no cargo run) ------------------------
@pytest.mark.parametrize("script", ["component-tests.sh"])
def test_component_scripts_refuse_unknown_components(script: str) -> None:
    out = run(script, "frontend")
    assert out.returncode == 2 and "unknown argument" in out.stderr


# --- the workflows' policy ----------------------------------------------------------------------
def workflows() -> dict[str, dict]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(WORKFLOWS.glob("*.yml"))}


def test_the_workflows_exist() -> None:
    # ci, release and deploy; bench runs the full benchmark suite by hand or weekly.
    assert set(workflows()) == {"ci.yml", "release.yml", "deploy.yml", "bench.yml"}


def test_permissions_are_least_privilege() -> None:
    writers = []
    for name, workflow in workflows().items():
        assert workflow["permissions"] == {"contents": "read"}, name
        for job_id, job in workflow["jobs"].items():
            for scope, access in job.get("permissions", {}).items():
                if access != "read":
                    writers.append((name, job_id, scope, access))
    # Only the release push writes, and only packages.
    assert writers == [("release.yml", "push", "packages", "write")]
    assert workflows()["deploy.yml"]["jobs"]["target"]["permissions"] == {"contents": "read"}


def test_run_steps_are_one_line_script_calls_without_expressions() -> None:
    for name, workflow in workflows().items():
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if "run" not in step:
                    continue
                where = f"{name} {job_id} {step.get('name', step['run'])}"
                command = step["run"].strip()
                assert "\n" not in command, f"{where}: keep run: to one line calling a script"
                assert re.match(r"^(\./)?(scripts|deploy)/", command), f"{where}: run a repository script"
                # Inputs, outputs and secrets reach the shell through env:, never spliced into it.
                assert "${{" not in command, f"{where}: pass expressions through env:"


def test_secrets_only_reach_steps_through_env() -> None:
    for name in workflows():
        text = (WORKFLOWS / name).read_text()
        for line in text.splitlines():
            if "secrets." in line and not line.lstrip().startswith("#"):
                assert re.match(r"^\s+[A-Z_]+: \$\{\{ secrets\.[A-Z_]+ \}\}$", line), f"{name}: {line.strip()}"


def test_deploy_jobs_are_gated_by_environments() -> None:
    deploy = workflows()["deploy.yml"]
    triggers = deploy[True]  # PyYAML reads the key `on` as a boolean
    # Called by the release workflow, never started by workflow_run (zizmor dangerous-triggers).
    assert set(triggers) == {"workflow_call", "workflow_dispatch"}
    assert set(triggers["workflow_call"]["inputs"]) == {"ref", "images", "commits"}
    assert triggers["workflow_dispatch"]["inputs"]["environment"]["options"] == ["dev", "staging", "prod"]
    assert deploy["jobs"]["deploy"]["environment"]["name"] == "${{ needs.target.outputs.environment }}"
    release = workflows()["release.yml"]
    assert set(release["jobs"]["push"]["outputs"]) >= {"image", "references", "commits"}
    assert release["jobs"]["deploy"]["uses"] == "$/.github/workflows/deploy.yml"
    assert release["jobs"]["deploy"]["with"]["images"] == "${{ needs.push.outputs.references }}"


def test_component_matrices_are_spin_tomls_components(tmp_path: Path) -> None:
    # No workflow lists the components: each per-component matrix is the output of a job that runs
    # scripts/ci/component-matrix.sh, which writes spin.toml's artifacts as a JSON array.
    ids = subprocess.run(["python3", str(CI / "components.py"), "list"], capture_output=True, text=True, check=True)
    components = ids.stdout.split()
    github_output = tmp_path / "github-output"
    out = run("component-matrix.sh", GITHUB_OUTPUT=str(github_output))
    assert out.returncode == 0, out.stderr
    assert json.loads(outputs(github_output)["components"]) == components
    matrices = 0
    for name, workflow in workflows().items():
        for job_id, job in workflow["jobs"].items():
            matrix = ((job.get("strategy") or {}).get("matrix") or {}).get("component")
            if matrix is None:
                continue
            matrices += 1
            where = f"{name} {job_id}"
            found = re.fullmatch(r"\$\{\{ fromJSON\(needs\.([a-z-]+)\.outputs\.components\) \}\}", str(matrix))
            assert found, f"{where}: matrix {matrix!r} is not a components job's output (a kept list drifts)"
            source = found.group(1)
            needs = job.get("needs")
            assert source in ([needs] if isinstance(needs, str) else needs or []), f"{where}: needs {source}"
            lister = workflow["jobs"][source]
            output = lister["outputs"]["components"]
            step_id = re.fullmatch(r"\$\{\{ steps\.([a-z-]+)\.outputs\.components \}\}", output)
            assert step_id, f"{name} {source}: outputs.components is not a step's output"
            step = next(s for s in lister["steps"] if s.get("id") == step_id.group(1))
            assert step["run"] == "scripts/ci/component-matrix.sh", f"{name} {source}: {step['run']}"
    assert matrices == 2, "ci.yml wasm and release.yml component"


def test_the_release_workflow_restores_no_cache_and_has_history() -> None:
    # A workflow that publishes must not restore a cache another run saved (zizmor
    # cache-poisoning); the stamps need the history (fetch-depth: 0).
    release = workflows()["release.yml"]
    for job_id, job in release["jobs"].items():
        for step in job.get("steps", []):
            assert "rust-cache" not in step.get("uses", ""), f"release.yml {job_id} restores a cache"
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["fetch-depth"] == 0, f"release.yml {job_id}: the stamps need the history"


def test_each_release_job_uploads_every_wasm_its_artifact_holds() -> None:
    # The push job pushes from the uploaded files only: the forwarder's artifact needs the
    # ticker's .wasm too (scripts/ci/components.py members).
    script = ["python3", str(CI / "components.py")]
    component_job = workflows()["release.yml"]["jobs"]["component"]
    upload = next(s for s in component_job["steps"] if "upload-artifact" in s.get("uses", ""))
    spin_toml = tomllib.loads((REPO / "spin.toml").read_text())
    for artifact in subprocess.run([*script, "list"], capture_output=True, text=True, check=True).stdout.split():
        pattern = upload["with"]["path"].replace("${{ matrix.component }}", artifact)
        held = subprocess.run([*script, "members", artifact], capture_output=True, text=True, check=True).stdout.split()
        for component in held:
            source = spin_toml["component"][component]["source"]
            assert fnmatch.fnmatch(source, pattern), f"the {artifact} job does not upload {source} ({pattern})"
