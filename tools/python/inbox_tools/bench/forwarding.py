"""Forwarding (issue 16), run by bench/run.py: what pushing every event to a destination costs,
and how fast events get there.

On each store (the local SQLite store, and Redis when redis-server is installed), side by side
in one run:

  none   the app without destinations (`forward_destinations` empty: the default);
  one    the app with one healthy destination: `bench receive` (bench/src/receiver.rs) on a
         free loopback port, which answers 200 at once and counts what arrived, checking each
         request's Standard Webhooks signature and that its body is the delivery it names.

Both run as `scripts/dev` and the cluster run the app: every component in one `spin up`, the
webhook component asking the forwarder for each event's first attempt right after its 202
(`forward_dispatch_url` = http://self, `forward_dispatch_token` set: without the token it does
not ask, and only the ticks send), and a ticker calling `POST /api/dispatch` every few seconds
(the retries' clock; docs/architecture.md, "What drives retries").

  ingest      1 KB GitHub deliveries to both apps: closed loop (throughput), then open loop at
              fractions of `none`'s closed-loop maximum and of `one`'s (latency from the
              scheduled send; both apps at the same rates); rounds interleaved A B, B A, the
              median reported. Target: p99 with one destination at most 1.2x the p99 with
              none, at the same rate (open loop).
  keeping up  during each closed-loop cell of `one`, events stored and events delivered per
              second (the first attempt, started after the answer); after the cells, how long
              until every stored event had arrived.
  drain       a backlog: `one` started with N events already stored (`bench seed`) and without
              the webhook component's ask (`forward_dispatch_url` empty), drained by calling
              `POST /api/dispatch` back to back from 1 and from several callers at once: the
              ticker's throughput, events delivered per second.

  ordered     (issue 25) the drain again with the destination `"ordered": true` (one send at a
              time, in ingestion order) and the larger number of callers: its throughput against
              the unordered drain's, as a ratio (target: at least 0.3x).
  throttle    (issue 25) a throttled destination beside an unthrottled one: `beside` forwards
              to `fast` (unthrottled) and `slow` (`"max_per_second": 1`), `alone` to `fast` only
              (the baseline). Events are sent one after another, each once the previous one
              reached `fast`, to both apps in interleaved rounds (well above `slow`'s rate, so its
              backlog grows and the ticks keep queueing it), the webhook component asking the
              forwarder after each 202 (`forward_dispatch_token` set); `fast`'s delivery latency (from the
              send to its arrival at the receiver) with the throttled neighbour against without:
              p50 and p99, and their ratio. `fast` is listed first, so the ratio is what the
              throttled neighbour's backlog costs it, not its place in the per-event send order.
              SQLite (and Redis in a full run when installed).
  circuit     (issue 25) circuit breaking: the time from a disabled destination's re-enable
              to drained. `cb` forwards to a destination with `"disable_after_failures": 3`
              whose receiver answers 500 (`bench receive`, PUT /answer): 3 events disable it,
              then N more are ingested while it is disabled and held (a full run holds it for
              CIRCUIT_HOLD_S, many ticks); the receiver answers 200 again, `POST
              /api/destinations/bench/enable` is called, and the time runs until the last of
              the 3 + N events arrives (the receiver's clock). While disabled its deliveries
              are parked out of the due queue (crates/inbox-core/src/forwarding/parked.rs), and
              the first round after the re-enable puts them back due now, so they should drain
              at a backlog's pace: the baseline, side by side, is `fresh`, the same 3 + N events
              (`bench seed`) drained to a fresh destination by the same ticker from its start
              (its first tick included). Target: re-enable to drained at most CIRCUIT_AT_MOST
              times fresh. Checked too (they fail a smoke run): disabled while held (GET /api/stats),
              no attempt at all while disabled (the receiver's failed count and arrivals do not
              move), and after the re-enable every event exactly once by webhook-id, signed and
              unaltered, the counters agreeing (delivered = 3 + N, nothing pending, dead or
              disabled). SQLite (and Redis in a full run when installed), after each store's
              other measurements. A smoke run (N = 10) holds it for 2 ticks only and runs it in
              a thread beside the other measurements, waiting for the drain at the end (the
              smoke run judges no timing).

Correctness checks (a smoke run fails on them too, they are not timings): the destination got
every stored event exactly once (distinct ids = requests = events stored), every signature
verified, every body was its delivery's, and the app's own counters say the same (delivered =
events, nothing pending or dead).
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from pathlib import Path

from inbox_tools.bench import common, layout  # common: the suite's helpers (it imports no step module)

# The destination's signing secret: `whsec_` + base64 of "bench-destination-key". Obviously fake.
DESTINATION_SECRET = "whsec_YmVuY2gtZGVzdGluYXRpb24ta2V5"
DESTINATION = "bench"
INGEST = "POST /webhooks/github 1 KB"
# Issue 16: webhook ingest p99 with one healthy destination at most this many times without.
P99_AT_MOST = 1.2
# Issue 25: the unthrottled destination's delivery p99 beside a throttled one at most this many
# times its p99 alone.
THROTTLE_P99_AT_MOST = 1.5
# The throttled destination's limit (sends per second).
THROTTLE_RATE = 1
# What the apps' webhook component presents when it asks the forwarder for an event's first
# attempts after its 202 (`forward_dispatch_token`), as scripts/dev and the cluster set it:
# without it the webhook component does not ask, and only the ticks send.
DISPATCH_TOKEN = "bench-dispatch-token"
# Issue 25: an ordered destination's drain throughput (one send at a time) at least this fraction
# of the same destination's unordered, with the same backlog and dispatch callers.
ORDERED_THROUGHPUT_AT_LEAST = 0.3
# Issue 25, circuit breaking: failed attempts in a row that disable the measured destination.
CIRCUIT_FAILURES = 3
# How long a full run keeps the destination disabled with its backlog held (nothing may be sent).
CIRCUIT_HOLD_S = 15
# Issue 25: a re-enabled destination drained (its re-enable to the last arrival) within this
# many times the time the same backlog takes a fresh destination with the same ticker (which
# includes the wait for the first tick): the parked deliveries are due again from the first round
# after the re-enable, and are then sent at the pace a backlog is.
CIRCUIT_AT_MOST = 1.5

FULL = {
    "rounds": 3,
    "duration_ms": 3000,
    "warmup_ms": 500,
    "concurrency": [10],
    "open_fractions": [0.5, 0.8],
    "open_fractions_one": [0.25, 0.5],
    "open_connections": 50,
    "tick_s": 5.0,
    "drain_events": {"sqlite": 300, "redis": 2000},
    "drain_callers": [1, 4],
    "settle_timeout_s": 180,
    "drain_timeout_s": 600,
    "throttle_rounds": 3,
    "throttle_events": 200,
    "throttle_backends": ["sqlite", "redis"],
    "ordered_callers": 4,
    "ordered_backends": ["sqlite", "redis"],
    "circuit_events": {"sqlite": 100, "redis": 200},
    "circuit_backends": ["sqlite", "redis"],
    "circuit_beside": False,
}
# The backlog is smaller on SQLite, where each send costs several synced writes (tens of events
# per second). Smoke: one closed-loop cell at c=1 (SQLite syncs on a busy 2-core machine), one
# open-loop rate, a small backlog; every check still runs.
SMOKE = {
    "rounds": 1,
    "duration_ms": 300,
    "warmup_ms": 100,
    "concurrency": [1],
    "open_fractions": [0.5],
    "open_fractions_one": [],
    "open_connections": 10,
    "tick_s": 1.0,
    "drain_events": {"sqlite": 30, "redis": 30},
    "drain_callers": [1, 2],
    "settle_timeout_s": 60,
    "drain_timeout_s": 60,
    "throttle_rounds": 1,
    "throttle_events": 8,
    "throttle_backends": ["sqlite"],
    "ordered_callers": 2,
    "ordered_backends": ["sqlite"],
    "circuit_events": {"sqlite": 10, "redis": 10},
    "circuit_backends": ["sqlite"],
    "circuit_beside": True,
}


# ---------------------------------------------------------------------------------------------
# The destination, the apps, the ticker


def receiver_server(workdir: Path, name: str) -> common.Server:
    return common.Server(name, lambda port: [str(common.BENCH_BIN), "receive", "--listen",
                                            f"127.0.0.1:{port}", "--secret", DESTINATION_SECRET],
                        "/healthz", workdir)


def received(receiver: common.Server) -> dict:
    """The destination's tally (bench/src/receiver.rs, `Stats`)."""
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    try:
        conn.request("GET", "/stats")
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        common.fail(f"the destination's GET /stats answered {response.status}")
    return json.loads(data)


def destinations(receiver: common.Server, ordered: bool = False) -> str:
    one = {"name": DESTINATION, "url": f"http://127.0.0.1:{receiver.port}/hooks",
           "secret": DESTINATION_SECRET}
    return json.dumps([{**one, "ordered": True} if ordered else one])


def app(spin: str, workdir: Path, servers: layout.Servers, backend: str, name: str,
        variables: dict[str, str], seed: int = 0) -> common.Server:
    """One `spin up` of this checkout on its own store (its own redis-server on Redis),
    optionally with `seed` events already stored."""
    return servers.app(spin, workdir, backend, f"fwd-{backend}-{name}", variables, seed)[0]


class Ticker:
    """Calls POST /api/dispatch every `every` seconds, as scripts/dev and the cluster do."""

    def __init__(self, port: int, every: float):
        self.port, self.every = port, every
        self.calls, self.failures, self.sent = 0, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.tick()

    def tick(self) -> dict:
        try:
            status, body = common.api(self.port, "POST", "/api/dispatch")
        except OSError as error:
            status, body = 0, {"error": str(error)}
        self.calls += 1
        if status != 200:
            self.failures.append(f"{status} {body}")
            return {}
        self.sent += body.get("sent", 0)
        return body

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def stored(port: int) -> int:
    """Events the app holds (GET /api/stats)."""
    return common.app_stats(port)["total"]["total"]


def forwarded(port: int) -> dict:
    """The app's own counters for the destination (pending, delivered, dead)."""
    return common.app_stats(port).get("forwarding", {}).get(DESTINATION,
                                                           {"pending": 0, "delivered": 0,
                                                            "dead": 0})


# ---------------------------------------------------------------------------------------------
# Ingest, none against one


def ingest_cells(started: dict[str, common.Server], receiver: common.Server, backend: str,
                 cfg: dict, stamp: str) -> list[dict]:
    rows: list[dict] = []
    names = list(started)
    timing = {"duration_ms": cfg["duration_ms"], "warmup_ms": cfg["warmup_ms"]}
    index = 0

    def cell(mode: str, c: int, fraction: float | None, rate: float | None,
             of: str | None = None) -> None:
        nonlocal index
        rounds: dict[str, list[dict]] = {name: [] for name in names}
        for r in range(cfg["rounds"]):
            order = names if (index + r) % 2 == 0 else list(reversed(names))
            for name in order:
                port = started[name].port
                before = (stored(port), received(receiver)["unique"], time.monotonic())
                result = common.load(port, timing, c, post_size=1024, rate=rate,
                                    run_id=f"fwd-{stamp}-{backend}-{name}-{index}-{r}")
                after = (stored(port), received(receiver)["unique"], time.monotonic())
                wall = after[2] - before[2]
                result["stored_per_s"] = (after[0] - before[0]) / wall
                # Only `one` forwards; the receiver's count moves with its events alone.
                result["delivered_per_s"] = ((after[1] - before[1]) / wall if name == "one"
                                             else None)
                rounds[name].append(result)
        for name in names:
            results = rounds[name]
            row = {"backend": backend, "app": name, "endpoint": INGEST, "mode": mode,
                   "concurrency": c, "fraction": fraction, "rate": rate, "of": of,
                   "rounds": len(results),
                   "requests": sum(x["requests"] for x in results),
                   "errors": sum(x["errors"] for x in results),
                   "unsent": sum(x.get("unsent") or 0 for x in results),
                   "per_round": [{k: x.get(k) for k in ("rps", "p50_ms", "p99_ms", "max_ms",
                                                        "stored_per_s", "delivered_per_s")}
                                 for x in results]}
            keys = ["rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "stored_per_s"]
            keys += ["service_p99_ms", "send_lag_p99_ms"] if mode == "open" else []
            for key in keys:
                row[key] = statistics.median(x[key] for x in results)
            row["delivered_per_s"] = (statistics.median(x["delivered_per_s"] for x in results)
                                      if name == "one" else None)
            rows.append(row)
            what = (f"closed c={c}" if mode == "closed" else
                    f"open {rate:g}/s ({fraction:.0%} of {of}'s)")
            kept = (f"  stored {row['stored_per_s']:.1f}/s delivered "
                    f"{row['delivered_per_s']:.1f}/s" if name == "one" else "")
            common.log(f"forwarding {backend:6} {name:4} {what:22} median {row['rps']:7.1f} "
                      f"req/s p50 {row['p50_ms']:7.2f} p99 {row['p99_ms']:7.2f} ms  rounds' p99 "
                      f"{'/'.join(format(x['p99_ms'], '.1f') for x in results)}{kept}  "
                      f"errors {row['errors']}" +
                      (f"  unsent {row['unsent']}" if row["unsent"] else ""))
        index += 1

    for c in cfg["concurrency"]:
        cell("closed", c, None, None)
    # Rates: fractions of `none`'s closed-loop maximum (the same traffic the app takes without
    # forwarding: at or past `one`'s capacity), and of `one`'s (light load for the app that
    # forwards: a quarter and a half of what it takes at most).
    for of, key in (("none", "open_fractions"), ("one", "open_fractions_one")):
        base = max((r["rps"] for r in rows if r["app"] == of and r["mode"] == "closed"),
                   default=0.0)
        for fraction in cfg[key]:
            # At least 5 requests in the measured window, even if the closed loop stalled.
            rate = round(max(5000 / cfg["duration_ms"], base * fraction), 1)
            cell("open", cfg["open_connections"], fraction, rate, of)
    return rows


def settle(app_port: int, receiver: common.Server, ticker: Ticker, cfg: dict) -> dict:
    """Waits until every stored event has arrived (the ticker keeps running); how long it took
    and what each side counted."""
    t0 = time.monotonic()
    deadline = t0 + cfg["settle_timeout_s"]
    while True:
        events, got = stored(app_port), received(receiver)
        if got["unique"] >= events or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.5)  # anything sent twice would arrive about now
    return {"events": stored(app_port), "received": received(receiver),
            "counters": forwarded(app_port), "seconds": round(time.monotonic() - t0, 2),
            "ticks": ticker.calls, "tick_failures": ticker.failures}


# ---------------------------------------------------------------------------------------------
# Drain: a backlog emptied by dispatch ticks alone


def drain(spin: str, workdir: Path, backend: str, callers: int, cfg: dict,
          ordered: bool = False) -> dict:
    """`ordered`: the destination is `"ordered": true` (one send at a time, in order)."""
    n = cfg["drain_events"][backend]
    kind = "-ordered" if ordered else ""
    with layout.Servers() as servers:
        receiver = servers.start(receiver_server(workdir,
                                                 f"recv-drain-{backend}-{callers}{kind}"))
        t0 = time.monotonic()
        started = app(spin, workdir, servers, backend, f"drain-{callers}{kind}",
                      {"forward_destinations": destinations(receiver, ordered),
                       "forward_dispatch_url": ""}, seed=n)
        common.log(f"forwarding {backend} drain{kind}: {n:,} events stored by bench seed, app "
                  f"started ({time.monotonic() - t0:.1f}s); {callers} caller(s) of "
                  "POST /api/dispatch")
        calls: list[dict] = []
        failures: list[str] = []
        lock = threading.Lock()
        done = threading.Event()
        start_ms = received(receiver)["now_ms"]
        t_start = time.monotonic()
        deadline = t_start + cfg["drain_timeout_s"]

        def caller() -> None:
            while not done.is_set() and time.monotonic() < deadline:
                t = time.monotonic()
                try:
                    status, body = common.api(started.port, "POST", "/api/dispatch")
                except OSError as error:
                    status, body = 0, {"error": str(error)}
                with lock:
                    if status == 200:
                        calls.append({**body, "ms": (time.monotonic() - t) * 1000})
                    else:
                        failures.append(f"{status} {body}")
                if status != 200:
                    time.sleep(0.1)

        threads = [threading.Thread(target=caller, daemon=True) for _ in range(callers)]
        for thread in threads:
            thread.start()
        last_log = t_start
        while time.monotonic() < deadline:
            got = received(receiver)
            if got["unique"] >= n:
                break
            if time.monotonic() - last_log >= 5:
                last_log = time.monotonic()
                common.log(f"forwarding {backend} drain x{callers}: {got['unique']:,}/{n:,} "
                          f"delivered after {last_log - t_start:.0f}s")
            time.sleep(0.05)
        done.set()
        for thread in threads:
            thread.join()
        time.sleep(0.5)
        got = received(receiver)
        counters = forwarded(started.port)
        # For a duplicate, what the app recorded of its delivery: which attempts, when.
        history = {event: common.api(started.port, "GET", f"/api/events/{event}/deliveries")[1]
                   for event, _ in got.get("duplicated", [])[:3]}
    seconds = ((got["last_ms"] or start_ms) - start_ms) / 1000
    sent = sum(c.get("sent", 0) for c in calls)
    row = {"backend": backend, "callers": callers, "ordered": ordered, "events": n,
           "received": got,
           "counters": counters, "seconds": round(seconds, 3),
           "events_per_s": got["unique"] / seconds if seconds > 0 else 0.0,
           "calls": len(calls), "sent": sent, "failures": failures,
           "duplicate_histories": history,
           "call_p50_ms": statistics.median(c["ms"] for c in calls) if calls else 0.0,
           "call_max_ms": max((c["ms"] for c in calls), default=0.0)}
    common.log(f"forwarding {backend} drain{kind} x{callers}: {got['unique']:,}/{n:,} delivered in "
              f"{seconds:.2f}s = {row['events_per_s']:.1f} events/s; {len(calls)} dispatch calls "
              f"(p50 {row['call_p50_ms']:.0f} ms), {sent} sends reported; duplicates "
              f"{got['duplicates']}, bad signatures {got['bad_signature']}")
    return row


# ---------------------------------------------------------------------------------------------
# Throttle: the unthrottled destination's latency beside a throttled one, against alone


def ingest_one(port: int, delivery: str) -> int:
    """One signed 1 KB GitHub delivery (the receiver checks `"delivery":"<id>"` is in it)."""
    body = json.dumps({"ref": "refs/heads/main", "delivery": delivery, "pad": "x" * 960},
                      separators=(",", ":")).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/webhooks/github", body=body,
                     headers=layout.signed_github(delivery, body))
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status


def arrival(receiver: common.Server, count: int, deadline: float) -> float | None:
    """When the receiver's `count`-th distinct event arrived, on this process's monotonic
    clock (its own clock lined up by `now_ms`), or None past the deadline."""
    while time.monotonic() < deadline:
        got = received(receiver)
        local = time.monotonic()
        if got["unique"] >= count and got["last_ms"] is not None:
            return local - (got["now_ms"] - got["last_ms"]) / 1000
        time.sleep(0.002)
    return None


def throttle_cells(spin: str, workdir: Path, backend: str, cfg: dict, stamp: str) -> dict:
    def percentile(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    with layout.Servers() as servers:
        receivers = {name: servers.start(receiver_server(workdir, f"recv-thr-{backend}-{name}"))
                     for name in ("alone", "beside", "slow")}

        def fast(name: str) -> dict:
            return {"name": "fast", "url": f"http://127.0.0.1:{receivers[name].port}/hooks",
                    "secret": DESTINATION_SECRET}

        slow = {"name": "slow", "url": f"http://127.0.0.1:{receivers['slow'].port}/hooks",
                "secret": DESTINATION_SECRET, "max_per_second": THROTTLE_RATE}
        started = {
            "alone": app(spin, workdir, servers, backend, "thr-alone",
                         {"forward_destinations": json.dumps([fast("alone")]),
                          "forward_dispatch_token": DISPATCH_TOKEN}),
            "beside": app(spin, workdir, servers, backend, "thr-beside",
                          {"forward_destinations": json.dumps([fast("beside"), slow]),
                           "forward_dispatch_token": DISPATCH_TOKEN}),
        }
        tickers = {name: Ticker(server.port, cfg["tick_s"]) for name, server in started.items()}
        latencies: dict[str, list[list[float]]] = {"alone": [], "beside": []}
        sent = {"alone": 0, "beside": 0}
        problems: list[str] = []
        t_start = time.monotonic()
        try:
            for r in range(cfg["throttle_rounds"]):
                order = ["alone", "beside"] if r % 2 == 0 else ["beside", "alone"]
                for name in order:
                    port, receiver = started[name].port, receivers[name]
                    round_ms: list[float] = []
                    for n in range(cfg["throttle_events"]):
                        t0 = time.monotonic()
                        status = ingest_one(port, f"thr-{stamp}-{backend}-{name}-{r}-{n}")
                        if status != 202:
                            problems.append(f"{name}: ingest answered {status}")
                            continue
                        sent[name] += 1
                        at = arrival(receiver, sent[name], t0 + 30)
                        if at is None:
                            problems.append(f"{name}: event {sent[name]} never reached fast")
                            break
                        round_ms.append((at - t0) * 1000)
                    latencies[name].append(round_ms)
                    common.log(f"forwarding {backend} throttle {name:6} round {r + 1}: fast's "
                              f"delivery p50 {percentile(round_ms, 0.5):.1f} p99 "
                              f"{percentile(round_ms, 0.99):.1f} ms over {len(round_ms)} events")
            elapsed = time.monotonic() - t_start
            slow_got = received(receivers["slow"])
            fast_got = {name: received(receivers[name]) for name in ("alone", "beside")}
        finally:
            for ticker in tickers.values():
                ticker.stop()
        tick_failures = {name: t.failures for name, t in tickers.items()}
    row: dict = {"backend": backend, "events": cfg["throttle_events"],
                 "rounds": cfg["throttle_rounds"], "rate": THROTTLE_RATE, "sent": sent,
                 "seconds": round(elapsed, 2), "slow": slow_got, "fast": fast_got,
                 "problems": problems, "tick_failures": tick_failures}
    for name in ("alone", "beside"):
        rounds = [x for x in latencies[name] if x]
        row[name] = {"p50_ms": statistics.median(percentile(x, 0.5) for x in rounds)
                     if rounds else 0.0,
                     "p99_ms": statistics.median(percentile(x, 0.99) for x in rounds)
                     if rounds else 0.0,
                     "per_round_p99_ms": [round(percentile(x, 0.99), 2) for x in rounds]}
    common.log(f"forwarding {backend} throttle: fast p99 {row['beside']['p99_ms']:.1f} ms beside "
              f"slow vs {row['alone']['p99_ms']:.1f} ms alone; slow got {slow_got['unique']} of "
              f"{sent['beside']} in {elapsed:.1f}s (limit {THROTTLE_RATE}/s)")
    return row


# ---------------------------------------------------------------------------------------------
# Circuit breaking: a disabled destination's backlog, from its re-enable to drained


def answer_with(receiver: common.Server, status: int) -> None:
    """Makes the receiver answer every POST with `status` (bench/src/receiver.rs, PUT /answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    try:
        conn.request("PUT", "/answer", body=str(status).encode())
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    if response.status != 204:
        common.fail(f"the destination's PUT /answer {status} answered {response.status}")


def until(what: str, ready, deadline_s: float, every: float = 0.05):
    """Polls `ready()` until it returns something truthy (returned) or the deadline passes
    (None; the caller says what is missing)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        got = ready()
        if got:
            return got
        time.sleep(every)
    common.log(f"forwarding circuit: {what}: not within {deadline_s:g}s")
    return None


class CircuitRun:
    """One store's circuit-breaking measurement (issue 25):

    prepare   `cb`: the app with a destination `"disable_after_failures": CIRCUIT_FAILURES`
              (configured as the ingest apps are, its ticker running from the start); the
              receiver answers 500, so that many deliveries disable it; then N more events are
              ingested while it is disabled.
    hold      it stays disabled: a full run for CIRCUIT_HOLD_S with nothing else running (many
              rounds, none of which may send it anything), a smoke run for 2 ticks.
    enable    the receiver answers 200 again and `POST /api/destinations/bench/enable` is
              called: the time starts.
    drained   waits until every stored event has arrived and the app counts nothing pending:
              the time ends at the last arrival (the receiver's clock).
    baseline  `cb-fresh`: the same number of events (`bench seed`) drained by the same ticker
              from its start, to the same destination, enabled and never failed.

    A full run does these one after the other (`run`); a smoke run does all but `drained` in
    a thread beside the other forwarding measurements (`start_beside`) and `drained` at the end
    (`finish`).

    The checks: disabled while held (GET /api/stats), no attempt at all while disabled (the
    receiver's failed count does not move, nothing arrives), and after the re-enable every
    event exactly once (by webhook-id), signed and unaltered, the app's counters agreeing.
    """

    def __init__(self, spin: str, workdir: Path, backend: str, cfg: dict, stamp: str):
        self.spin, self.workdir, self.backend, self.cfg = spin, workdir, backend, cfg
        self.stamp = stamp
        self.n = cfg["circuit_events"][backend]
        self.total = CIRCUIT_FAILURES + self.n
        self.servers = layout.Servers()
        self.problems: list[str] = []
        self.row: dict = {"backend": backend, "failures_to_disable": CIRCUIT_FAILURES,
                          "backlog": self.n, "tick_s": cfg["tick_s"],
                          "problems": self.problems}
        self.ticker: Ticker | None = None
        self._beside: threading.Thread | None = None
        self._beside_error: BaseException | None = None

    # -- the two ways to run it

    def run(self) -> dict:
        """prepare, hold for CIRCUIT_HOLD_S, enable, drained, baseline: one after another."""
        try:
            self.prepare()
            self.hold(CIRCUIT_HOLD_S)
            self.enable()
            self.drained()
            self.baseline()
            return self.result()
        finally:
            self.close()

    def start_beside(self) -> None:
        """prepare, hold for 2 ticks, enable and baseline in a thread; `finish` waits for it."""
        def steps() -> None:
            try:
                self.prepare()
                self.hold(2 * self.cfg["tick_s"])
                self.enable()
                self.baseline()
            except BaseException as error:  # noqa: BLE001 (finish() raises it)
                self._beside_error = error

        self._beside = threading.Thread(target=steps, daemon=True)
        self._beside.start()

    def finish(self) -> dict:
        try:
            if self._beside:
                self._beside.join()
                self._beside = None
            if self._beside_error:
                raise self._beside_error
            self.drained()
            return self.result()
        finally:
            self.close()

    # -- the steps

    def _destination(self, receiver: common.Server) -> str:
        return json.dumps([{"name": DESTINATION, "url": f"http://127.0.0.1:{receiver.port}/hooks",
                            "secret": DESTINATION_SECRET,
                            "disable_after_failures": CIRCUIT_FAILURES}])

    def _state(self) -> dict:
        return forwarded(self.app.port)

    def _ingest(self, what: str, count: int) -> None:
        for i in range(count):
            status = ingest_one(self.app.port, f"cb-{self.stamp}-{self.backend}-{what}-{i}")
            if status != 202:
                self.problems.append(f"ingest of a {what} event answered {status}")

    def prepare(self) -> None:
        b = self.backend
        self.receiver = self.servers.start(receiver_server(self.workdir, f"recv-cb-{b}"))
        answer_with(self.receiver, 500)
        self.app = app(self.spin, self.workdir, self.servers, b, "cb",
                       {"forward_destinations": self._destination(self.receiver),
                        "forward_dispatch_token": DISPATCH_TOKEN})
        self.ticker = Ticker(self.app.port, self.cfg["tick_s"])
        t0 = time.monotonic()
        self._ingest("failing", CIRCUIT_FAILURES)
        state = until("disabled after failing", lambda: self._state().get("disabled"),
                      CIRCUIT_FAILURES * 2 * self.cfg["tick_s"] + 30)
        if not state:
            self.problems.append(f"not disabled after {CIRCUIT_FAILURES} failing events: "
                                 f"{self._state()}, destination {received(self.receiver)}")
        self.row["disabled"] = state
        self.row["seconds_to_disable"] = round(time.monotonic() - t0, 2)
        time.sleep(0.5)  # an attempt that started before the disable lands by now
        self.failed_at_disable = received(self.receiver)["failed"]
        self._ingest("held", self.n)
        self.held_at, self.ticks_at_held = time.monotonic(), self.ticker.calls
        common.log(f"forwarding {b} circuit: disabled after {self.failed_at_disable} failed "
                  f"attempts ({self.row['seconds_to_disable']:.1f}s; {state}); {self.n} events "
                  "ingested while disabled")

    def hold(self, seconds: float) -> None:
        """Keeps it disabled at least `seconds` after the last held event and at least 2 ticks."""
        until("two ticks while disabled",
              lambda: self.ticker and self.ticker.calls >= self.ticks_at_held + 2,
              self.cfg["tick_s"] * 4 + 30)
        time.sleep(max(0.0, self.held_at + seconds - time.monotonic()))

    def enable(self) -> None:
        # While disabled: still disabled, and the destination got nothing more.
        got, state = received(self.receiver), self._state()
        held = {"seconds": round(time.monotonic() - self.held_at, 2),
                "ticks": self.ticker.calls - self.ticks_at_held if self.ticker else 0,
                "failed": got["failed"], "arrived": got["requests"], "counters": state}
        self.row["held"] = held
        if not state.get("disabled"):
            self.problems.append(f"no longer disabled before the re-enable: {state}")
        if got["failed"] != self.failed_at_disable or got["requests"]:
            self.problems.append(
                f"attempted while disabled: {got['failed'] - self.failed_at_disable} more failed "
                f"attempts and {got['requests']} arrivals in {held['seconds']}s "
                f"({held['ticks']} ticks)")
        answer_with(self.receiver, 200)
        self.enabled_ms = received(self.receiver)["now_ms"]
        status, body = common.api(self.app.port, "POST",
                                  f"/api/destinations/{DESTINATION}/enable")
        self.row["enable_answer"] = body
        if status != 200 or not body.get("was_disabled"):
            self.problems.append(f"POST /api/destinations/{DESTINATION}/enable answered "
                                 f"{status}: {body}")
        common.log(f"forwarding {self.backend} circuit: re-enabled after {held['seconds']:.1f}s "
                  f"disabled with the backlog in ({held['ticks']} ticks; "
                  f"{got['failed'] - self.failed_at_disable} attempts meanwhile)")

    def drained(self) -> None:
        wait = 2 * self.cfg["tick_s"] + self.cfg["drain_timeout_s"]

        def done() -> bool:
            if received(self.receiver)["unique"] < self.total:
                return False
            counters = self._state()
            return not counters.get("pending") and not counters.get("disabled")

        since_enable = (received(self.receiver)["now_ms"] - self.enabled_ms) / 1000
        until("drained after the re-enable", done, max(1.0, wait - since_enable), 0.1)
        time.sleep(0.5)  # anything sent twice would arrive about now
        ticker, self.ticker = self.ticker, None
        if ticker:
            ticker.stop()
        got = received(self.receiver)
        self.row.update({"events": stored(self.app.port), "received": got,
                         "counters": self._state(),
                         "tick_failures": ticker.failures if ticker else [],
                         "reenabled_s": round(((got["last_ms"] or self.enabled_ms)
                                               - self.enabled_ms) / 1000, 3)})

    def baseline(self) -> None:
        b, cfg = self.backend, self.cfg
        receiver = self.servers.start(receiver_server(self.workdir, f"recv-cb-fresh-{b}"))
        fresh = app(self.spin, self.workdir, self.servers, b, "cb-fresh",
                    {"forward_destinations": self._destination(receiver),
                     "forward_dispatch_url": ""}, seed=self.total)
        start_ms = received(receiver)["now_ms"]
        ticker = Ticker(fresh.port, cfg["tick_s"])
        try:
            until("the fresh destination drained",
                  lambda: received(receiver)["unique"] >= self.total,
                  cfg["tick_s"] + cfg["drain_timeout_s"], 0.1)
            time.sleep(0.5)
        finally:
            ticker.stop()
        got = received(receiver)
        self.row["fresh"] = {"received": got, "counters": forwarded(fresh.port),
                             "tick_failures": ticker.failures,
                             "seconds": round(((got["last_ms"] or start_ms) - start_ms) / 1000,
                                              3)}
        common.log(f"forwarding {b} circuit: the same {self.total:,} events to a fresh "
                  f"destination by the ticks: {self.row['fresh']['seconds']:.2f}s")

    def result(self) -> dict:
        row, got = self.row, self.row["received"]
        row["bound_s"] = row["fresh"]["seconds"]
        common.log(f"forwarding {self.backend} circuit: re-enabled -> drained "
                  f"{row['reenabled_s']:.2f}s ({got['unique']:,}/{self.total:,} arrived, "
                  f"{got['requests']:,} requests, {got['duplicates']} duplicates, "
                  f"{got['failed']} failed attempts in all); bound "
                  f"{row['bound_s']:.2f}s (the same backlog to a fresh destination); counters "
                  f"{row['counters']}")
        return row

    def close(self) -> None:
        if self._beside:
            self._beside.join()
            self._beside = None
        if self.ticker:
            self.ticker.stop()
            self.ticker = None
        self.servers.__exit__(None, None, None)
        self.servers = layout.Servers()  # nothing left to stop


# ---------------------------------------------------------------------------------------------
# The step


def measure(spin: str, workdir: Path, mode: str) -> dict:
    cfg = SMOKE if mode == "smoke" else FULL
    backends = ["sqlite"] + (["redis"] if layout.have_redis() else [])
    if "redis" not in backends:
        common.log("forwarding: redis-server/redis-cli not found, Redis skipped")
    stamp = str(int(time.time()))
    result: dict = {"config": cfg, "cells": [], "settled": {}, "drains": [], "throttle": [],
                    "circuit": []}
    t0 = time.monotonic()
    # Circuit breaking (issue 25): a smoke run re-enables its destination beside the other
    # measurements and waits for the drain at the end; a full run gives it the machine to itself,
    # after each store's others.
    circuits = [CircuitRun(spin, workdir, backend, cfg, stamp) for backend in backends
                if backend in cfg["circuit_backends"]]
    beside = circuits if cfg["circuit_beside"] else []
    try:
        for run in beside:
            run.start_beside()
        for backend in backends:
            measure_store(spin, workdir, backend, cfg, stamp, result)
            result["circuit"] += [run.run() for run in circuits
                                  if run.backend == backend and run not in beside]
        result["circuit"] += [run.finish() for run in beside]
    finally:
        for run in circuits:
            run.close()
    common.log(f"forwarding measurements: {time.monotonic() - t0:.0f}s")
    return result


def measure_store(spin: str, workdir: Path, backend: str, cfg: dict, stamp: str,
                  result: dict) -> None:
    """One store's ingest cells, drains, ordered drain and throttle cells, into `result`."""
    with layout.Servers() as servers:
        receiver = servers.start(receiver_server(workdir, f"recv-{backend}"))
        started = {
            "none": app(spin, workdir, servers, backend, "none",
                        {"forward_dispatch_token": DISPATCH_TOKEN}),
            "one": app(spin, workdir, servers, backend, "one",
                       {"forward_destinations": destinations(receiver),
                        "forward_dispatch_token": DISPATCH_TOKEN}),
        }
        status, ready = common.api(started["one"].port, "GET", "/forwarder/readyz")
        if status != 200:
            common.fail(f"forwarding {backend}: /forwarder/readyz answered {status}: {ready}")
        common.log(f"forwarding {backend}: none on :{started['none'].port}, one on "
                  f":{started['one'].port} -> destination on :{receiver.port}; tickers "
                  f"every {cfg['tick_s']:g}s")
        tickers = {name: Ticker(server.port, cfg["tick_s"])
                   for name, server in started.items()}
        try:
            result["cells"] += ingest_cells(started, receiver, backend, cfg, stamp)
            settled = settle(started["one"].port, receiver, tickers["one"], cfg)
        finally:
            for ticker in tickers.values():
                ticker.stop()
        settled["none_tick_failures"] = tickers["none"].failures
        result["settled"][backend] = settled
        got = settled["received"]
        common.log(f"forwarding {backend}: {settled['events']:,} events stored by `one`, "
                  f"{got['unique']:,} arrived ({got['requests']:,} requests, "
                  f"{got['duplicates']} duplicates, {got['bad_signature']} bad signatures, "
                  f"{got['body_mismatch']} wrong bodies) {settled['seconds']:.1f}s after the "
                  f"last cell; counters {settled['counters']}")
    for callers in cfg["drain_callers"]:
        result["drains"].append(drain(spin, workdir, backend, callers, cfg))
    if backend in cfg["ordered_backends"]:
        result["drains"].append(drain(spin, workdir, backend, cfg["ordered_callers"], cfg,
                                      ordered=True))
    if backend in cfg["throttle_backends"]:
        result["throttle"].append(throttle_cells(spin, workdir, backend, cfg, stamp))


# ---------------------------------------------------------------------------------------------
# Checks, targets, report


def failures(results: dict) -> list[str]:
    """What says the mechanism is broken (smoke and full alike): events lost, sent twice,
    badly signed or altered, or counted wrong."""
    fwd = results.get("forwarding")
    if not fwd:
        return []
    bad = []
    for backend, s in fwd["settled"].items():
        got, counters, events = s["received"], s["counters"], s["events"]
        where = f"forwarding {backend}"
        if got["unique"] != events:
            bad.append(f"{where}: {events} events stored, {got['unique']} arrived at the "
                       f"destination within {s['seconds']}s")
        if got["requests"] != got["unique"]:
            bad.append(f"{where}: {got['duplicates']} events arrived more than once "
                       f"(attempt numbers: {dict(got.get('duplicated', []))})")
        if got["bad_signature"] or got["body_mismatch"]:
            bad.append(f"{where}: {got['bad_signature']} bad signatures, "
                       f"{got['body_mismatch']} bodies not their delivery's")
        if counters.get("delivered") != events or counters.get("pending") or counters.get("dead"):
            bad.append(f"{where}: the app counts {counters} for {events} events")
        for which, failed in (("one", s["tick_failures"]), ("none", s["none_tick_failures"])):
            if failed:
                bad.append(f"{where}: {len(failed)} dispatch ticks of `{which}` failed: "
                           f"{failed[:3]}")
    for t in fwd.get("throttle", []):
        where = f"forwarding {t['backend']} throttle"
        bad += [f"{where}: {p}" for p in t["problems"]]
        for name, got in t["fast"].items():
            if got["unique"] != t["sent"][name] or got["requests"] != got["unique"]:
                bad.append(f"{where}: {name}'s fast got {got['unique']} distinct events in "
                           f"{got['requests']} requests for {t['sent'][name]} sent")
            if got["bad_signature"] or got["body_mismatch"]:
                bad.append(f"{where}: {name}'s fast: {got['bad_signature']} bad signatures, "
                           f"{got['body_mismatch']} wrong bodies")
        slow, allowed = t["slow"], t["rate"] * (t["seconds"] + 2)
        if slow["unique"] > allowed or slow["requests"] != slow["unique"]:
            bad.append(f"{where}: slow got {slow['unique']} distinct events in "
                       f"{slow['requests']} requests in {t['seconds']}s at a limit of "
                       f"{t['rate']}/s")
        if not slow["unique"]:
            bad.append(f"{where}: slow got nothing in {t['seconds']}s")
        for name, failed in t["tick_failures"].items():
            if failed:
                bad.append(f"{where}: {len(failed)} dispatch ticks of `{name}` failed: "
                           f"{failed[:3]}")
    for c in fwd.get("circuit", []):
        got, counters, where = c["received"], c["counters"], f"forwarding {c['backend']} circuit"
        total = c["failures_to_disable"] + c["backlog"]
        bad += [f"{where}: {p}" for p in c["problems"]]
        if c["events"] != total:
            bad.append(f"{where}: the app holds {c['events']} events, {total} were ingested")
        if got["unique"] != total or got["requests"] != got["unique"]:
            bad.append(f"{where}: after the re-enable {got['unique']} distinct events arrived in "
                       f"{got['requests']} requests for {total} stored (by webhook-id; "
                       f"duplicated: {dict(got.get('duplicated', []))})")
        if got["bad_signature"] or got["body_mismatch"]:
            bad.append(f"{where}: {got['bad_signature']} bad signatures, "
                       f"{got['body_mismatch']} wrong bodies")
        if (counters.get("delivered") != total or counters.get("pending")
                or counters.get("dead") or counters.get("disabled")):
            bad.append(f"{where}: the app counts {counters} for {total} events")
        fresh = c["fresh"]
        if fresh["received"]["unique"] != total or fresh["received"]["requests"] != total:
            bad.append(f"{where}: the fresh destination (baseline) got "
                       f"{fresh['received']['unique']} distinct events in "
                       f"{fresh['received']['requests']} requests for {total} stored")
        for name, failed in (("cb", c["tick_failures"]), ("fresh", fresh["tick_failures"])):
            if failed:
                bad.append(f"{where}: {len(failed)} dispatch ticks of `{name}` failed: "
                           f"{failed[:3]}")
    for d in fwd["drains"]:
        got, where = d["received"], (f"forwarding {d['backend']} drain x{d['callers']}"
                                     f"{' ordered' if d.get('ordered') else ''}")
        if got["unique"] != d["events"]:
            bad.append(f"{where}: {got['unique']} of {d['events']} stored events arrived")
        if got["requests"] != got["unique"]:
            bad.append(f"{where}: {got['duplicates']} events arrived more than once "
                       f"(id: attempt numbers of its arrivals: "
                       f"{dict(got.get('duplicated', []))})")
        if got["bad_signature"] or got["body_mismatch"]:
            bad.append(f"{where}: {got['bad_signature']} bad signatures, "
                       f"{got['body_mismatch']} wrong bodies")
        if d["counters"].get("delivered") != d["events"]:
            bad.append(f"{where}: the app counts {d['counters']} for {d['events']} events")
        if d["failures"]:
            bad.append(f"{where}: {len(d['failures'])} dispatch calls failed: {d['failures'][:3]}")
    return bad


def broken(results: dict) -> list[str]:
    """Cells that had errors or no answers."""
    fwd = results.get("forwarding") or {}
    return [f"forwarding {r['backend']} {r['app']} {r['mode']}" for r in fwd.get("cells", [])
            if r["errors"] or not r["requests"]]


def pair(cells: list[dict], row: dict) -> dict | None:
    return next((r for r in cells if r["app"] == "none" and r["backend"] == row["backend"]
                 and r["mode"] == row["mode"] and r["concurrency"] == row["concurrency"]
                 and r["rate"] == row["rate"]), None)


def targets(results: dict) -> list[dict]:
    fwd = results.get("forwarding")
    if not fwd:
        return []
    checks = []
    for one in [r for r in fwd["cells"] if r["app"] == "one" and r["mode"] == "open"]:
        none = pair(fwd["cells"], one)
        if not none or not none["p99_ms"]:
            continue
        r = one["p99_ms"] / none["p99_ms"]
        behind = "".join(f"; {name} fell behind the rate ({x['unsent']} unsent)"
                         for name, x in (("none", none), ("one", one)) if x["unsent"])
        checks.append({"target": f"webhook ingest p99 with one destination <= {P99_AT_MOST}x "
                                 f"none ({one['backend']}, open loop, {one['rate']:g} req/s = "
                                 f"{one['fraction']:.0%} of {one['of']}'s closed-loop max)",
                       "measured": round(r, 3), "limit": P99_AT_MOST,
                       "pass": r <= P99_AT_MOST and not one["unsent"],
                       "detail": f"{one['p99_ms']:.2f} vs {none['p99_ms']:.2f} ms{behind}",
                       "ratio": True})
    for t in fwd.get("throttle", []):
        alone, beside = t["alone"]["p99_ms"], t["beside"]["p99_ms"]
        if not alone:
            continue
        r = beside / alone
        checks.append({"target": f"an unthrottled destination's delivery p99 beside a throttled "
                                 f"one ({t['rate']}/s) <= {THROTTLE_P99_AT_MOST}x alone "
                                 f"({t['backend']})",
                       "measured": round(r, 3), "limit": THROTTLE_P99_AT_MOST,
                       "pass": r <= THROTTLE_P99_AT_MOST,
                       "detail": f"{beside:.2f} vs {alone:.2f} ms", "ratio": True})
    for c in fwd.get("circuit", []):
        if not c["bound_s"]:
            continue
        r = c["reenabled_s"] / c["bound_s"]
        total = c["failures_to_disable"] + c["backlog"]
        missing = total - c["received"]["unique"]
        checks.append({"target": f"a re-enabled destination drained <= {CIRCUIT_AT_MOST}x "
                                 f"the same backlog's drain to a fresh destination "
                                 f"({c['backend']}, "
                                 f"{c['failures_to_disable'] + c['backlog']} events held)",
                       "measured": round(r, 3), "limit": CIRCUIT_AT_MOST,
                       "pass": r <= CIRCUIT_AT_MOST and not c["problems"] and missing <= 0,
                       "detail": f"{c['reenabled_s']:.2f} s vs "
                                 f"{c['fresh']['seconds']:.2f} s"
                                 + (f"; {missing} of {total} never arrived" if missing > 0
                                    else ""), "ratio": True})
    for d in [d for d in fwd["drains"] if d.get("ordered")]:
        free = next((x for x in fwd["drains"] if not x.get("ordered")
                     and x["backend"] == d["backend"] and x["callers"] == d["callers"]), None)
        if not free or not free["events_per_s"]:
            continue
        r = d["events_per_s"] / free["events_per_s"]
        checks.append({"target": f"an ordered destination's throughput >= "
                                 f"{ORDERED_THROUGHPUT_AT_LEAST}x unordered ({d['backend']}, "
                                 f"a backlog drained by {d['callers']} dispatch callers)",
                       "measured": round(r, 3), "limit": ORDERED_THROUGHPUT_AT_LEAST,
                       "pass": r >= ORDERED_THROUGHPUT_AT_LEAST,
                       "detail": f"{d['events_per_s']:.1f} vs {free['events_per_s']:.1f} "
                                 "events/s", "ratio": True})
    return checks


def markdown(results: dict) -> str:
    fwd = results.get("forwarding")
    if not fwd:
        return ""
    c = fwd["config"]
    per = (f"{c['rounds']} interleaved rounds of {c['duration_ms'] / 1000:g} s per app and cell, "
           f"the median (in brackets: the rounds' range)" if c["rounds"] > 1 else
           f"{c['duration_ms'] / 1000:g} s per cell")

    def ranged(x: dict, key: str, fmt: str) -> str:
        text = format(x[key], fmt)
        values = [r[key] for r in x["per_round"] if r.get(key) is not None]
        if len(values) > 1:
            text += f" ({format(min(values), fmt)}-{format(max(values), fmt)})"
        return text

    out = ["", "### Forwarding (issue 16): one healthy destination against none, in this run", "",
           ("none = no destination; one = one destination (`bench receive` on loopback, 200 at "
           "once). Both apps: every component in one `spin up`, the first attempt asked for "
           f"after each 202, a dispatch tick every {c['tick_s']:g} s; 1 KB GitHub deliveries; "
           f"{per}. stored/s and delivered/s are over each cell's whole wall time (its warm-up and the "
           "wait for its last answers included), so they sit below the offered rate where answers "
           "queued."), "",
           "#### Webhook ingestion", "",
           ("| store | loop | c / rate | none req/s | none p50 ms | none p99 ms | one req/s | "
           "one p50 ms | one p99 ms | p99 one/none | one: stored/s | one: delivered/s |"),
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for one in [r for r in fwd["cells"] if r["app"] == "one"]:
        none = pair(fwd["cells"], one)
        if not none:
            continue
        how = (f"c={one['concurrency']}" if one["mode"] == "closed" else
               f"{one['rate']:g}/s ({one['fraction']:.0%} of {one['of']}'s max)")
        flag = "".join(f" ({x['unsent']} unsent)" for x in (none, one) if x["unsent"])
        ratio = f"{one['p99_ms'] / none['p99_ms']:.2f}x" if none["p99_ms"] else "-"
        out.append(f"| {one['backend']} | {one['mode']} | {how} | {ranged(none, 'rps', ',.0f')} | "
                   f"{none['p50_ms']:.2f} | {ranged(none, 'p99_ms', '.1f')} | "
                   f"{ranged(one, 'rps', ',.0f')} | {one['p50_ms']:.2f} | "
                   f"{ranged(one, 'p99_ms', '.1f')}{flag} | {ratio} | "
                   f"{one['stored_per_s']:.1f} | {one['delivered_per_s']:.1f} |")
    out += ["", "#### Every event arrived", "",
            ("| store | events stored (one) | arrived | requests | duplicates | bad signatures | "
            "wrong bodies | app's counters (delivered / pending / dead) | last arrival after the "
            "last cell |"), "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for backend, s in fwd["settled"].items():
        g, k = s["received"], s["counters"]
        out.append(f"| {backend} | {s['events']:,} | {g['unique']:,} | {g['requests']:,} | "
                   f"{g['duplicates']} | {g['bad_signature']} | {g['body_mismatch']} | "
                   f"{k.get('delivered')} / {k.get('pending')} / {k.get('dead')} | "
                   f"{s['seconds']:.1f} s |")
    out += ["", ("#### Draining a backlog with dispatch ticks alone (no ask after ingest; "
            "`POST /api/dispatch` back to back)"), "",
            ("| store | callers | events | delivered | seconds | events/s | dispatch calls | "
            "call p50 ms | call max ms | duplicates |"),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for d in fwd["drains"]:
        g = d["received"]
        how = f"{d['callers']}{' (ordered)' if d.get('ordered') else ''}"
        out.append(f"| {d['backend']} | {how} | {d['events']:,} | {g['unique']:,} | "
                   f"{d['seconds']:.2f} | {d['events_per_s']:,.1f} | {d['calls']} | "
                   f"{d['call_p50_ms']:.0f} | {d['call_max_ms']:.0f} | {g['duplicates']} |")
    if fwd.get("circuit"):
        out += ["", ("#### A disabled destination re-enabled (issue 25): from "
                "`POST /api/destinations/{name}/enable` to the last held event's arrival, against "
                "the same backlog drained to a fresh destination by the same ticker"), "",
                ("| store | events held (failing + while disabled) | failed attempts | held "
                 "disabled, s (ticks) | re-enable -> drained s | fresh destination s | bound s | "
                 "ratio | arrived / requests |"),
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for x in fwd["circuit"]:
            g, held = x["received"], x.get("held", {})
            out.append(f"| {x['backend']} | {x['failures_to_disable']} + {x['backlog']} | "
                       f"{g['failed']} | {held.get('seconds', 0):.1f} ({held.get('ticks', 0)}) | "
                       f"{x['reenabled_s']:.2f} | {x['fresh']['seconds']:.2f} | "
                       f"{x['bound_s']:.2f} | {x['reenabled_s'] / x['bound_s']:.2f}x | "
                       f"{g['unique']:,} / {g['requests']:,} |")
    if fwd.get("throttle"):
        out += ["", ("#### A throttled destination beside an unthrottled one (issue 25): the "
                "unthrottled one's delivery latency, send to arrival, events one after another "
                "(median of the rounds)"), "",
                ("| store | events x rounds | slow's limit | fast alone p50 / p99 ms | fast beside "
                 "slow p50 / p99 ms | p99 beside/alone | slow got (in s) |"),
                "|---|---:|---:|---:|---:|---:|---:|"]
        for t in fwd["throttle"]:
            a, b = t["alone"], t["beside"]
            ratio = f"{b['p99_ms'] / a['p99_ms']:.2f}x" if a["p99_ms"] else "-"
            out.append(f"| {t['backend']} | {t['events']} x {t['rounds']} | {t['rate']}/s | "
                       f"{a['p50_ms']:.1f} / {a['p99_ms']:.1f} | {b['p50_ms']:.1f} / "
                       f"{b['p99_ms']:.1f} | {ratio} | {t['slow']['unique']} "
                       f"({t['seconds']:.0f}) |")
    return "\n".join(out) + "\n"
