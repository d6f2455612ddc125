"""The benchmark suite's shared helpers: output, server processes, load cells, the app's API.

inbox_tools.bench.run (the suite) and its step modules (layout, forwarding, retention, shim,
kubelet) import this module; it imports none of them, so no step module reaches back into run.py.
Standard library only, like the rest of the suite.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from inbox_tools import ROOT
from inbox_tools.spin_manifest import ManifestError, SpinManifest

BENCH_BIN = ROOT / "target" / "bench-native" / "bench"
APP_MANIFEST = ROOT / "spin.toml"
API_TOKEN = "bench-api-token"  # obviously fake; matches bench/src/delivery.rs
GITHUB_SECRET = "bench-github-secret"
LIST_PATH = "/api/events?limit=50"


def spin_components(manifest: Path) -> dict[str, Path]:
    """Every component of a spin.toml and the Wasm file it runs (its `source`), in file order."""
    components = SpinManifest.load(manifest).components.values()
    missing = [c.id for c in components if c.source is None]
    if missing:
        raise ManifestError(f"{manifest}: component(s) {', '.join(missing)} have no Wasm file as `source`")
    return {c.id: manifest.parent / c.source for c in components}


# ---------------------------------------------------------------------------------------------
# Output

STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def section(title: str) -> None:
    print(f"\n\033[1m==> {title}\033[0m", flush=True)


def fail(message: str) -> None:
    print(f"bench: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    """The status of GET path, or None if nothing answers yet."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (spin up runs the app in a `spin trigger http` child)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def memory_kib(pid: int, field: str) -> int:
    """Sum of a /proc/<pid>/status field (VmRSS, VmHWM) over the process tree, in KiB."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


class Server:
    """A server process on a free loopback port, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, name: str, argv_for_port, probe: str, workdir: Path, env=None):
        self.name, self.argv_for_port, self.probe = name, argv_for_port, probe
        self.workdir, self.env = workdir, env
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 60.0) -> float:
        """Starts it; returns seconds from launch to the first 200 on the probe path."""
        self.port = free_port()
        log_file = open(self.workdir / f"{self.name}-{self.port}.log", "wb")  # noqa: SIM115 (the child's)
        env = dict(os.environ, **(self.env or {}))
        launched = time.perf_counter()
        self.proc = subprocess.Popen(self.argv_for_port(self.port), stdout=log_file,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.workdir, env=env)
        deadline = launched + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; "
                                   f"see {log_file.name}")
            if http_status(self.port, self.probe, timeout=1.0) == 200:
                return time.perf_counter() - launched
            time.sleep(0.001)
        raise RuntimeError(f"{self.name} did not answer {self.probe} within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_kib(self) -> int:
        return memory_kib(self.proc.pid, "VmRSS") if self.proc else 0

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


def app_env() -> dict[str, str]:
    return {"SPIN_VARIABLE_API_TOKEN": API_TOKEN,
            "SPIN_VARIABLE_WEBHOOK_GITHUB_SECRET": GITHUB_SECRET}


def spin_server(spin: str, name: str, manifest: Path, probe: str, workdir: Path,
                state_dir: Path, runtime_config: Path | None = None,
                extra: list[str] | None = None,
                variables: dict[str, str] | None = None) -> Server:
    """`spin up` of manifest; `variables` (name: value) are set as SPIN_VARIABLE_<NAME>."""
    def argv(port: int) -> list[str]:
        args = [spin, "up", "--from", str(manifest), "--listen", f"127.0.0.1:{port}",
                "--state-dir", str(state_dir), "--log-dir", str(workdir / f"{name}-logs"),
                *(extra or [])]
        if runtime_config:
            args += ["--runtime-config-file", str(runtime_config)]
        return args
    env = app_env()
    env.update({f"SPIN_VARIABLE_{key.upper()}": value for key, value in (variables or {}).items()})
    return Server(name, argv, probe, workdir, env)


def api(port: int, method: str, path: str, timeout: float = 60.0) -> tuple[int, dict]:
    """One authenticated API request (no body); its status and JSON answer ({} if none)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers={"authorization": f"Bearer {API_TOKEN}",
                                            "accept": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        return response.status, (json.loads(data) if data else {})
    except ValueError:
        return response.status, {"raw": data[:300].decode("utf-8", "replace")}


def app_stats(port: int) -> dict:
    """GET /api/stats (the app's counters: events, pruned, forwarding)."""
    status, body = api(port, "GET", "/api/stats")
    if status != 200:
        fail(f"GET /api/stats on port {port} answered {status}: {body}")
    return body


def native_server(workdir: Path, db: Path) -> Server:
    return Server("native",
                  lambda port: [str(BENCH_BIN), "native", "--listen", f"127.0.0.1:{port}",
                                "--db", str(db)],
                  "/healthz", workdir, app_env())


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        fail(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def load(port: int, cfg: dict, concurrency: int, *, get: str | None = None,
         post_size: int | None = None, run_id: str = "", duration_ms: int | None = None,
         rate: float | None = None, again: bool = True) -> dict:
    """One load cell: closed loop over `concurrency` connections, or, with `rate`, open loop at
    that many requests per second with up to `concurrency` in flight."""
    argv = [str(BENCH_BIN), "load", "--port", str(port), "--concurrency", str(concurrency),
            "--duration-ms", str(duration_ms or cfg["duration_ms"]),
            "--warmup-ms", str(cfg["warmup_ms"])]
    if rate is not None:
        argv += ["--rate", f"{rate:g}"]
    if get is not None:
        argv += ["--get", get, "--bearer", API_TOKEN]
    else:
        argv += ["--post-github", str(post_size), "--run", run_id]
    result = json.loads(run(argv).stdout)
    if again and not result["requests"] and not result["errors"] and not result.get("unsent"):
        # Nothing completed inside the window and nothing failed: the machine stalled (seen on
        # this shared VM: SQLite syncs taking seconds while others build). Measure once more,
        # four times as long, and say so; a second empty cell is reported as broken.
        longer = 4 * (duration_ms or cfg["duration_ms"])
        log(f"load on port {port}: no answer completed in the window; measuring again for "
            f"{longer} ms")
        result = load(port, cfg, concurrency, get=get, post_size=post_size,
                      run_id=f"{run_id}-again", duration_ms=longer, rate=rate, again=False)
        result["measured_again"] = True
    return result


def seed_sqlite(n: int, db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    run([str(BENCH_BIN), "seed", "--events", str(n), "--size", "1024", "--sqlite", str(db)])


def wait_for_redis(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    fail(f"redis-server on port {port} did not answer PING")
