"""Under the containerd shim: what a node pays per SpinApp pod.

The pod shape without the kubelet: a private containerd (v1.7, its own root, state and socket in
a temporary folder) running each component's released artifact (scripts/push.sh to a local
docker-registry, `ctr image pull --plain-http`) with `ctr run --runtime io.containerd.spin.v2`,
the SpinKube shim v0.24.0 (Spin 3.6.3 inside), a Redis key-value store given as
/runtime-config.toml, as the spin-operator gives a pod. Per component:

  start    launch of `ctr run` to the first 200 on the SpinApp's liveness path: the image's first
           run (the shim precompiles the Wasm and stores it in containerd's content store) and
           later runs (precompiled)
  memory   resident set of the container's processes (the shim and what it runs), idle after
           start, and the peak under C concurrent requests of the component's heaviest kind
           (webhook: signed 64 KB GitHub deliveries; api: event listings; health: /readyz),
           with the increase per in-flight request: the figures the memory limits are sized from
           (deploy/capacity.yaml, tools/deploy-check rule `capacity`)

Called by bench/run.py (section "under the containerd shim") when the tools are there: the
shim, containerd and ctr (SHIM_TOOLS_DIR, default: ../shared/tools unpacked by its unpack.sh),
docker-registry, redis-server, and the project's .venv (kubectl renders the overlay). Without
them it reports why it was skipped. Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from inbox_tools import ROOT

SHIM = "io.containerd.spin.v2"
GITHUB_SECRET = "bench-github-secret"  # obviously fake
API_TOKEN = "bench-api-token"


def log(message: str) -> None:
    print(f"  shim: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(port: int, path: str, timeout: float = 2.0, method: str = "GET", body: bytes | None = None,
           headers: dict | None = None) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status
    except OSError:
        return None


def wait_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def tools_dir() -> Path | None:
    """Where containerd-shim-spin-v2 and containerd-1.7/{containerd,ctr} are, unpacking if needed."""
    if os.environ.get("SHIM_TOOLS_DIR"):
        return Path(os.environ["SHIM_TOOLS_DIR"])
    unpack = ROOT.parent / "shared" / "tools" / "unpack.sh"
    if not unpack.exists():
        return None
    out = subprocess.run([str(unpack)], capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else None


def missing_prerequisites() -> str | None:
    if os.geteuid() != 0:
        return "containerd needs root"
    tools = tools_dir()
    if (
        tools is None
        or not (tools / "containerd-shim-spin-v2").exists()
        or not (tools / "containerd-1.7" / "ctr").exists()
    ):
        return "containerd-shim-spin-v2 / containerd-1.7 not found (SHIM_TOOLS_DIR, or ../shared/tools)"
    for program in ("docker-registry", "redis-server"):
        if not shutil.which(program):
            return f"{program} not found"
    if not (ROOT / ".venv" / "bin" / "kubectl").exists():
        return ".venv/bin/kubectl not found (./scripts/test.sh python)"
    return None


class Node:
    """containerd + registry + redis in one temporary folder: the node a pod runs on."""

    def __init__(self, tmp: Path):
        self.tmp, self.procs = tmp, []
        tools = tools_dir()
        assert tools is not None
        self.ctr_bin = tools / "containerd-1.7" / "ctr"
        (tmp / "bin").mkdir()
        (tmp / "bin" / "containerd-shim-spin-v2").symlink_to(tools / "containerd-shim-spin-v2")
        sock = tmp / "containerd.sock"
        (tmp / "config.toml").write_text(
            f'version = 2\nroot = "{tmp}/root"\nstate = "{tmp}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n'
        )
        env = dict(os.environ, PATH=f"{tmp / 'bin'}:{os.environ['PATH']}")
        self.spawn([str(tools / "containerd-1.7" / "containerd"), "--config", str(tmp / "config.toml")],
                   "containerd.log", env)
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.sock = sock
        self.registry_port = free_port()
        (tmp / "registry.yml").write_text(
            f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {tmp}/registry\n"
            f"http:\n  addr: 127.0.0.1:{self.registry_port}\n")
        self.spawn(["docker-registry", "serve", str(tmp / "registry.yml")], "registry.log")
        self.redis_port = free_port()
        self.spawn(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(tmp)], "redis.log")
        wait_port(self.registry_port)
        wait_port(self.redis_port)
        (tmp / "runtime-config.toml").write_text(
            f'[key_value_store.default]\ntype = "redis"\nurl = "redis://127.0.0.1:{self.redis_port}"\n')

    def spawn(self, argv: list[str], logname: str, env: dict | None = None) -> None:
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(self.tmp / logname, "w"),  # noqa: SIM115
                                           env=env, start_new_session=True))

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.ctr_bin), "-a", str(self.sock), *args], capture_output=True, text=True,
                              check=check)

    def stop(self) -> None:
        for task in self.ctr("task", "ls", "-q", check=False).stdout.split():
            self.ctr("task", "kill", "-s", "SIGKILL", task, check=False)
        time.sleep(0.5)
        for container in self.ctr("containers", "ls", "-q", check=False).stdout.split():
            self.ctr("task", "delete", "-f", container, check=False)
            self.ctr("containers", "delete", container, check=False)
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def pods_from_overlay() -> list[dict]:
    """Each SpinApp of the rendered dev overlay: name, component, liveness and readiness paths."""
    rendered = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kubectl"), "kustomize", str(ROOT / "kustomize" / "overlays" / "dev")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"shim-bench-{os.getpid()}.yaml"
    path.write_text(rendered)
    rows = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "deploy" / "manifest.py"), "spinapps", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path.unlink()
    pods = []
    for line in rows.splitlines():
        name, component, _image, live, ready = line.split("\t")
        pods.append({"name": name, "component": component, "liveness": live, "readiness": ready})
    return pods


def container_pid(node: Node, name: str) -> int | None:
    for line in node.ctr("task", "ls", check=False).stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == name:
            return int(fields[1])
    return None


def rss_kib(pid: int) -> int:
    """VmRSS of pid and its descendants, KiB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def run_pod(node: Node, image: str, pod: dict, port: int, name: str) -> subprocess.Popen:
    env = {"SPIN_HTTP_LISTEN_ADDR": f"127.0.0.1:{port}", "SPIN_COMPONENTS_TO_RETAIN": pod["component"],
           "SPIN_VARIABLE_API_TOKEN": API_TOKEN, "SPIN_VARIABLE_WEBHOOK_GITHUB_SECRET": GITHUB_SECRET}
    argv = [str(node.ctr_bin), "-a", str(node.sock), "run", "--rm", "--net-host", "--runtime", SHIM,
            "--mount", f"type=bind,src={node.tmp / 'runtime-config.toml'},dst=/runtime-config.toml,options=rbind:ro"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    argv += [image, name, "/"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(node.tmp / f"{name}.log", "w"),
                            start_new_session=True)


def stop_pod(node: Node, name: str, proc: subprocess.Popen) -> None:
    node.ctr("task", "kill", "-s", "SIGKILL", name, check=False)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    node.ctr("task", "delete", "-f", name, check=False)
    node.ctr("containers", "delete", name, check=False)


def first_200(port: int, path: str, proc: subprocess.Popen, t0: float, timeout: float = 60) -> float:
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"ctr run exited with {proc.returncode} before {path} answered")
        if status(port, path, timeout=1) == 200:
            return (time.monotonic() - t0) * 1000
        time.sleep(0.01)
    raise RuntimeError(f"{path} did not answer 200 within {timeout}s")


def github_delivery(size: int, n: int, run: str) -> tuple[bytes, dict]:
    body = json.dumps({"zen": "x" * max(0, size - 40), "n": n}).encode()
    sig = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"content-type": "application/json", "x-github-event": "push",
                  "x-github-delivery": f"shim-{run}-{n}", "x-hub-signature-256": f"sha256={sig}"}


def load(port: int, pod: dict, concurrency: int, seconds: float, run: str) -> dict:
    """C closed-loop workers for `seconds`; returns requests and errors."""
    counter, errors, lock = [0], [0], threading.Lock()
    stop = time.monotonic() + seconds

    def worker(w: int) -> None:
        i = 0
        while time.monotonic() < stop:
            i += 1
            if pod["component"] == "webhook":
                body, headers = github_delivery(64 * 1024, w * 1_000_000 + i, run)
                code = status(port, "/webhooks/github", timeout=30, method="POST", body=body, headers=headers)
                ok = code == 202
            elif pod["component"] == "api":
                code = status(port, "/api/events?limit=50", timeout=30,
                              headers={"authorization": f"Bearer {API_TOKEN}"})
                ok = code == 200
            else:
                ok = status(port, pod["readiness"], timeout=30) == 200
            with lock:
                counter[0] += 1
                errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    for t in threads:
        t.start()
    return {"threads": threads, "counter": counter, "errors": errors}


def measure(cfg: dict, workdir: Path) -> dict:
    """The section bench/run.py reports. cfg: launches, load_s, concurrency."""
    why = missing_prerequisites()
    if why:
        log(f"SKIPPED: {why}")
        return {"skipped": why}
    spin_version = "Spin 3.6.3 (in containerd-shim-spin v0.24.0)"
    tmp = workdir / "shim-node"
    tmp.mkdir()
    node = Node(tmp)
    results: dict = {
        "runtime": spin_version,
        "containerd": node.ctr("version", check=False).stdout.split("\n")[1].strip(),
        "concurrency": cfg["concurrency"],
        "pods": {},
    }
    try:
        image = f"127.0.0.1:{node.registry_port}/bench/webhook-inbox"
        pushed = subprocess.run([str(ROOT / "scripts" / "push.sh"), "--insecure", image, "bench"],
                                capture_output=True, text=True, cwd=ROOT,
                                env=dict(os.environ, SPIN_BIN=str(tools_dir() / "spin-3.6.3")))
        if pushed.returncode != 0:
            raise RuntimeError(f"scripts/push.sh failed:\n{pushed.stderr[-2000:]}")
        refs = dict(line.split("=", 1) for line in pushed.stdout.split())
        for n, pod in enumerate(pods_from_overlay()):
            ref = refs[pod["component"]]
            node.ctr("image", "pull", "--plain-http", ref)
            starts = []
            for launch in range(cfg["launches"]):
                port, name = free_port(), f"{pod['component']}-{launch}"
                t0 = time.monotonic()
                proc = run_pod(node, ref, pod, port, name)
                try:
                    starts.append(first_200(port, pod["liveness"], proc, t0))
                    if launch == cfg["launches"] - 1:
                        pid = container_pid(node, name)
                        time.sleep(1.0)
                        idle = rss_kib(pid) if pid else 0
                        work = load(port, pod, cfg["concurrency"], cfg["load_s"], f"{n}-{time.time_ns()}")
                        peak = idle
                        while any(t.is_alive() for t in work["threads"]):
                            peak = max(peak, rss_kib(pid) if pid else 0)
                            time.sleep(0.05)
                        for t in work["threads"]:
                            t.join()
                        per = max(0.0, (peak - idle) / 1024 / cfg["concurrency"])
                        results["pods"][pod["name"]] = {
                            "component": pod["component"], "liveness": pod["liveness"],
                            "first_start_ms": round(starts[0], 1),
                            "later_start_ms": [round(s, 1) for s in starts[1:]],
                            "idle_rss_mib": round(idle / 1024, 1), "peak_rss_mib": round(peak / 1024, 1),
                            "per_in_flight_mib": round(per, 2),
                            "load_requests": work["counter"][0], "load_errors": work["errors"][0],
                        }
                finally:
                    stop_pod(node, name, proc)
            r = results["pods"][pod["name"]]
            later = sorted(r["later_start_ms"])
            log(f"{pod['name']}: first start {r['first_start_ms']:.0f} ms, later median "
                f"{later[len(later) // 2] if later else float('nan'):.0f} ms; idle {r['idle_rss_mib']} MiB, "
                f"peak {r['peak_rss_mib']} MiB at c={cfg['concurrency']} "
                f"({r['per_in_flight_mib']} MiB per in-flight request; {r['load_requests']} requests, "
                f"{r['load_errors']} errors)")
    finally:
        node.stop()
    return results


def markdown(section: dict) -> list[str]:
    if not section or section.get("skipped"):
        return ["", "### Under the containerd shim", "", f"Skipped: {(section or {}).get('skipped', 'not run')}."]
    out = ["", f"### Under the containerd shim ({section['runtime']}, {section['containerd']}; `ctr run`, "
           "Redis key-value store; what a node pays per pod)", "",
           f"| SpinApp | first start ms | later starts ms (median) | idle MiB | peak MiB at c={section['concurrency']} "
           "| MiB per in-flight request | requests | errors |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in section["pods"].items():
        later = sorted(r["later_start_ms"])
        median = f"{later[len(later) // 2]:.0f}" if later else "-"
        out.append(f"| {name} | {r['first_start_ms']:.0f} | {median} | {r['idle_rss_mib']} | {r['peak_rss_mib']} "
                   f"| {r['per_in_flight_mib']} | {r['load_requests']} | {r['load_errors']} |")
    return out
