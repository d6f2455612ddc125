"""The store side of the benchmark suite (issues 19 and 14), run by bench/run.py:

  before/after   the previous event store layout (a baseline revision, default 518f819) built in
                 its own tree under out/bench-baseline/, measured side by side with this checkout
                 in one run: listing and ingestion, closed loop (throughput) and open loop
                 (latency at a fixed arrival rate), on the local SQLite store and on Redis;
  store ops      store operations per request, counted natively (the services over a counting
                 key-value store: `bench count`) and on Redis with MONITOR, for both builds;
  copies         N rounds of 50 concurrent copies of one fresh delivery, to one `spin up` on
                 SQLite and split over two replicas sharing one redis-server, for both builds.

The baseline tree is a `git archive` of the revision (nothing is checked out in this worktree
and no git worktree is registered). Its services, shared crate and spin.toml are the revision's
own; its `bench` crate is replaced by this checkout's (bench/Cargo.toml, build.rs, src/), so
both builds are driven by the same tools: `bench seed` runs each delivery through the
revision's own webhook service and so writes the revision's own layout, and `bench count`
counts the revision's own services. The load generator is always this checkout's.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import math
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from inbox_tools.bench import common  # the suite's helpers (it imports no step module)

DEFAULT_BASELINE = "518f8193d1c5a8688dd3652621cd2402211cbd3f"
DEFAULT_BASELINE_WHAT = ("the event store layout before issue 19 (two reads per listed event, "
                         "nine store operations per new delivery)")

# Each store cell: `rounds` interleaved rounds of warmup_ms + duration_ms per build, the median
# reported. This machine's noise (a shared 2-core VM) moves single 5 s cells by 2x at times.
FULL = dict(list_events=10_000, concurrency=[1, 10, 50], ingest_concurrency=[1, 10, 50],
            native_concurrency=[1, 10], rounds=3, duration_ms=3000, warmup_ms=500,
            open_fractions=[0.5, 0.8], open_connections=50, count_events=60,
            copies=50, copy_rounds=30)
# Smoke: ingestion at c=1 only. On SQLite each write is a sync; with 10 in flight on a busy
# 2-core machine one answer can take longer than a smoke cell lasts.
SMOKE = dict(list_events=200, concurrency=[1, 10], ingest_concurrency=[1],
             native_concurrency=[10], rounds=1, duration_ms=300, warmup_ms=100,
             open_fractions=[0.5], open_connections=10, count_events=60,
             copies=50, copy_rounds=1)

# Targets of issue 19 (listing) and the suite's own regression guards (ingestion).
LIST_RPS_AT_LEAST = 1.8
LIST_P99_AT_MOST = 0.5
INGEST_RPS_AT_LEAST = 0.9
INGEST_P99_AT_MOST = 1.2
PAGE_OPS_AT_MOST = 52
NEW_DELIVERY_OPS_AT_MOST = 6


@dataclass
class Build:
    name: str    # "before" or "after"
    label: str   # e.g. "518f819"
    root: Path   # its source tree

    @property
    def manifest(self) -> Path:
        return self.root / "spin.toml"

    @property
    def bench(self) -> Path:
        # This checkout's native tools are where the build step put them (common.BENCH_BIN: the
        # dev profile's in a smoke run); a baseline tree's are always its bench-native build.
        if self.root == common.ROOT:
            return common.BENCH_BIN
        return self.root / "target" / "bench-native" / "bench"


def this_checkout(commit: str) -> Build:
    return Build("after", commit, common.ROOT)


# ---------------------------------------------------------------------------------------------
# The baseline build


def warn(message: str) -> None:
    bar = "*" * 78
    print(f"\n\033[1;33m{bar}\n{message}\n{bar}\033[0m\n", flush=True)


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", *args], capture_output=True, text=True, cwd=common.ROOT)
    if check and result.returncode != 0:
        common.fail(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def resolve(rev: str) -> str | None:
    """The full commit id of rev, fetching it from origin if this clone lacks it (CI clones
    are shallow)."""
    found = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if found.returncode == 0:
        return found.stdout.strip()
    common.log(f"baseline: {rev} is not in this clone; trying git fetch --depth 1 origin {rev}")
    fetched = git("fetch", "--no-tags", "--depth", "1", "origin", rev, check=False)
    if fetched.returncode != 0:
        common.log(f"baseline: fetch failed: {fetched.stderr.strip()}")
        return None
    found = git("rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}", check=False)
    return found.stdout.strip() if found.returncode == 0 else None


def overlay_bench(tree: Path) -> int:
    """Makes tree/bench/ this checkout's bench crate (Cargo.toml, build.rs, src/); returns how
    many files changed. Unchanged files are left alone so cargo does not rebuild them."""
    changed = 0
    source, target = common.ROOT / "bench", tree / "bench"
    wanted = ["Cargo.toml", "build.rs"] + [f"src/{p.name}" for p in (source / "src").glob("*.rs")]
    for rel in wanted:
        src, dst = source / rel, target / rel
        text = src.read_text()
        if rel == "Cargo.toml" and not (tree / "crates" / "inbox-core").exists():
            # A revision from before the crates/ layout: the core was the `shared` crate, the
            # verifier lived under services/webhook. Renamed here, the crate stays `inbox_core`.
            text = (text.replace("inbox-core.workspace = true",
                                 'inbox-core = { package = "shared", path = "../shared" }')
                    .replace("webhook-verify.workspace = true",
                             'webhook-verify = { path = "../services/webhook/verify" }'))
        if not dst.exists() or dst.read_text() != text:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text)
            changed += 1
    for stale in (target / "src").glob("*.rs"):
        if f"src/{stale.name}" not in wanted:
            stale.unlink()
            changed += 1
    return changed


def built(tree: Path) -> bool:
    # Every component of that tree's spin.toml (`spin build` builds them all).
    # A baseline never checked out has no spin.toml yet: not built.
    return ((tree / "spin.toml").exists()
            and all(wasm.exists() for wasm in common.spin_components(tree / "spin.toml").values())
            and (tree / "target" / "bench-native" / "bench").exists())


def prepare_baseline(spin: str, rev: str, smoke: bool, explicit: bool,
                     skip_build: bool) -> tuple[Build | None, dict]:
    """The baseline build, or None (and why) when it is not measured in this run."""
    info: dict = {"rev": rev, "measured": False}
    if rev.lower() in ("none", "off", ""):
        info["reason"] = "--baseline-rev none"
        warn("bench: no baseline (--baseline-rev none): the before/after figures are not measured")
        return None, info
    sha = resolve(rev)
    if not sha:
        message = (f"bench: the baseline revision {rev} is not available (not in this clone and "
                   f"not fetchable); fetch it (git fetch --unshallow) or pass --baseline-rev")
        if not smoke:
            common.fail(message)
        info["reason"] = "revision not available"
        warn(message + "\nThe before/after figures are NOT measured in this smoke run.")
        return None, info
    info.update(sha=sha, short=sha[:7])
    if rev == DEFAULT_BASELINE:
        info["what"] = DEFAULT_BASELINE_WHAT
    tree = common.ROOT / "out" / "bench-baseline" / sha[:12] / "src"
    info["tree"] = str(tree.relative_to(common.ROOT))
    if smoke and not explicit and not built(tree):
        info["reason"] = "not built yet (smoke runs build no baseline)"
        warn(f"bench (smoke): the baseline {sha[:7]} is not built under {info['tree']}, and a "
             f"smoke run does not build it\n(about 10 minutes on 2 cores). The before/after "
             f"figures are NOT measured in this run;\nthe current build's store operations, "
             f"open-loop cells and concurrent copies are.\nBuild it once with "
             f"./scripts/bench.sh (full) or ./scripts/bench.sh --smoke --baseline-rev {rev[:7]}.")
        return None, info
    if not (tree / "spin.toml").exists():
        common.log(f"baseline: extracting {sha[:7]} into {info['tree']} (git archive)")
        if tree.exists():
            shutil.rmtree(tree)
        tree.mkdir(parents=True)
        archive = subprocess.Popen(["git", "archive", "--format=tar", sha], cwd=common.ROOT,
                                   stdout=subprocess.PIPE)
        common.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout)
        if archive.wait() != 0:
            shutil.rmtree(tree)
            common.fail(f"git archive {sha} failed")
    changed = overlay_bench(tree)
    common.log(f"baseline: {sha[:7]} in {info['tree']}, this checkout's bench crate over it "
              f"({changed} file(s) updated)")
    if skip_build:
        if not built(tree):
            common.fail(f"--skip-build, but the baseline is not built in {info['tree']}")
        common.log("baseline: build skipped (--skip-build)")
    else:
        env = dict(os.environ, GIT_COMMIT=sha)
        env.pop("CARGO_TARGET_DIR", None)  # its own target/, or the builds overwrite each other
        for what, argv in [("app (spin build)", [spin, "build", "--from", str(tree / "spin.toml")]),
                           ("native tools", ["cargo", "build", "--profile", "bench-native",
                                             "-p", "bench"])]:
            t0 = time.monotonic()
            common.log(f"baseline {sha[:7]}: build {what} ...")
            if subprocess.run(argv, cwd=tree, env=env).returncode != 0:
                common.fail(f"baseline {sha[:7]}: build {what} failed (output above)")
            common.log(f"baseline {sha[:7]}: build {what}: {time.monotonic() - t0:.1f}s")
    info["measured"] = True
    return Build("before", sha[:7], tree), info


# ---------------------------------------------------------------------------------------------
# Servers


class Redis:
    """A throwaway redis-server on a free loopback port."""

    def __init__(self, workdir: Path, name: str):
        self.dir = workdir / f"redis-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = common.free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind",
                                      "127.0.0.1", "--save", "", "--appendonly", "no",
                                      "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        common.wait_for_redis(self.port)

    def runtime_config(self) -> Path:
        path = self.dir / "runtime-config.toml"
        path.write_text(f'[key_value_store.default]\ntype = "redis"\n'
                        f'url = "redis://127.0.0.1:{self.port}"\n')
        return path

    def seed(self, build: Build, events: int) -> None:
        seed = subprocess.Popen([str(build.bench), "seed", "--events", str(events), "--size",
                                 "1024", "--resp"], stdout=subprocess.PIPE)
        common.run(["redis-cli", "-p", str(self.port), "--pipe"], stdin=seed.stdout)
        if seed.wait() != 0:
            common.fail(f"{build.bench} seed --resp failed")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def have_redis() -> bool:
    return bool(shutil.which("redis-server") and shutil.which("redis-cli"))


def seed_sqlite(build: Build, events: int, state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    common.run([str(build.bench), "seed", "--events", str(events), "--size", "1024",
               "--sqlite", str(state / "sqlite_key_value.db")])


def app_server(spin: str, build: Build, workdir: Path, state: Path,
               runtime_config: Path | None = None, tag: str = "") -> common.Server:
    state.mkdir(parents=True, exist_ok=True)
    return common.spin_server(spin, f"app-{build.name}{tag}", build.manifest, "/healthz",
                             workdir, state, runtime_config)


class Servers:
    """Starts several servers and stops them all on exit."""

    def __init__(self):
        self.servers: list[common.Server] = []
        self.redis: list[Redis] = []

    def start(self, server: common.Server) -> common.Server:
        self.servers.append(server)
        server.start()
        return server

    def app(self, spin: str, workdir: Path, backend: str, name: str, variables: dict[str, str],
            seed: int = 0) -> tuple[common.Server, Redis | None, Path]:
        """Starts one `spin up` of this checkout (every component) on its own store: SQLite in
        its own state directory, or its own redis-server; `seed` events stored first. Returns
        the server, its redis-server (None on SQLite) and its state directory."""
        state = workdir / name
        state.mkdir(parents=True, exist_ok=True)
        runtime_config, redis = None, None
        if backend == "redis":
            redis = Redis(workdir, name)
            self.redis.append(redis)
            if seed:
                redis.seed(this_checkout("current"), seed)
            runtime_config = redis.runtime_config()
        elif seed:
            common.seed_sqlite(seed, state / "sqlite_key_value.db")
        server = self.start(common.spin_server(spin, name, common.APP_MANIFEST, "/healthz", workdir,
                                              state, runtime_config, variables=variables))
        return server, redis, state

    def __enter__(self):
        return self

    def __exit__(self, *_):
        for server in self.servers:
            server.stop()
        for redis in self.redis:
            redis.stop()


def abba(index: int, builds: list[Build]) -> list[Build]:
    """Build order for the index-th cell: A B, B A, A B, ... so drift hits both alike."""
    return builds if index % 2 == 0 else list(reversed(builds))


# ---------------------------------------------------------------------------------------------
# Store operations per request


def signed_github(delivery: str, body: bytes) -> dict[str, str]:
    signature = hmac.new(common.GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-github-delivery": delivery,
            "x-github-event": "push", "x-hub-signature-256": f"sha256={signature}"}


class Monitor:
    """A Redis MONITOR connection: the command names the server runs, as it runs them."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"MONITOR\r\n")
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.take()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            *complete, buffer = buffer.split(b"\r\n")
            with self.lock:
                # `+OK` first, then `+<time> [db addr] "CMD" "arg"...` per command.
                self.lines += [line.decode("utf-8", "replace") for line in complete
                               if b'"' in line]

    def take(self) -> list[str]:
        """The command names since the last call, once the server has been quiet for 150 ms."""
        last = -1
        while True:
            time.sleep(0.15)
            with self.lock:
                if len(self.lines) == last:
                    lines, self.lines = self.lines, []
                    break
                last = len(self.lines)
        return [line.split('"')[1].upper() for line in lines]

    def close(self) -> None:
        self.sock.close()


def redis_requests(port: int, monitor: Monitor) -> list[dict]:
    """The requests `bench count` counts natively, in the same order, against a `spin up`."""
    body = json.dumps({"ref": "refs/heads/main", "pad": "x" * 1000}).encode()
    delivery = f"opcount-redis-{int(time.time() * 1000)}"
    out: list[dict] = []

    def send(what: str, line: str, method: str, path: str, payload: bytes | None,
             headers: dict[str, str], expected: int) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        commands = monitor.take()
        if response.status != expected:
            common.fail(f"store ops on Redis: {line} answered {response.status}, expected "
                       f"{expected}: {data[:300]!r}")
        out.append({"what": what, "request": line, "status": response.status,
                    "commands": len(commands), "names": commands})
        return data

    auth = {"authorization": f"Bearer {common.API_TOKEN}"}
    send("readiness", "GET /readyz", "GET", "/readyz", None, {}, 200)
    accepted = send("new delivery", "POST /webhooks/github (1 KB)", "POST", "/webhooks/github",
                    body, signed_github(delivery, body), 202)
    send("duplicate", "POST /webhooks/github (same delivery)", "POST", "/webhooks/github", body,
         signed_github(delivery, body), 200)
    send("page of 50", common.LIST_PATH, "GET", common.LIST_PATH, None, auth, 200)
    path = f"/api/events/{json.loads(accepted)['id']}"
    send("one event", "GET /api/events/{id}", "GET", path, None, auth, 200)
    send("status change", "PATCH /api/events/{id}", "PATCH", path, b'{"status":"processed"}',
         dict(auth, **{"content-type": "application/merge-patch+json"}), 200)
    send("delete", "DELETE /api/events/{id}", "DELETE", path, None, auth, 204)
    return out


def store_ops(spin: str, builds: list[Build], workdir: Path, cfg: dict) -> dict:
    result: dict = {}
    for build in builds:
        db = workdir / f"count-{build.name}" / "kv.db"
        db.parent.mkdir(parents=True)
        native = json.loads(common.run([str(build.bench), "count", "--db", str(db), "--events",
                                       str(cfg["count_events"])]).stdout)
        result[build.name] = {"native": native}
        for row in native:
            common.log(f"store ops {build.name} ({build.label}) native: {row['what']:14} "
                      f"{row['ops']:3} ({', '.join(row['sequence'])})"
                      if row["ops"] < 12 else
                      f"store ops {build.name} ({build.label}) native: {row['what']:14} "
                      f"{row['ops']:3} ({row['by_op']})")
        if not have_redis():
            common.log("store ops: redis-server/redis-cli not found, Redis commands not counted")
            continue
        with Servers() as servers:
            redis = Redis(workdir, f"ops-{build.name}")
            servers.redis.append(redis)
            redis.seed(build, cfg["count_events"])
            server = servers.start(app_server(spin, build, workdir, workdir / f"ops-{build.name}",
                                              redis.runtime_config()))
            monitor = Monitor(redis.port)
            try:
                rows = redis_requests(server.port, monitor)
            finally:
                monitor.close()
        result[build.name]["redis"] = rows
        for row in rows:
            names = ", ".join(row["names"]) if row["commands"] < 12 else \
                f"{row['names'][:3]}... {row['commands']} in all"
            common.log(f"store ops {build.name} ({build.label}) Redis: {row['what']:14} "
                      f"{row['commands']:3} ({names})")
    return result


# ---------------------------------------------------------------------------------------------
# Listing and ingestion, before and after


def capacity(rows: list[dict], backend: str, build: str, endpoint: str) -> float:
    """The highest closed-loop throughput of an endpoint: what the open-loop rates scale."""
    return max((r["rps"] for r in rows if r["backend"] == backend and r["build"] == build
                and r["endpoint"] == endpoint and r["mode"] == "closed"), default=0.0)


def store_cells(spin: str, builds: list[Build], workdir: Path, cfg: dict) -> list[dict]:
    """Listing and ingestion on both builds side by side: closed loop at each concurrency, then
    open loop at fractions of the reference build's closed-loop maximum (the same rates for
    both). Each cell runs `rounds` times, builds alternating A B, B A, ...; a cell's figure is
    the median over its rounds, and the rounds are kept (the spread is the run's noise)."""
    rows: list[dict] = []
    stamp = str(int(time.time()))
    endpoints = [(f"GET {common.LIST_PATH}", {"get": common.LIST_PATH}, cfg["concurrency"]),
                 ("POST /webhooks/github 1 KB", {"post_size": 1024}, cfg["ingest_concurrency"])]
    backends = ["sqlite"] + (["redis"] if have_redis() else []) + ["native"]
    if not have_redis():
        common.log("before/after: redis-server/redis-cli not found, Redis skipped")
    reference = builds[0].name  # "before" when the baseline is measured: the rates scale it
    index = 0
    for backend in backends:
        with Servers() as servers:
            started: dict[str, common.Server] = {}
            for build in builds:
                state = workdir / f"ab-{backend}-{build.name}"
                t0 = time.monotonic()
                runtime_config = None
                if backend == "redis":
                    redis = Redis(workdir, f"ab-{build.name}")
                    servers.redis.append(redis)
                    redis.seed(build, cfg["list_events"])
                    runtime_config = redis.runtime_config()
                else:
                    seed_sqlite(build, cfg["list_events"], state)
                server = (native_server(build, workdir, state) if backend == "native" else
                          app_server(spin, build, workdir, state, runtime_config))
                started[build.name] = servers.start(server)
                common.log(f"before/after {backend}: {build.name} ({build.label}) seeded with "
                          f"{cfg['list_events']:,} events by its own bench seed and started "
                          f"({time.monotonic() - t0:.1f}s)")
            if backend == "native":
                # The services without Spin: what the layout buys the code itself (listing only).
                plan = [(endpoints[0][0], endpoints[0][1], "closed", c, None, None)
                        for c in cfg["native_concurrency"]]
            else:
                plan = [(endpoint, how, "closed", c, None, None)
                        for endpoint, how, levels in endpoints for c in levels]
            for endpoint, how, mode, c, _fraction, _rate in plan:
                rows += cell(started, backend, builds, endpoint, how, mode, c, None, None, cfg,
                             f"{stamp}-{index}", index)
                index += 1
            if backend == "native":
                continue
            for endpoint, how, _ in endpoints:
                base = capacity(rows, backend, reference, endpoint)
                for fraction in cfg["open_fractions"]:
                    # At least 5 requests in the measured window, even when the closed loop
                    # measured almost nothing (a stalled cell in a 0.3 s smoke run).
                    floor = 5000 / cfg["duration_ms"]
                    rate = round(max(floor, base * fraction), 1)
                    if rate > round(base * fraction, 1):
                        common.log(f"open loop {backend} {endpoint}: {fraction:.0%} of "
                                  f"{base:.1f} req/s raised to {rate} req/s (5 requests per "
                                  f"cell at least)")
                    rows += cell(started, backend, builds, endpoint, how, "open",
                                 cfg["open_connections"], fraction, rate, cfg,
                                 f"{stamp}-{index}", index)
                    index += 1
    return rows


def native_server(build: Build, workdir: Path, state: Path) -> common.Server:
    db = state / "sqlite_key_value.db"
    return common.Server(f"native-{build.name}",
                        lambda port: [str(build.bench), "native", "--listen",
                                      f"127.0.0.1:{port}", "--db", str(db)],
                        "/healthz", workdir, common.app_env())


def median_of(rounds: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def cell(started: dict[str, common.Server], backend: str, builds: list[Build], endpoint: str,
         how: dict, mode: str, c: int, fraction: float | None, rate: float | None, cfg: dict,
         run_id: str, index: int) -> list[dict]:
    """One cell for every build: `rounds` rounds, builds interleaved; one row per build."""
    timing = {"duration_ms": cfg["duration_ms"], "warmup_ms": cfg["warmup_ms"]}
    results: dict[str, list[dict]] = {build.name: [] for build in builds}
    for r in range(cfg["rounds"]):
        for build in abba(index + r, builds):
            results[build.name].append(common.load(
                started[build.name].port, timing, c, run_id=f"ab-{run_id}-{build.name}-{r}",
                rate=rate, **how))
    rows = []
    for build in builds:
        rounds = results[build.name]
        row = {"backend": backend, "build": build.name, "label": build.label,
               "endpoint": endpoint, "mode": mode, "fraction": fraction, "rate": rate,
               "concurrency": c, "rounds": len(rounds),
               "requests": sum(x["requests"] for x in rounds),
               "errors": sum(x["errors"] for x in rounds),
               "unsent": sum(x.get("unsent") or 0 for x in rounds),
               "per_round": [{k: x[k] for k in ("rps", "p50_ms", "p99_ms", "max_ms")}
                             for x in rounds]}
        for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms"):
            row[key] = median_of(rounds, key)
        if mode == "open":
            for key in ("service_p50_ms", "service_p99_ms", "send_lag_p99_ms"):
                row[key] = median_of(rounds, key)
        rows.append(row)
        spread_rps = "/".join(f"{x['rps']:.0f}" for x in rounds)
        spread_p99 = "/".join(f"{x['p99_ms']:.1f}" for x in rounds)
        what = f"closed c={c:<3}" if mode == "closed" else f"open {rate:g}/s ({fraction:.0%})"
        common.log(f"{backend:6} {build.name:6} {endpoint:27} {what:20} median "
                  f"{row['rps']:7.1f} req/s p50 {row['p50_ms']:7.2f} p99 {row['p99_ms']:7.2f} ms"
                  f"  rounds req/s {spread_rps}  p99 {spread_p99}  errors {row['errors']}")
    return rows


# ---------------------------------------------------------------------------------------------
# Concurrent copies


def spread(samples: list[float]) -> dict:
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)

    def rank(q: float) -> float:  # nearest rank, as the load generator computes it
        return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]
    return {"count": len(ordered), "min_ms": round(ordered[0], 2),
            "p50_ms": round(rank(0.50), 2), "p99_ms": round(rank(0.99), 2),
            "max_ms": round(ordered[-1], 2)}


def summarize_copies(rounds: list[dict]) -> dict:
    copies = [c for r in rounds for c in r["copies"]]
    statuses: dict[str, int] = {}
    for c in copies:
        statuses[str(c["status"])] = statuses.get(str(c["status"]), 0) + 1
    by_status = {status: spread([c["ms"] for c in copies if str(c["status"]) == status])
                 for status in sorted(statuses)}
    problems: dict[str, int] = {}
    for c in copies:
        if c["status"] >= 300:
            key = f"{c['status']} {c.get('problem') or '?'}"
            problems[key] = problems.get(key, 0) + 1
    # When did the contenders that got 503 give up, against when the owner was answered?
    after_owner = before_owner = 0
    for r in rounds:
        for c in r["copies"]:
            if c["status"] == 503 and r.get("owner_ms") is not None:
                if c["ms"] > r["owner_ms"]:
                    after_owner += 1
                else:
                    before_owner += 1
    generations = [max((int(g) for g in r.get("claims", {})), default=0) for r in rounds]
    return {"rounds": len(rounds), "clean_rounds": sum(1 for r in rounds if r["clean"]),
            "rounds_with_takeover_claims": sum(1 for g in generations if g > 0),
            "highest_generation": max(generations, default=0),
            "copies": len(copies), "statuses": statuses, "problems": problems,
            "all": spread([c["ms"] for c in copies]), "by_status": by_status,
            "owner": spread([r["owner_ms"] for r in rounds if r.get("owner_ms") is not None]),
            "rounds_without_owner": sum(1 for r in rounds if r.get("owner_ms") is None),
            "503_after_owner_answered": after_owner, "503_before_owner_answered": before_owner,
            "per_round": [{"statuses": r["statuses"], "owner_ms": r.get("owner_ms"),
                           "claims": r.get("claims", {}),
                           "slowest_ms": max((c["ms"] for c in r["copies"]), default=0)}
                          for r in rounds]}


def event_id(delivery: str) -> str:
    """The event id every copy of a GitHub delivery names (shared::events::EventId)."""
    return "evt_" + hashlib.sha256(b"github\n" + delivery.encode()).hexdigest()[:32]


def resp(port: int, *args: str) -> object:
    """One Redis command; its reply (bulk strings decoded, arrays as lists)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        request = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        sock.sendall(request.encode())
        reader = sock.makefile("rb")

        def read() -> object:
            line = reader.readline().rstrip(b"\r\n")
            kind, rest = line[:1], line[1:]
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else reader.read(n + 2)[:-2].decode()
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [read() for _ in range(n)]
            if kind == b":":
                return int(rest)
            if kind == b"-":
                raise RuntimeError(f"redis: {rest.decode()}")
            return rest.decode()
        return read()


def claim_counts(store: str, where, event: str) -> dict[str, int]:
    """The claim counters of one event, by generation: how many requests incremented each
    (`events:claim:{id}:{generation}`). More than generation 0 means copies took over from an
    owner they believed gone."""
    prefix = f"events:claim:{event}:"
    if store == "sqlite":
        with sqlite3.connect(f"file:{where}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute("SELECT key, value FROM spin_key_value WHERE store = 'default' "
                                "AND substr(key, 1, ?) = ?", (len(prefix), prefix)).fetchall()
        return {key[len(prefix):]: int.from_bytes(value, "little", signed=True)
                for key, value in rows}
    keys = resp(where, "KEYS", prefix + "*") or []
    return {key[len(prefix):]: int(resp(where, "GET", key) or 0) for key in keys}


def concurrent_copies(spin: str, builds: list[Build], workdir: Path, cfg: dict) -> list[dict]:
    stamp = str(int(time.time()))
    setups = [("sqlite", 1)] + ([("redis", 2)] if have_redis() else [])
    if not have_redis():
        common.log("copies: redis-server/redis-cli not found, the two-replica case skipped")
    out = []
    for store, replicas in setups:
        with Servers() as servers:
            ports: dict[str, list[int]] = {}
            kv: dict[str, object] = {}  # where each build's claim counters can be read
            for build in builds:
                runtime_config, state = None, workdir / f"copies-{store}-{build.name}"
                kv[build.name] = state / "replica-0" / "sqlite_key_value.db"
                if store == "redis":
                    redis = Redis(workdir, f"copies-{build.name}")
                    servers.redis.append(redis)
                    runtime_config = redis.runtime_config()
                    kv[build.name] = redis.port
                ports[build.name] = [
                    servers.start(app_server(spin, build, workdir, state / f"replica-{replica}",
                                             runtime_config, tag=f"-r{replica}")).port
                    for replica in range(replicas)]
            rounds: dict[str, list[dict]] = {build.name: [] for build in builds}
            for n in range(cfg["copy_rounds"]):
                for build in abba(n, builds):
                    report = json.loads(common.run([
                        str(common.BENCH_BIN), "copies",
                        "--ports", ",".join(map(str, ports[build.name])),
                        "--copies", str(cfg["copies"]), "--rounds", "1",
                        "--run", f"{stamp}-{store}-{build.name}-{n}"]).stdout)
                    r = report["round_details"][0]
                    r["claims"] = claim_counts(store, kv[build.name], event_id(r["delivery"]))
                    rounds[build.name].append(r)
                    slowest = max(c["ms"] for c in r["copies"])
                    owner = f"{r['owner_ms']:.0f} ms" if r.get("owner_ms") is not None else "none"
                    common.log(f"copies {store} x{replicas} {build.name:6} round {n + 1}/"
                              f"{cfg['copy_rounds']}: {r['statuses']}  owner answered {owner}, "
                              f"slowest copy {slowest:.0f} ms; claims by generation "
                              f"{r['claims']}")
                    time.sleep(0.2)
            for build in builds:
                summary = summarize_copies(rounds[build.name])
                out.append({"store": store, "replicas": replicas, "build": build.name,
                            "label": build.label, "copies_per_round": cfg["copies"], **summary})
    return out


# ---------------------------------------------------------------------------------------------
# Targets and report


def find(rows, **match):
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def ops_of(ops: dict, build: str, source: str, what: str) -> int | None:
    row = next((r for r in ops.get(build, {}).get(source, []) if r["what"] == what), None)
    if row is None:
        return None
    return row["ops"] if source == "native" else row["commands"]


def targets(results: dict) -> list[dict]:
    layout = results.get("layout")
    if not layout:
        return []
    checks = []

    def check(name, measured, limit, passed, detail, ratio=True):
        checks.append({"target": name, "measured": round(measured, 3), "limit": limit,
                       "pass": bool(passed), "detail": detail, "ratio": ratio})

    ops = layout["store_ops"]
    for source, unit in [("native", "store operations"), ("redis", "Redis commands")]:
        page = ops_of(ops, "after", source, "page of 50")
        if page is not None:
            check(f"page of 50 <= {PAGE_OPS_AT_MOST} {unit} ({source})", page, PAGE_OPS_AT_MOST,
                  page <= PAGE_OPS_AT_MOST, f"{page}", ratio=False)
        new = ops_of(ops, "after", source, "new delivery")
        if new is not None:
            check(f"new delivery <= {NEW_DELIVERY_OPS_AT_MOST} {unit} ({source})", new,
                  NEW_DELIVERY_OPS_AT_MOST, new <= NEW_DELIVERY_OPS_AT_MOST, f"{new}",
                  ratio=False)
    for row in layout["copies"]:
        if row["build"] != "after":
            continue
        where = ("one spin up" if row["replicas"] == 1
                 else f"{row['replicas']} replicas on one redis-server")
        s = row["statuses"]
        check(f"{row['copies_per_round']} concurrent copies: 1 x 202 + "
              f"{row['copies_per_round'] - 1} x 200 in every round ({row['store']}, {where})",
              row["clean_rounds"], row["rounds"], row["clean_rounds"] == row["rounds"],
              f"{row['clean_rounds']}/{row['rounds']} rounds clean; "
              f"{s.get('202', 0)} x 202, {s.get('200', 0)} x 200, {s.get('503', 0)} x 503",
              ratio=False)
    if not layout["baseline"].get("measured"):
        return checks
    cells = layout["cells"]
    for backend in sorted({r["backend"] for r in cells} - {"native"}):  # targets are on Spin
        for endpoint, rps_limit, p99_limit, guard in [
                (f"GET {common.LIST_PATH}", LIST_RPS_AT_LEAST, LIST_P99_AT_MOST, ""),
                ("POST /webhooks/github 1 KB", INGEST_RPS_AT_LEAST, INGEST_P99_AT_MOST,
                 " [regression guard]")]:
            short = "listing" if endpoint.startswith("GET") else "ingest"
            for after in [r for r in cells if r["backend"] == backend and r["build"] == "after"
                          and r["endpoint"] == endpoint]:
                before = find(cells, backend=backend, build="before", endpoint=endpoint,
                              mode=after["mode"], concurrency=after["concurrency"],
                              rate=after.get("rate"))
                if not before:
                    continue
                if after["mode"] == "closed" and before["rps"]:
                    r = after["rps"] / before["rps"]
                    check(f"{short} req/s >= {rps_limit}x before ({backend}, closed loop, "
                          f"c={after['concurrency']}){guard}", r, rps_limit, r >= rps_limit,
                          f"{after['rps']:.0f} vs {before['rps']:.0f} req/s")
                elif after["mode"] == "open" and before["p99_ms"]:
                    # A build that fell behind the schedule (unsent requests) has a p99 that
                    # is only a lower bound: after's must be real for a pass; before's being a
                    # lower bound only makes the ratio conservative.
                    r = after["p99_ms"] / before["p99_ms"]
                    notes = "".join(f"; {b} fell behind the rate ({x['unsent']} unsent, its "
                                    f"p99 a lower bound)" for b, x in (("before", before),
                                                                      ("after", after))
                                    if x.get("unsent"))
                    check(f"{short} p99 <= {p99_limit}x before ({backend}, open loop, "
                          f"{after['rate']:g} req/s = {after['fraction']:.0%} of before's "
                          f"closed-loop max){guard}", r, p99_limit,
                          r <= p99_limit and not after.get("unsent"),
                          f"{after['p99_ms']:.2f} vs {before['p99_ms']:.2f} ms{notes}")
    return checks


def markdown(results: dict) -> str:
    layout = results.get("layout")
    if not layout:
        return ""
    env, base = results["environment"], layout["baseline"]
    out = ["", "### Store layout: before and after (issue 19), in this run", ""]
    if base.get("measured"):
        what = f", {base['what']}" if base.get("what") else ""
        out += [f"before = `{base['short']}`{what}; after = `{env['commit']}` (this checkout; "
                f"its app code is that of `{layout.get('after_app_commit', '?')}`). "
                f"Both on {env['spin']}; the same load generator; each build's store seeded by "
                f"its own services (`bench seed`). Cells interleaved A B, B A.", ""]
    else:
        out += [f"**before not measured** ({base.get('reason', '?')}): after = "
                f"`{env['commit']}` only, on {env['spin']}.", ""]
    builds = [b for b in ("before", "after") if b in layout["store_ops"]]
    ops = layout["store_ops"]
    out += ["#### Store operations per request (native: key-value calls; Redis: MONITOR, "
            "one `spin up`)", "",
            "| request | " + " | ".join(f"{b} native | {b} Redis" for b in builds) +
            " | after's Redis commands |",
            "|---|" + "---:|---:|" * len(builds) + "---|"]
    for row in ops[builds[-1]]["native"]:
        cells = []
        for b in builds:
            for source in ("native", "redis"):
                n = ops_of(ops, b, source, row["what"])
                cells.append("" if n is None else str(n))
        names = next((r["names"] for r in ops["after"].get("redis", [])
                      if r["what"] == row["what"]), [])
        summary = ", ".join(f"{names.count(n)} {n}" for n in dict.fromkeys(names))
        out.append(f"| {row['what']}: `{row['request']}` | " + " | ".join(cells) +
                   f" | {summary} |")
    cells = layout["cells"]
    c = layout["config"]

    def ranged(x: dict, key: str, fmt: str) -> str:
        text = format(x[key], fmt)
        if len(x.get("per_round", [])) > 1:
            values = [r[key] for r in x["per_round"]]
            text += f" ({format(min(values), fmt)}-{format(max(values), fmt)})"
        return text
    per = (f"{c['rounds']} interleaved rounds of {c['duration_ms'] / 1000:g} s per build and "
           f"cell, the median (in brackets: the rounds' range)" if c["rounds"] > 1 else
           f"{c['duration_ms'] / 1000:g} s per cell")
    out += ["", f"#### Listing and ingestion, closed loop (throughput; {per}; "
            f"{c['list_events']:,} stored events; native = the same services on hyper over "
            "SQLite, without Spin)", "",
            "| store | endpoint | c | " + " | ".join(
                f"{b} req/s | {b} p50 ms | {b} p99 ms" for b in builds) +
            (" | req/s after/before | p99 after/before |" if len(builds) == 2 else " |"),
            "|---|---|---:|" + "---:|---:|---:|" * len(builds) +
            ("---:|---:|" if len(builds) == 2 else "")]
    for after in [r for r in cells if r["build"] == "after" and r["mode"] == "closed"]:
        row = [after["backend"], after["endpoint"], str(after["concurrency"])]
        pair = {b: find(cells, backend=after["backend"], build=b, endpoint=after["endpoint"],
                        mode="closed", concurrency=after["concurrency"]) for b in builds}
        for b in builds:
            x = pair[b]
            row += [ranged(x, "rps", ",.0f"), f"{x['p50_ms']:.2f}", ranged(x, "p99_ms", ".1f")]
        if len(builds) == 2 and pair["before"]["rps"] and pair["before"]["p99_ms"]:
            row += [f"{after['rps'] / pair['before']['rps']:.2f}x",
                    f"{after['p99_ms'] / pair['before']['p99_ms']:.2f}x"]
        out.append("| " + " | ".join(row) + " |")
    out += ["", "#### Listing and ingestion, open loop (latency at a fixed arrival rate, "
            "measured from each request's scheduled send; up to "
            f"{c['open_connections']} requests in flight; {per})", "",
            "| store | endpoint | rate req/s | " + " | ".join(
                f"{b} p50 ms | {b} p99 ms | {b} max ms | {b} service p99 ms" for b in builds) +
            (" | p99 after/before |" if len(builds) == 2 else " |"),
            "|---|---|---:|" + "---:|---:|---:|---:|" * len(builds) +
            ("---:|" if len(builds) == 2 else "")]
    for after in [r for r in cells if r["build"] == "after" and r["mode"] == "open"]:
        row = [after["backend"], after["endpoint"],
               f"{after['rate']:g} ({after['fraction']:.0%} of {builds[0]}'s max)"]
        pair = {b: find(cells, backend=after["backend"], build=b, endpoint=after["endpoint"],
                        mode="open", rate=after["rate"]) for b in builds}
        for b in builds:
            x = pair[b]
            flag = f" ({x['unsent']} unsent)" if x.get("unsent") else ""
            row += [f"{x['p50_ms']:.2f}", ranged(x, "p99_ms", ".1f"), f"{x['max_ms']:.1f}{flag}",
                    f"{x['service_p99_ms']:.2f}"]
        if len(builds) == 2 and pair["before"]["p99_ms"]:
            row.append(f"{after['p99_ms'] / pair['before']['p99_ms']:.2f}x")
        out.append("| " + " | ".join(row) + " |")
    out += ["", "#### Concurrent copies of one delivery (issue 14): "
            f"{layout['config']['copy_rounds']} round(s) of {layout['config']['copies']}, "
            "a fresh delivery each round", "",
            "| store | build | 202 | 200 | 503 | other | clean rounds | all copies p50 / p99 / "
            "max ms | owner's 202 p50 / max ms | 200 p50 / max ms | 503 min / p50 / max ms | "
            "503s after the owner's 202 | rounds with takeover claims (highest generation) |",
            "|---|---|---:|---:|---:|---:|---:|---|---|---|---|---:|---:|"]
    for row in layout["copies"]:
        s, bs = row["statuses"], row["by_status"]
        other = sum(n for status, n in s.items() if status not in ("200", "202", "503"))

        def fmt(d: dict | None, *keys: str) -> str:
            return " / ".join(f"{d[k]:.0f}" for k in keys) if d and d.get("count") else "-"
        where = "SQLite, one spin up" if row["replicas"] == 1 else \
            f"Redis, {row['replicas']} replicas"
        out.append(f"| {where} | {row['build']} ({row['label']}) | {s.get('202', 0)} | "
                   f"{s.get('200', 0)} | {s.get('503', 0)} | {other} | "
                   f"{row['clean_rounds']}/{row['rounds']} | "
                   f"{fmt(row['all'], 'p50_ms', 'p99_ms', 'max_ms')} | "
                   f"{fmt(row['owner'], 'p50_ms', 'max_ms')} | "
                   f"{fmt(bs.get('200'), 'p50_ms', 'max_ms')} | "
                   f"{fmt(bs.get('503'), 'min_ms', 'p50_ms', 'max_ms')} | "
                   f"{row['503_after_owner_answered']} of {s.get('503', 0)} | "
                   f"{row['rounds_with_takeover_claims']}/{row['rounds']} "
                   f"({row['highest_generation']}) |")
    problems = {f"{row['store']} {row['build']}": row["problems"] for row in layout["copies"]
                if row["problems"]}
    if problems:
        out += ["", "Error answers by problem type: " + "; ".join(
            f"{where}: " + ", ".join(f"{n} x {p}" for p, n in kinds.items())
            for where, kinds in problems.items())]
    return "\n".join(out) + "\n"


def measure(spin: str, workdir: Path, mode: str, baseline: Build | None, info: dict,
            commit: str) -> dict:
    """Everything above, for the current build and (if measured) the baseline."""
    cfg = SMOKE if mode == "smoke" else FULL
    builds = ([baseline] if baseline else []) + [this_checkout(commit)]
    common.log("builds: " + ", ".join(f"{b.name} = {b.label} ({b.root})" for b in builds))
    app_commit = git("log", "-1", "--format=%h", "--", "services", "crates", "shared", "spin-adapter",
                     "spin.toml", check=False).stdout.strip() or "unknown"
    result = {"config": cfg, "baseline": info, "after_app_commit": app_commit}
    t0 = time.monotonic()
    result["store_ops"] = store_ops(spin, builds, workdir, cfg)
    result["cells"] = store_cells(spin, builds, workdir, cfg)
    result["copies"] = concurrent_copies(spin, builds, workdir, cfg)
    common.log(f"store layout measurements: {time.monotonic() - t0:.0f}s")
    return result


def broken(results: dict) -> list[str]:
    """Measurements that had errors or no answers (the copies may answer 503: that is measured,
    not an error of the measurement)."""
    layout = results.get("layout") or {}
    bad = [f"{r['backend']} {r['build']} {r['endpoint']} {r['mode']}"
           for r in layout.get("cells", []) if r["errors"] or not r["requests"]]
    bad += [f"copies {r['store']} {r['build']}: a copy got no answer"
            for r in layout.get("copies", []) if r["statuses"].get("0")]
    return bad

