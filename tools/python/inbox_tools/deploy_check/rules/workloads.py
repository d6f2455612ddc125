"""Rules on the workloads: namespaces and apply order, SpinApps and executors, replicas and
autoscalers."""

from __future__ import annotations

from collections import Counter

from inbox_tools.deploy_check.findings import Finding, error
from inbox_tools.deploy_check.rules.base import (
    DNS_1035_LABEL,
    OPERATOR_SERVICE_PORT,
    Context,
    creates_deployment,
    executor_of,
    rule,
)
from inbox_tools.manifests import Obj

# --- namespaces and apply order ------------------------------------------------------------


@rule("namespace")
def check_namespace(ctx: Context) -> list[Finding]:
    """Every namespaced object is in one namespace, which the overlay itself creates."""
    findings = []
    namespaces = {o.namespace for o in ctx.objects if o.namespaced}
    for o in ctx.objects:
        if o.namespaced and not o.namespace:
            findings.append(error("namespace", o.ref, "has no metadata.namespace (set `namespace:` in the overlay)"))
    named = sorted(ns for ns in namespaces if ns)
    if len(named) > 1:
        findings.append(error("namespace", "overlay", f"objects span several namespaces: {', '.join(named)}"))
    created = {o.name for o in ctx.of_kind("Namespace")}
    for ns in named:
        if ns not in created:
            findings.append(error("namespace", f"Namespace {ns}", "is used but not created by the overlay"))
    return findings


@rule("apply-order")
def check_apply_order(ctx: Context) -> list[Finding]:
    """`kubectl apply -k` creates objects in output order; dependencies must come first.

    The operator's admission webhook rejects a SpinApp whose executor does not exist yet, and
    namespaced objects need their Namespace.
    """
    findings = []
    ns_index = {o.name: o.index for o in ctx.of_kind("Namespace")}
    for o in ctx.objects:
        if o.namespaced and o.namespace in ns_index and ns_index[o.namespace] > o.index:
            findings.append(error("apply-order", o.ref, f"comes before its Namespace {o.namespace} in the output"))
    for app in ctx.spinapps:
        executor = executor_of(ctx, app)
        if executor is not None and executor.index > app.index:
            findings.append(
                error(
                    "apply-order",
                    app.ref,
                    f"comes before SpinAppExecutor {executor.name}: the first `kubectl apply -k` would be "
                    "rejected by the operator's webhook (fix the overlay's sortOptions)",
                )
            )
    return findings


# --- SpinApp and executor -------------------------------------------------------------------


@rule("spinapp-name")
def check_spinapp_name(ctx: Context) -> list[Finding]:
    """The operator names a Service and a Deployment after the SpinApp and labels pods with it."""
    findings = []
    for app in ctx.spinapps:
        if not DNS_1035_LABEL.match(app.name) or len(app.name) > 63:
            findings.append(
                error("spinapp-name", app.ref, "must be a DNS-1035 label (the operator creates a Service of that name)")
            )
        # Pod label key core.spinkube.dev/app.<name>.status: its name part is limited to 63 chars.
        elif len(f"app.{app.name}.status") > 63:
            findings.append(
                error(
                    "spinapp-name",
                    app.ref,
                    f"is {len(app.name)} characters; the operator's pod label app.<name>.status allows at most 52",
                )
            )
    return findings


@rule("executor")
def check_executor(ctx: Context) -> list[Finding]:
    """spec.executor names a SpinAppExecutor in the SpinApp's namespace; executors are usable."""
    findings = []
    for app in ctx.spinapps:
        name = app.spec.get("executor")
        if not name:
            findings.append(
                error("executor", app.ref, "spec.executor is not set (the operator would pick any executor, or none)")
            )
        elif executor_of(ctx, app) is None:
            findings.append(
                error("executor", app.ref, f"executor {name!r} is not a SpinAppExecutor in namespace {app.namespace}")
            )
    for executor in ctx.executors:
        config = executor.spec.get("deploymentConfig")
        if executor.spec.get("createDeployment") is True and not isinstance(config, dict):
            findings.append(error("executor", executor.ref, "createDeployment: true needs spec.deploymentConfig"))
            continue
        if isinstance(config, dict):
            has_rc, has_image = bool(config.get("runtimeClassName")), bool(config.get("spinImage"))
            if has_rc == has_image:
                findings.append(
                    error(
                        "executor",
                        executor.ref,
                        "deploymentConfig needs exactly one of runtimeClassName and spinImage",
                    )
                )
    return findings


@rule("replicas")
def check_replicas(ctx: Context) -> list[Finding]:
    """replicas >= 1, or enableAutoscaling with replicas unset (operator webhook rule)."""
    findings = []
    for app in ctx.spinapps:
        autoscaling = app.spec.get("enableAutoscaling") is True
        replicas = app.spec.get("replicas")
        if autoscaling and "replicas" in app.spec:
            findings.append(
                error("replicas", app.ref, "spec.replicas must be unset when enableAutoscaling is true")
            )
        elif not autoscaling and (not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1):
            findings.append(
                error(
                    "replicas",
                    app.ref,
                    f"spec.replicas must be >= 1 without enableAutoscaling (got {replicas!r}; the CRD has no default)",
                )
            )
    return findings


@rule("autoscaler-target")
def check_autoscaler_targets(ctx: Context) -> list[Finding]:
    """HPA/KEDA objects must target the apps/v1 Deployment the operator names after a SpinApp."""
    findings = []
    targets: Counter[tuple[str | None, str]] = Counter()
    for scaler, ref in ctx.autoscalers():
        if scaler.kind == "HorizontalPodAutoscaler":
            # The HPA API requires kind; apiVersion must say which group's Deployment.
            kind, api_version = ref.get("kind", ""), ref.get("apiVersion", "")
        else:
            # KEDA defaults an omitted kind/apiVersion to an apps/v1 Deployment.
            kind, api_version = ref.get("kind", "Deployment"), ref.get("apiVersion", "apps/v1")
        name = ref.get("name")
        if kind != "Deployment" or api_version != "apps/v1":
            findings.append(
                error(
                    "autoscaler-target",
                    scaler.ref,
                    f"scaleTargetRef must be apps/v1 Deployment (got {api_version or '?'} {kind or '?'}): "
                    "SpinApp has no scale subresource, the operator's Deployment does",
                )
            )
            continue
        app = ctx.spinapp(scaler.namespace, name) if isinstance(name, str) else None
        if app is None:
            findings.append(
                error(
                    "autoscaler-target",
                    scaler.ref,
                    f"targets Deployment {name!r}, which is not named after a SpinApp in {scaler.namespace}",
                )
            )
            continue
        targets[(scaler.namespace, app.name)] += 1
        if not creates_deployment(executor_of(ctx, app)):
            findings.append(
                error("autoscaler-target", scaler.ref, f"SpinApp {app.name}'s executor does not create a Deployment")
            )
        if app.spec.get("enableAutoscaling") is not True:
            findings.append(
                error(
                    "autoscaler-target",
                    scaler.ref,
                    f"SpinApp {app.name} needs enableAutoscaling: true, or the operator keeps resetting the "
                    "Deployment's replicas and fights the autoscaler",
                )
            )
        if scaler.kind == "HTTPScaledObject":
            findings.extend(_check_http_scaled_object(ctx, scaler, ref, app))
        if scaler.kind == "HorizontalPodAutoscaler":
            findings.extend(_check_hpa(scaler, app))
    for (ns, name), count in targets.items():
        if count > 1:
            findings.append(
                error("autoscaler-target", f"Deployment {ns}/{name}", f"is targeted by {count} autoscalers")
            )
    return findings


def _check_http_scaled_object(ctx: Context, scaler: Obj, ref: dict, app: Obj) -> list[Finding]:
    findings = []
    service = ref.get("service")
    if service != app.name and ctx.find("Service", scaler.namespace, str(service)) is None:
        findings.append(
            error(
                "autoscaler-target",
                scaler.ref,
                f"scaleTargetRef.service {service!r} is neither SpinApp {app.name}'s Service nor a Service in the "
                "overlay",
            )
        )
    has_port, has_port_name = "port" in ref, "portName" in ref
    if has_port == has_port_name:
        findings.append(error("autoscaler-target", scaler.ref, "scaleTargetRef needs exactly one of port and portName"))
    elif service == app.name and (has_port_name or ref.get("port") != OPERATOR_SERVICE_PORT):
        findings.append(
            error(
                "autoscaler-target",
                scaler.ref,
                f"the operator's Service {app.name} has one unnamed port, {OPERATOR_SERVICE_PORT}: use port: 80",
            )
        )
    replicas = scaler.spec.get("replicas") or {}
    low, high = replicas.get("min", 0), replicas.get("max", 100)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        findings.append(error("autoscaler-target", scaler.ref, f"replicas.min {low} > replicas.max {high}"))
    return findings


def _check_hpa(scaler: Obj, app: Obj) -> list[Finding]:
    findings = []
    low = scaler.spec.get("minReplicas", 1)
    if isinstance(low, int) and low < 1:
        findings.append(
            error("autoscaler-target", scaler.ref, "minReplicas < 1 needs the HPAScaleToZero feature gate; use KEDA")
        )
    requests = (app.spec.get("resources") or {}).get("requests") or {}
    for metric in scaler.spec.get("metrics") or []:
        resource = (metric or {}).get("resource") or {}
        target = resource.get("target") or {}
        utilization = metric.get("type") == "Resource" and target.get("type") == "Utilization"
        if utilization and resource.get("name") not in requests:
            findings.append(
                error(
                    "autoscaler-target",
                    scaler.ref,
                    f"{resource.get('name')} utilization needs SpinApp {app.name} "
                    f"resources.requests.{resource.get('name')}",
                )
            )
    return findings


@rule("autoscaling-has-scaler")
def check_autoscaling_has_scaler(ctx: Context) -> list[Finding]:
    """A SpinApp with enableAutoscaling is targeted by some HPA/ScaledObject/HTTPScaledObject."""
    findings = []
    targeted = {(s.namespace, ref.get("name")) for s, ref in ctx.autoscalers()}
    for app in ctx.spinapps:
        if app.spec.get("enableAutoscaling") is True and (app.namespace, app.name) not in targeted:
            findings.append(
                error(
                    "autoscaling-has-scaler",
                    app.ref,
                    "enableAutoscaling is true but no HPA/ScaledObject/HTTPScaledObject targets its Deployment",
                )
            )
    return findings
