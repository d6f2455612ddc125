"""The capacity rule: limits sized from measured per-pod figures (deploy/capacity.yaml)."""

from __future__ import annotations

from decimal import Decimal

from inbox_tools.deploy_check.findings import Finding, error
from inbox_tools.deploy_check.quantity import QuantityError, parse_quantity
from inbox_tools.deploy_check.rules.base import Context, artifacts_of, min_replicas, rule
from inbox_tools.manifests import Obj

# --- capacity: limits sized from measured figures -------------------------------------------

# The annotation that declares how many requests one pod is designed to hold at once, where no
# autoscaler says it (an HTTPScaledObject's concurrency target does).
MAX_IN_FLIGHT = "webhook-inbox.dev/max-in-flight"
# A woken pod must be Ready well inside a sender's timeout (GitHub: 10 s for the whole delivery).
WAKE_READY_BUDGET_S = 3
MIB = Decimal(2**20)


def _design_concurrency(ctx: Context, app: Obj) -> tuple[int | None, str]:
    for scaler, ref in ctx.autoscalers():
        if scaler.kind == "HTTPScaledObject" and scaler.namespace == app.namespace and ref.get("name") == app.name:
            target = ((scaler.spec.get("scalingMetric") or {}).get("concurrency") or {}).get("targetValue")
            if isinstance(target, int):
                return target, f"HTTPScaledObject {scaler.name} concurrency target"
    declared = (app.doc.get("metadata") or {}).get("annotations", {}).get(MAX_IN_FLIGHT)
    if declared is not None and str(declared).isdigit():
        return int(declared), f"annotation {MAX_IN_FLIGHT}"
    return None, ""


@rule("capacity")
def check_capacity(ctx: Context) -> list[Finding]:
    """Memory limits hold the concurrency a pod may reach, from measured per-pod figures.

    With the figures of deploy/capacity.yaml (inbox_tools.bench.shim, under the containerd shim) for the
    SpinApp's component: idle + concurrency x memory per in-flight request x (1 + margin) must
    fit resources.limits.memory, the request must cover idle, and one request at its
    invocationLimits.memory cap must fit beside idle. The concurrency is the HTTPScaledObject's
    target, else the SpinApp's webhook-inbox.dev/max-in-flight annotation. Probes: a pod that
    scales from zero is Ready within WAKE_READY_BUDGET_S of serving, and liveness cannot kill a
    first start (the image's first run, which precompiles). A component the SpinApp's artifact
    carries (the ticker, retained beside the forwarder) adds its own measured idle_mib.
    """
    findings: list[Finding] = []
    if not ctx.capacity:
        return findings
    figures = ctx.capacity.get("components") or {}
    margin = Decimal(str(ctx.capacity.get("margin", 0.5)))
    for app in ctx.spinapps:
        components = [str(c) for c in app.spec.get("components") or []]
        artifacts = artifacts_of(ctx, components)
        if len(artifacts) != 1:
            continue  # the image rule reports it
        measured = figures.get(artifacts[0])
        if not isinstance(measured, dict):
            findings.append(
                error("capacity", app.ref, f"deploy/capacity.yaml has no figures for component {artifacts[0]}")
            )
            continue
        idle = Decimal(str(measured["idle_mib"]))
        # A component the artifact carries (the ticker) runs in the same pods: its own idle cost.
        for carried in (c for c in components if c not in artifacts):
            extra = figures.get(carried)
            if not isinstance(extra, dict) or "idle_mib" not in extra:
                findings.append(
                    error(
                        "capacity",
                        app.ref,
                        f"deploy/capacity.yaml has no idle_mib for component {carried}, which its pods also run",
                    )
                )
                continue
            idle += Decimal(str(extra["idle_mib"]))
        per = Decimal(str(measured["per_in_flight_mib"]))
        resources = app.spec.get("resources") or {}
        try:
            limit = parse_quantity((resources.get("limits") or {}).get("memory", "0")) / MIB
            request = parse_quantity((resources.get("requests") or {}).get("memory", "0")) / MIB
            invocation = parse_quantity((app.spec.get("invocationLimits") or {}).get("memory", "0")) / MIB
        except QuantityError:
            continue  # the resources rule reports it
        concurrency, source = _design_concurrency(ctx, app)
        if concurrency is None:
            findings.append(
                error(
                    "capacity",
                    app.ref,
                    f"no design concurrency: no HTTPScaledObject concurrency target and no {MAX_IN_FLIGHT} annotation",
                )
            )
        else:
            need = idle + concurrency * per * (1 + margin)
            if need > limit:
                findings.append(
                    error(
                        "capacity",
                        app.ref,
                        f"{concurrency} in-flight requests ({source}) need {need:.0f} MiB "
                        f"({idle} idle + {concurrency} x {per} MiB x {1 + margin} margin), above the "
                        f"{limit:.0f} MiB memory limit: raise the limit or lower the concurrency",
                    )
                )
        if request < idle:
            findings.append(
                error("capacity", app.ref, f"memory request {request:.0f} MiB is below the measured idle {idle} MiB")
            )
        if invocation and idle + invocation > limit:
            findings.append(
                error(
                    "capacity",
                    app.ref,
                    f"one request at invocationLimits.memory ({invocation:.0f} MiB) beside idle {idle} MiB "
                    f"exceeds the {limit:.0f} MiB limit",
                )
            )
        checks = app.spec.get("checks") or {}
        first_start_s = Decimal(str(measured.get("first_start_ms", 0))) / 1000
        live = checks.get("liveness") or {}
        if isinstance(live.get("initialDelaySeconds"), int):
            grace = live["initialDelaySeconds"] + (live.get("failureThreshold", 3) - 1) * live.get("periodSeconds", 10)
            if grace < 2 * first_start_s:
                findings.append(
                    error(
                        "capacity",
                        app.ref,
                        f"liveness may restart a pod {grace} s after start, under twice the measured first start "
                        f"({first_start_s} s)",
                    )
                )
        ready = checks.get("readiness") or {}
        if min_replicas(ctx, app) == 0 and isinstance(ready.get("initialDelaySeconds"), int):
            wake = ready["initialDelaySeconds"] + ready.get("periodSeconds", 10)
            if wake > WAKE_READY_BUDGET_S:
                findings.append(
                    error(
                        "capacity",
                        app.ref,
                        f"scales from zero but readiness may take {wake} s (initialDelaySeconds + periodSeconds) "
                        f"after the pod serves; keep it within {WAKE_READY_BUDGET_S} s (senders time out at 10 s)",
                    )
                )
    return findings
