"""A bounded store (issue 17), run by bench/run.py: ingestion well past `retention_max_events`,
against the same cells without a cap, in one run.

On each store (the local SQLite store; Redis when redis-server is installed), one `spin up` per
variant, each on its own store (its own redis-server on Redis), started side by side:

  cap        retention_max_events = cap (retention_dedup_days at its default, 3: a pruned
             event keeps a small dedup record for three days, so a late provider retry is still
             a duplicate);
  cap, no dedup   (Redis) the same cap, retention_dedup_days = 0: nothing of a pruned event stays;
  no cap     retention_max_events = 0.

The variants are fed in chunks of `cap` deliveries (1 KB GitHub deliveries, open loop at a fixed
rate: the same requests at the same times for every variant; the rate is a fraction of the
lower of two throwaway apps' closed-loop maxima, uncapped and capped-and-full, measured first, so
that every variant can keep to it and its latency measures pruning, not a queue; both maxima
are reported: what pruning costs in capacity), chunks interleaved across the variants,
until each has ingested `multiple` x cap. While each chunk is sent, listing
(`GET /api/events?limit=50`) runs beside it at a low fixed rate, open loop. After each chunk:
the event count and what was pruned (`GET /api/stats`), Redis `used_memory` (`INFO memory`) or
the SQLite file's size, and on Redis the number of keys (`DBSIZE`). Each app runs as it does
in production: the count rule at ingest (the request that stored event `n` removes `n - cap`
after its answer) and a dispatch tick every few seconds (`POST /api/dispatch`, whose bounded
sweep removes what the count rule leaves behind once it expires: a pruned event's tombstone and
delete claim after 60 s, its dedup record after `retention_dedup_days`).

Printed: the series per variant. Judged (full runs): the count levels off at the cap; Redis
memory levels off without dedup records (its growth over the second half at most 10 % of the
uncapped store's); ingest and listing p99 while pruning runs at most 1.2x the uncapped cells'
(the median over the chunks sent after the cap was reached). Correctness checks, which fail a
smoke run too: events at the end within the cap (plus a small slack), and every accepted
delivery accounted for (events + pruned = deliveries accepted).
"""

from __future__ import annotations

import math
import re
import statistics
import threading
import time
from pathlib import Path

from inbox_tools.bench import (
    common,  # the suite's helpers (it imports no step module)
    forwarding,
    layout,
)

# The cap is smaller on SQLite, whose ingestion runs at tens of deliveries per second here (ten
# times 1 000 at half of that would take a quarter of an hour per variant).
FULL = {
    "cap": {"sqlite": 300, "redis": 1000},
    "multiple": 10,
    "fraction": 0.5,
    "probe_ms": 3000,
    "probe_concurrency": 10,
    "list_rate": 10.0,
    "open_connections": 50,
    "tick_s": 5.0,
}
# Smoke: a cap of 10, five times over, at a rate any machine keeps (the probe only caps it).
SMOKE = {"cap": {"sqlite": 10, "redis": 10}, "multiple": 5, "fraction": 0.5, "probe_ms": 300, "probe_concurrency": 1,
         "list_rate": 5.0, "open_connections": 10, "max_rate": 40.0, "tick_s": 1.0}

# Judged in full runs.
LATENCY_AT_MOST = 1.2
MEMORY_GROWTH_AT_MOST = 0.10


def slack(cap: int) -> int:
    """How far above the cap the count may be when sampled: answers whose prune has not run
    yet. Samples are taken after a chunk's last answer, so this is small."""
    return max(2, cap // 50)


def variants(backend: str, cap: int) -> list[dict]:
    out = [{"name": "cap", "max_events": cap, "dedup_days": None}]
    if backend == "redis":
        out.append({"name": "cap, no dedup", "max_events": cap, "dedup_days": 0})
    out.append({"name": "no cap", "max_events": 0, "dedup_days": None})
    return out


def redis_memory(port: int) -> int:
    info = layout.resp(port, "INFO", "memory")
    return int(re.search(r"^used_memory:(\d+)", info, re.MULTILINE).group(1))


def sqlite_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in state.glob("sqlite_key_value.db*"))


def probe(spin: str, workdir: Path, backend: str, cfg: dict, cap: int) -> dict:
    """A throwaway app's closed-loop ingest throughput: uncapped (cap 0), or capped and already
    full (seeded with `cap` events, so every delivery it takes prunes one)."""
    tag = f"ret-{backend}-probe-{cap}"
    with layout.Servers() as servers:
        server, _, _ = servers.app(spin, workdir, backend, tag, {"retention_max_events": str(cap)},
                                   seed=cap)
        result = common.load(server.port, {"duration_ms": cfg["probe_ms"], "warmup_ms": 200},
                            cfg["probe_concurrency"], post_size=1024,
                            run_id=f"ret-probe-{backend}-{cap}-{int(time.time())}")
        if cap:
            # Saturated, answers come faster than the prunes after them: how far over the cap
            # the count got, and that it comes back (the correctness checks are the chunks').
            right_after = common.app_stats(server.port)["total"]["total"]
            deadline = time.monotonic() + 10
            settled = right_after
            while settled > cap and time.monotonic() < deadline:
                time.sleep(0.2)
                settled = common.app_stats(server.port)["total"]["total"]
            common.log(f"retention {backend}: capped probe app: {right_after:,} events right "
                      f"after its load (cap {cap:,}), {settled:,} after "
                      f"{10 - max(0.0, deadline - time.monotonic()):.1f}s")
            result["events_right_after"], result["events_settled"] = right_after, settled
    return result


def measure_backend(spin: str, workdir: Path, backend: str, cfg: dict, stamp: str) -> dict:
    cap = cfg["cap"][backend]
    target = cap * cfg["multiple"]
    capacity = probe(spin, workdir, backend, cfg, 0)["rps"]
    capped = probe(spin, workdir, backend, cfg, cap)
    capped_capacity = capped["rps"]
    # Both must keep to the rate: past the capped app's capacity its p99 is its queue.
    rate = max(5.0, min(capacity, capped_capacity or capacity) * cfg["fraction"])
    rate = round(min(rate, cfg.get("max_rate", rate)), 1)
    chunk_ms = math.ceil(cap / rate * 1000)  # at least `cap` deliveries scheduled
    common.log(f"retention {backend}: throwaway apps ingested {capacity:.1f} req/s uncapped and "
              f"{capped_capacity:.1f} req/s capped and full (closed loop, "
              f"c={cfg['probe_concurrency']}); chunks of {cap:,} deliveries at {rate:g}/s "
              f"({chunk_ms / 1000:.1f} s each), listing at {cfg['list_rate']:g}/s beside them")
    out = {"backend": backend, "cap": cap, "target": target, "capacity_rps": capacity,
           "capped_capacity_rps": capped_capacity,
           "capped_probe_events": [capped.get("events_right_after"), capped.get("events_settled")],
           "rate": rate, "chunk_ms": chunk_ms,
           "variants": []}
    with layout.Servers() as servers:
        runs = []
        for v in variants(backend, cap):
            tag = v["name"].replace(", ", "-").replace(" ", "")
            variables = {"retention_max_events": str(v["max_events"])}
            if v["dedup_days"] is not None:
                variables["retention_dedup_days"] = str(v["dedup_days"])
            server, redis, state = servers.app(spin, workdir, backend, f"ret-{backend}-{tag}",
                                               variables)
            runs.append({**v, "server": server, "redis": redis, "state": state,
                         "ingested": 0, "chunks": [],
                         "ticker": forwarding.Ticker(server.port, cfg["tick_s"])})
        for r in runs:
            r["start"] = sample(r)
        max_chunks = 2 * cfg["multiple"]  # room for chunks a stalled machine sent only in part
        for n in range(max_chunks):
            pending = [r for r in runs if r["ingested"] < target]
            if not pending:
                break
            order = pending if n % 2 == 0 else list(reversed(pending))
            for r in order:
                chunk(r, n, rate, chunk_ms, cfg, f"{stamp}-{backend}")
        for r in runs:
            r["end"] = settle(r, cap)
            r["ticker"].stop()
            r["ticks"], r["tick_failures"] = r["ticker"].calls, r["ticker"].failures
            out["variants"].append({k: v for k, v in r.items()
                                    if k not in ("server", "redis", "state", "ticker")})
    return out


def sample(r: dict) -> dict:
    stats = common.app_stats(r["server"].port)
    s = {"ingested": r["ingested"], "events": stats["total"]["total"],
         "pruned": sum(stats.get("pruned", {}).values()),
         "pruned_max_events": stats.get("pruned", {}).get("max_events", 0)}
    if r["redis"]:
        s["used_memory"] = redis_memory(r["redis"].port)
        s["keys"] = layout.resp(r["redis"].port, "DBSIZE")
    else:
        s["sqlite_bytes"] = sqlite_bytes(r["state"])
    return s


def chunk(r: dict, n: int, rate: float, chunk_ms: int, cfg: dict, stamp: str) -> None:
    """One chunk of deliveries to one variant, listing beside it, then a sample."""
    port = r["server"].port
    timing = {"duration_ms": chunk_ms, "warmup_ms": 0}
    listing: dict = {}
    pruning = r["max_events"] > 0 and r["ingested"] >= r["max_events"]

    def lister() -> None:
        listing.update(common.load(port, timing, cfg["open_connections"], get=common.LIST_PATH,
                                  rate=cfg["list_rate"], again=False))

    thread = threading.Thread(target=lister)
    thread.start()
    ingest = common.load(port, timing, cfg["open_connections"], post_size=1024, rate=rate,
                        run_id=f"ret-{stamp}-{r['name'].replace(' ', '')}-{n}", again=False)
    thread.join()
    r["ingested"] += ingest["statuses"].get("202", 0)
    time.sleep(0.2)  # the last answers' prunes run after the answer
    s = sample(r)
    keep = ("requests", "errors", "unsent", "p50_ms", "p99_ms", "max_ms", "service_p99_ms")
    s.update(chunk=n + 1, pruning=pruning,
             ingest={k: ingest.get(k) for k in keep}, list={k: listing.get(k) for k in keep})
    r["chunks"].append(s)
    memory = (f"used_memory {s['used_memory'] / 2**20:6.2f} MiB, {s['keys']:6,} keys"
              if "used_memory" in s else f"sqlite file {s['sqlite_bytes'] / 2**20:6.2f} MiB")
    common.log(f"retention {r['name']:13} chunk {n + 1:2}: ingested {r['ingested']:6,}  events "
              f"{s['events']:6,}  pruned {s['pruned']:6,}  {memory}  ingest p50/p99 "
              f"{ingest['p50_ms']:6.2f}/{ingest['p99_ms']:7.2f} ms  list p50/p99 "
              f"{listing.get('p50_ms', 0):6.2f}/{listing.get('p99_ms', 0):7.2f} ms"
              f"{'  (pruning)' if pruning else ''}"
              + (f"  unsent {ingest['unsent']}" if ingest.get("unsent") else ""))


def settle(r: dict, cap: int) -> dict:
    """The final sample, once the count has come down to the cap (up to 3 s for the last
    prunes, which run after their answers)."""
    deadline = time.monotonic() + 3
    while True:
        s = sample(r)
        if not r["max_events"] or s["events"] <= r["max_events"] or time.monotonic() > deadline:
            return s
        time.sleep(0.1)


def measure(spin: str, workdir: Path, mode: str) -> dict:
    cfg = SMOKE if mode == "smoke" else FULL
    backends = ["sqlite"] + (["redis"] if layout.have_redis() else [])
    if "redis" not in backends:
        common.log("retention: redis-server/redis-cli not found, Redis skipped")
    stamp = str(int(time.time()))
    t0 = time.monotonic()
    rows = [measure_backend(spin, workdir, backend, cfg, stamp) for backend in backends]
    common.log(f"retention measurements: {time.monotonic() - t0:.0f}s")
    return {"config": cfg, "backends": rows}


# ---------------------------------------------------------------------------------------------
# Checks, targets, report


def failures(results: dict) -> list[str]:
    """What says retention is broken (smoke and full alike)."""
    ret = results.get("retention")
    if not ret:
        return []
    bad = []
    for b in ret["backends"]:
        for v in b["variants"]:
            where = f"retention {b['backend']} {v['name']}"
            end, cap = v["end"], v["max_events"]
            if v["ingested"] < b["target"]:
                bad.append(f"{where}: only {v['ingested']:,} of {b['target']:,} deliveries were "
                           f"accepted")
            if end["events"] + end["pruned"] != v["ingested"]:
                bad.append(f"{where}: {end['events']:,} events + {end['pruned']:,} pruned != "
                           f"{v['ingested']:,} deliveries accepted")
            if cap:
                over = [s for s in v["chunks"] + [end] if s["events"] > cap + slack(cap)]
                if over:
                    bad.append(f"{where}: {over[0]['events']:,} events after "
                               f"{over[0]['ingested']:,} deliveries, over the cap {cap:,} "
                               f"(+{slack(cap)})")
                if end["events"] > cap:
                    bad.append(f"{where}: {end['events']:,} events at the end, cap {cap:,}")
            elif end["pruned"]:
                bad.append(f"{where}: {end['pruned']:,} events pruned without a cap")
            if v["tick_failures"]:
                bad.append(f"{where}: {len(v['tick_failures'])} dispatch ticks failed: "
                           f"{v['tick_failures'][:3]}")
    return bad


def broken(results: dict) -> list[str]:
    ret = results.get("retention") or {}
    return [f"retention {b['backend']} {v['name']} chunk {s['chunk']}"
            for b in ret.get("backends", []) for v in b["variants"] for s in v["chunks"]
            if s["ingest"]["errors"] or s["list"]["errors"] or not s["ingest"]["requests"]
            or not s["list"]["requests"]]


def pruning_medians(v: dict, chunks: set[int]) -> dict:
    picked = [s for s in v["chunks"] if s["chunk"] in chunks]
    return {f"{what}_{key}": statistics.median(s[what][key] for s in picked) if picked else 0.0
            for what in ("ingest", "list") for key in ("p50_ms", "p99_ms")}


def growth(v: dict, key: str) -> tuple[float, int] | None:
    """How much `key` grew over the second half of the ingestion, and over how many
    deliveries."""
    series = [v["start"]] + v["chunks"]
    if key not in series[0] or len(series) < 3:
        return None
    half = series[len(series) // 2]
    last = series[-1]
    return last[key] - half[key], last["ingested"] - half["ingested"]


def summary(b: dict) -> dict:
    """Per variant: latency medians over the chunks sent while the capped variant pruned, and
    memory growth over the second half."""
    capped = next(v for v in b["variants"] if v["max_events"])
    chunks = {s["chunk"] for s in capped["chunks"] if s["pruning"]}
    out = {}
    for v in b["variants"]:
        row = pruning_medians(v, chunks)
        for key in ("used_memory", "sqlite_bytes"):
            g = growth(v, key)
            if g:
                row[f"{key}_growth"], row["growth_deliveries"] = g
        out[v["name"]] = row
    return {"pruning_chunks": sorted(chunks), "variants": out}


def targets(results: dict) -> list[dict]:
    ret = results.get("retention")
    if not ret:
        return []
    checks = []

    def check(name, measured, limit, passed, detail, ratio=True):
        checks.append({"target": name, "measured": round(measured, 3), "limit": limit,
                       "pass": bool(passed), "detail": detail, "ratio": ratio})

    for b in ret["backends"]:
        s = summary(b)["variants"]
        none = s["no cap"]
        for v in [v for v in b["variants"] if v["max_events"]]:
            end = v["end"]
            check(f"events level off at the cap after {v['ingested']:,} deliveries "
                  f"({b['backend']}, {v['name']})", end["events"], v["max_events"],
                  end["events"] <= v["max_events"],
                  f"{end['events']:,} events, {end['pruned']:,} pruned", ratio=False)
            mine = s[v["name"]]
            for what, label in (("ingest", "ingest"), ("list", "listing")):
                base = none[f"{what}_p99_ms"]
                if base:
                    r = mine[f"{what}_p99_ms"] / base
                    check(f"{label} p99 while pruning <= {LATENCY_AT_MOST}x no cap "
                          f"({b['backend']}, {v['name']}, open loop)", r, LATENCY_AT_MOST,
                          r <= LATENCY_AT_MOST,
                          f"{mine[what + '_p99_ms']:.2f} vs {base:.2f} ms")
        nodedup = s.get("cap, no dedup")
        if nodedup and none.get("used_memory_growth"):
            r = nodedup["used_memory_growth"] / none["used_memory_growth"]
            check(f"Redis used_memory levels off: growth over the second half <= "
                  f"{MEMORY_GROWTH_AT_MOST:.0%} of no cap's ({b['backend']}, cap, no dedup)", r,
                  MEMORY_GROWTH_AT_MOST, r <= MEMORY_GROWTH_AT_MOST,
                  f"{nodedup['used_memory_growth'] / 1024:+,.0f} vs "
                  f"{none['used_memory_growth'] / 1024:+,.0f} KiB")
    return checks


def markdown(results: dict) -> str:
    ret = results.get("retention")
    if not ret:
        return ""
    c = ret["config"]
    out = ["", "### A bounded store (issue 17): ingesting past `retention_max_events`, in this run",
           "", (f"Per store a cap (retention_max_events), {c['multiple']}x as many 1 KB "
           "deliveries per variant, in chunks of the cap sent open loop at a fixed rate, "
           "variants interleaved; "
           f"listing beside each chunk at {c['list_rate']:g}/s (open loop); a dispatch tick "
           f"every {c['tick_s']:g} s (its sweep removes expired tombstones, at most 100 per "
           "call). Latencies are medians over the chunks sent while the capped store pruned.")]
    for b in ret["backends"]:
        s = summary(b)
        memory_key = "used_memory" if b["backend"] == "redis" else "sqlite_bytes"
        memory_label = "Redis used_memory" if b["backend"] == "redis" else "SQLite file"
        out += ["", (f"#### {b['backend']}: cap {b['cap']:,}; {b['rate']:g} deliveries/s (half of the "
                f"lower closed-loop maximum of two throwaway apps: uncapped {b['capacity_rps']:.0f}/s, "
                f"capped and full {b.get('capped_capacity_rps', 0):.0f}/s), "
                f"{b['chunk_ms'] / 1000:.1f} s per chunk"), "",
                ("| variant | deliveries | events at the end | pruned | "
                f"{memory_label} at the end MiB | growth over the second half | ingest p50 / "
                "p99 ms | listing p50 / p99 ms |"), "|---|---:|---:|---:|---:|---:|---|---|"]
        for v in b["variants"]:
            row, end = s["variants"][v["name"]], v["end"]
            g = row.get(f"{memory_key}_growth")
            grown = (f"{g / 1024:+,.0f} KiB over {row['growth_deliveries']:,} deliveries "
                     f"({g / row['growth_deliveries']:+,.0f} B each)"
                     if g is not None and row.get("growth_deliveries") else "-")
            out.append(f"| {v['name']} | {v['ingested']:,} | {end['events']:,} | "
                       f"{end['pruned']:,} | {end[memory_key] / 2**20:.2f}"
                       + (f" ({end['keys']:,} keys)" if "keys" in end else "") + f" | {grown} | "
                       f"{row['ingest_p50_ms']:.2f} / {row['ingest_p99_ms']:.2f} | "
                       f"{row['list_p50_ms']:.2f} / {row['list_p99_ms']:.2f} |")
        out += ["", (f"Series ({b['backend']}; after each chunk: deliveries accepted, events "
                f"stored, {memory_label} MiB, ingest p99 ms, listing p99 ms):"), ""]
        for v in b["variants"]:
            points = [f"{x['ingested']:,}: {x['events']:,} ev, {x[memory_key] / 2**20:.2f} MiB"
                      + (f" {x['keys']:,} keys" if "keys" in x else "") + ", "
                      f"{x['ingest']['p99_ms']:.1f} / {x['list']['p99_ms']:.1f} ms"
                      for x in v["chunks"]]
            out.append(f"- **{v['name']}**: " + "; ".join(points))
    return "\n".join(out) + "\n"
