"""On the kubelet: how fast SpinApps become Ready on a real node, with the upstream shim and a fixed one.

A real single-node cluster (../shared/tools/kubernetes/cluster.sh: kube-apiserver, spin-operator
v0.6.1, kubelet, containerd 1.7 with containerd-shim-spin v0.24.0) runs one SpinApp of the health
component, pushed by scripts/push.sh to the cluster's registry. For each shim build, in a cluster
of its own (`upstream`: the released v0.24.0; `leasefix`: the same shim with runwasi's fixed
precompile lease id replaced by one per save, `CLUSTER_SHIM=leasefix`, ../shared/tools/README.md):

  apply-ready (first)   SpinApp applied -> its Deployment Ready, the artifact's first run on the
                        node (pull, precompile)
  apply-ready (later)   the SpinApp deleted and applied again (precompiled layers cached)
  scale 1 -> N          replicas patched from 1 to N -> all N Ready: time to half and to all,
                        and the container restarts it took
  roll                  a one-SpinApp release (a pod annotation changed) -> rollout complete

Times are wall clock, measured by polling the API every 100 ms; the leasefix/upstream ratio is
the comparison (same machine, same run). Standard library only.

  python3 -m inbox_tools.bench.kubelet [--replicas N] [--rounds R] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inbox_tools import ROOT
from inbox_tools.bench import common
from inbox_tools.spin_manifest import SpinManifest

SHARED_TOOLS = Path(os.environ.get("SHARED_TOOLS_DIR") or ROOT.parent / "shared" / "tools")
NAMESPACE = "bench-kubelet"
APP = "bench-health"


def log(message: str) -> None:
    print(f"  kubelet: {message}", flush=True)


class Cluster:
    def __init__(self, tools: Path, shim: str) -> None:
        self.tools = tools
        self.shim = shim
        self.dir = Path(tempfile.mkdtemp(prefix=f"bench-kubelet-{shim}-"))
        self.kubeconfig = self.dir / "admin.kubeconfig"

    def run(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        out = subprocess.run([str(self.tools / "kubernetes" / "kubectl"), *args], capture_output=True, text=True,
                             env=env, input=stdin)
        if check and out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json"))

    def __enter__(self) -> Cluster:
        env = {**os.environ}
        if self.shim == "leasefix":
            env["CLUSTER_SHIM"] = "leasefix"
        subprocess.run([str(SHARED_TOOLS / "kubernetes" / "cluster.sh"), "start", str(self.tools), str(self.dir)],
                       check=True, env=env, capture_output=True)
        return self

    def __exit__(self, *_exc: object) -> None:
        subprocess.run([str(SHARED_TOOLS / "kubernetes" / "cluster.sh"), "stop", str(self.dir)], capture_output=True)


def spinapp(image: str, replicas: int, annotation: str = "0", name: str = APP,
            components: list[str] | None = None, prefix: str = "") -> str:
    app = {
        "apiVersion": "core.spinkube.dev/v1alpha1",
        "kind": "SpinApp",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "image": image,
            "executor": "containerd-shim-spin",
            "replicas": replicas,
            "components": components or ["health"],
            "podAnnotations": {"bench/release": annotation},
            # The base's checks (kustomize/base/spinapps.yaml), httpHeaders included.
            "checks": {
                "readiness": {"httpGet": {"path": f"{prefix}/readyz", "httpHeaders": []}, "initialDelaySeconds": 1,
                              "periodSeconds": 1, "timeoutSeconds": 2, "failureThreshold": 3},
                "liveness": {"httpGet": {"path": f"{prefix}/healthz", "httpHeaders": []}, "initialDelaySeconds": 5,
                             "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
            },
        },
    }
    return json.dumps(app)


def probe_prefixes() -> dict[str, str]:
    """Each routed component's probe prefix: its `/...` route without the `/...` (health: "")."""
    prefixes: dict[str, str] = {}
    for route in SpinManifest.load(common.APP_MANIFEST).routes:
        if route.path.endswith("/..."):
            prefix = route.path[: -len("/...")]
            current = prefixes.get(route.component)
            if current is None or len(prefix) < len(current):
                prefixes[route.component] = prefix
    return prefixes


def members(component: str) -> list[str]:
    """The components an artifact carries (the forwarder's carries the ticker)."""
    return SpinManifest.load(common.APP_MANIFEST).members(component)


def deployment_state(cluster: Cluster, replicas: int, release: str, name: str = APP) -> tuple[int, int, bool]:
    """(ready replicas, container restarts of current pods, rollout of that spec complete)."""
    out = cluster.run("-n", NAMESPACE, "get", "deployment", name, "-o", "json", check=False)
    if not out:
        return 0, 0, False
    d = json.loads(out)
    want = d["spec"].get("replicas", 1)
    annotations = d["spec"]["template"]["metadata"].get("annotations") or {}
    if want != replicas or annotations.get("bench/release") != release:
        return 0, 0, False  # the operator has not applied the SpinApp's change yet
    s = d.get("status", {})
    done = (s.get("observedGeneration") == d["metadata"]["generation"] and s.get("updatedReplicas") == want
            and s.get("readyReplicas") == want and s.get("replicas") == want)
    pods = cluster.json("-n", NAMESPACE, "get", "pods", "-l", f"core.spinkube.dev/app-name={name}")["items"]
    restarts = sum(c.get("restartCount", 0) for p in pods for c in p.get("status", {}).get("containerStatuses") or [])
    return s.get("readyReplicas") or 0, restarts, done


def restarts_now(cluster: Cluster, name: str = APP) -> int:
    pods = cluster.json("-n", NAMESPACE, "get", "pods", "-l", f"core.spinkube.dev/app-name={name}")["items"]
    return sum(c.get("restartCount", 0) for p in pods for c in p.get("status", {}).get("containerStatuses") or [])


def wait(cluster: Cluster, replicas: int = 1, release: str = "0", half: int = 1, limit: float = 180,
         name: str = APP, restarts_before: int = 0) -> dict:
    """Polls until the rollout is complete: the seconds it took, when `half` pods were Ready, and
    the container restarts of the pods then, less `restarts_before` (what the pods that were
    already running had restarted before)."""
    started = time.monotonic()
    half_at = None
    while True:
        ready, restarts, done = deployment_state(cluster, replicas, release, name)
        elapsed = time.monotonic() - started
        if half_at is None and ready >= half:
            half_at = elapsed
        if done:
            return {"seconds": round(elapsed, 2), "half_seconds": round(half_at or elapsed, 2),
                    "restarts": max(0, restarts - restarts_before)}
        if elapsed > limit:
            raise RuntimeError(f"not Ready after {limit}s (ready {ready}, restarts {restarts})")
        time.sleep(0.1)


def push(spin: Path, tag: str) -> dict[str, str]:
    """scripts/push.sh to the cluster's registry (the release build must exist): component -> reference."""
    out = subprocess.run([str(ROOT / "scripts" / "push.sh"), "--insecure", "127.0.0.1:5000/bench-kubelet", tag],
                         capture_output=True, text=True, env={**os.environ, "SPIN_BIN": str(spin)}, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"scripts/push.sh failed: {out.stderr[-2000:]}")
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def measure_shim(tools: Path, shim: str, pushed, replicas: int, rounds: int, applies: int = 2) -> dict:
    """One shim build in a cluster of its own. `applies`: how often each other SpinApp is applied
    (the first run on the node, then later ones)."""
    result: dict = {"scale": [], "apply_later": [], "roll": [], "scale_stepped": []}
    with Cluster(tools, shim) as cluster:
        references = pushed()
        image = references["health"]
        log(f"{shim}: cluster up, health artifact {image}")
        cluster.run("create", "namespace", NAMESPACE)
        executor = (ROOT / "kustomize" / "base" / "executor.yaml").read_text()
        cluster.run("-n", NAMESPACE, "apply", "-f", "-", stdin=executor)
        time.sleep(1)  # the operator's webhook reads executors from an informer cache
        started = time.monotonic()
        cluster.run("apply", "-f", "-", stdin=spinapp(image, 1))
        first = wait(cluster)
        first["seconds"] = round(time.monotonic() - started, 2)
        result["apply_first"] = first
        log(f"{shim}: apply -> Ready (first run on the node) {first['seconds']}s")
        # Every other artifact, one SpinApp each, one after the other: its first run on the node,
        # then applied again after a delete.
        prefixes = probe_prefixes()
        result["per_spinapp"] = {"health": {"first": first["seconds"]}}
        for component, reference in references.items():
            if component == "health":
                continue
            name = f"bench-{component}"
            times = []
            for _ in range(applies):
                started = time.monotonic()
                cluster.run("apply", "-f", "-", stdin=spinapp(reference, 1, name=name, components=members(component),
                                                               prefix=prefixes.get(component, "")))
                wait(cluster, name=name)
                times.append(round(time.monotonic() - started, 2))
                cluster.run("-n", NAMESPACE, "delete", "spinapp", name, "--wait=true")
                while cluster.run("-n", NAMESPACE, "get", "deployment", name, "-o", "name", check=False).strip():
                    time.sleep(0.2)
            result["per_spinapp"][component] = {"first": times[0], "later": times[1] if len(times) > 1 else "-"}
            later = f", {times[1]}s (later)" if len(times) > 1 else ""
            log(f"{shim}: {component}: apply -> Ready {times[0]}s (first run on the node){later}")
        for n in range(rounds):
            cluster.run("-n", NAMESPACE, "delete", "spinapp", APP, "--wait=true")
            while cluster.json("-n", NAMESPACE, "get", "pods")["items"]:
                time.sleep(0.2)
            started = time.monotonic()
            cluster.run("apply", "-f", "-", stdin=spinapp(image, 1))
            later = wait(cluster)
            result["apply_later"].append(later)
            result["per_spinapp"]["health"].setdefault("later", later["seconds"])
            log(f"{shim}: apply -> Ready (later) {later['seconds']}s")

            before = restarts_now(cluster)
            cluster.run("-n", NAMESPACE, "patch", "spinapp", APP, "--type", "merge",
                        "-p", json.dumps({"spec": {"replicas": replicas}}))
            scaled = wait(cluster, replicas=replicas, half=replicas // 2, restarts_before=before)
            result["scale"].append(scaled)
            log(f"{shim}: scale 1 -> {replicas}: half {scaled['half_seconds']}s, all {scaled['seconds']}s, "
                f"{scaled['restarts']} restarts")
            cluster.run("-n", NAMESPACE, "patch", "spinapp", APP, "--type", "merge",
                        "-p", json.dumps({"spec": {"replicas": 1}}))
            wait(cluster)
            while len(cluster.json("-n", NAMESPACE, "get", "pods")["items"]) > 1:
                time.sleep(0.2)
            # The same scale-out, one pod at a time: each replica added once the previous is Ready,
            # so no two containers start together (what a serialized scale-up costs).
            started = time.monotonic()
            before = restarts_now(cluster)
            restarts = 0
            for k in range(2, replicas + 1):
                cluster.run("-n", NAMESPACE, "patch", "spinapp", APP, "--type", "merge",
                            "-p", json.dumps({"spec": {"replicas": k}}))
                restarts = wait(cluster, replicas=k, restarts_before=before)["restarts"]
            stepped = {"seconds": round(time.monotonic() - started, 2), "half_seconds": 0, "restarts": restarts}
            result["scale_stepped"].append(stepped)
            log(f"{shim}: scale 1 -> {replicas} one pod at a time: {stepped['seconds']}s, {restarts} restarts")
            cluster.run("-n", NAMESPACE, "patch", "spinapp", APP, "--type", "merge",
                        "-p", json.dumps({"spec": {"replicas": 1}}))
            wait(cluster)
            while len(cluster.json("-n", NAMESPACE, "get", "pods")["items"]) > 1:
                time.sleep(0.2)
            cluster.run("-n", NAMESPACE, "patch", "spinapp", APP, "--type", "merge",
                        "-p", json.dumps({"spec": {"podAnnotations": {"bench/release": f"r{n}"}}}))
            rolled = wait(cluster, release=f"r{n}")
            result["roll"].append(rolled)
            log(f"{shim}: one-SpinApp release rolled {rolled['seconds']}s")
    return result


def median(values: list[float]) -> float:
    """The middle value (of two, the larger: the slower round)."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def markdown(results: dict, replicas: int) -> str:
    rows = ["| measure | upstream shim v0.24.0 | leasefix | leasefix / upstream |", "|---|---:|---:|---:|"]
    up, fix = results.get("upstream") or {}, results.get("leasefix") or {}

    def cell(r: dict, key: str, field: str = "seconds") -> float:
        value = r.get(key)
        if isinstance(value, list):
            return median([v[field] for v in value])
        return value[field] if value else float("nan")

    for label, key, field in [
        ("SpinApp applied -> Ready, first run on the node (s)", "apply_first", "seconds"),
        ("SpinApp applied -> Ready, later (s, median)", "apply_later", "seconds"),
        (f"scale 1 -> {replicas}: half Ready (s, median)", "scale", "half_seconds"),
        (f"scale 1 -> {replicas}: all Ready (s, median)", "scale", "seconds"),
        (f"scale 1 -> {replicas}: container restarts (median)", "scale", "restarts"),
        (f"scale 1 -> {replicas} one pod at a time: all Ready (s, median)", "scale_stepped", "seconds"),
        (f"scale 1 -> {replicas} one pod at a time: restarts (median)", "scale_stepped", "restarts"),
        ("one-SpinApp release rolled (s, median)", "roll", "seconds"),
    ]:
        a, b = cell(up, key, field), cell(fix, key, field)
        ratio = f"{b / a:.2f}x" if a and a == a and b == b else "-"
        rows.append(f"| {label} | {a:g} | {b:g} | {ratio} |")
    per_up, per_fix = up.get("per_spinapp") or {}, fix.get("per_spinapp") or {}
    if per_up:
        rows += ["", "| SpinApp applied -> Ready (s) | upstream: first run on the node | upstream: later "
                 "| leasefix: first | leasefix: later |", "|---|---:|---:|---:|---:|"]
        for component, t in per_up.items():
            f = per_fix.get(component) or {}
            rows.append(f"| {component} | {t.get('first', '-')} | {t.get('later', '-')} | {f.get('first', '-')} "
                        f"| {f.get('later', '-')} |")
    return "\n".join(rows) + "\n"


def missing_prerequisites() -> str | None:
    if os.geteuid() != 0:
        return "the cluster needs root"
    for path in (SHARED_TOOLS / "kubernetes" / "cluster.sh", SHARED_TOOLS / "unpack.sh"):
        if not path.exists():
            return f"{path} not found (SHARED_TOOLS_DIR, or ../shared/tools)"
    return None


def measure(cfg: dict, _workdir: Path | None = None) -> dict:
    """Both shims, each in a cluster of its own; {"skipped": why} without the prerequisites."""
    why = missing_prerequisites()
    if why:
        log(f"skipped: {why}")
        return {"skipped": why}
    tools = Path(subprocess.run([str(SHARED_TOOLS / "unpack.sh")], capture_output=True, text=True,
                                check=True).stdout.strip())
    spin = tools / "spin-3.6.3"
    results: dict = {"replicas": cfg["replicas"], "rounds": cfg["rounds"]}
    # The smoke run proves the measurement on the upstream shim only: the leasefix run is the same
    # code in a cluster started with CLUSTER_SHIM=leasefix, and a second cluster costs a minute.
    for shim in cfg.get("shims", ("upstream", "leasefix")):
        results[shim] = measure_shim(tools, shim, lambda tag=shim: push(spin, tag), cfg["replicas"], cfg["rounds"],
                                     cfg.get("applies", 2))
    return results


def markdown_section(section: dict) -> list[str]:
    if not section or section.get("skipped"):
        return ["", "### On the kubelet", "", f"Skipped: {(section or {}).get('skipped', 'not run')}."]
    return ["", f"### On the kubelet (a real single-node cluster; health SpinApp, {section['rounds']} round(s), "
            "inbox_tools.bench.kubelet)", "", markdown(section, section["replicas"])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench-kubelet")
    args = parser.parse_args()
    results = measure({"replicas": args.replicas, "rounds": args.rounds})
    if results.get("skipped"):
        print(f"kubelet: skipped: {results['skipped']}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    table = markdown(results, args.replicas)
    (args.out / "results.md").write_text(table)
    print("\n==> kubelet summary\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
