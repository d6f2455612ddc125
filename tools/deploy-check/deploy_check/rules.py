"""The spin-operator's rules and this app's rules, applied to one rendered overlay.

Each rule is a function ``(ctx) -> list[Finding]`` registered in :data:`RULES` under an id that
shows in its findings. The operator behaviour each rule mirrors is spin-operator v0.6.1
(``internal/webhook/spinapp_validating.go``, ``spinappexecutor_validating.go`` and
``internal/controller``): what its admission webhooks reject, and what its controller would
build that cannot work.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from deploy_check.external_refs import ExternalRefs
from deploy_check.findings import Finding, error, warning
from deploy_check.manifests import Obj, dotted, walk
from deploy_check.quantity import QuantityError, parse_quantity
from deploy_check.spin_manifest import SpinManifest, best_route

SPIN_GROUP = "core.spinkube.dev"
# The operator's Service port and the label it puts on every pod of a SpinApp.
OPERATOR_SERVICE_PORT = 80
APP_NAME_LABEL = "core.spinkube.dev/app-name"
# Key-value store types whose data lives outside the pod (shared by replicas, survive restarts).
SHARED_KV_TYPES = frozenset({"redis", "azure_cosmos", "aws_dynamo"})
# Runtime-config options that carry credentials and must come from a Secret.
SECRET_OPTION_NAMES = frozenset({"url", "password", "key", "token", "auth_token", "connection_string"})
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DIGEST_REF = re.compile(r"@sha256:(?P<hex>[0-9a-f]{64})$")


@dataclass
class Context:
    """Everything a rule can look at."""

    objects: list[Obj]
    spin: SpinManifest
    external: ExternalRefs = field(default_factory=ExternalRefs)
    require_digest: bool = False
    forbid_placeholder_digest: bool = False
    # Measured per-pod figures (deploy/capacity.yaml): the `capacity` rule sizes against them.
    capacity: dict[str, Any] | None = None

    def of_kind(self, kind: str, group: str | None = None) -> list[Obj]:
        return [o for o in self.objects if o.kind == kind and (group is None or o.group == group)]

    @property
    def spinapps(self) -> list[Obj]:
        return self.of_kind("SpinApp", SPIN_GROUP)

    @property
    def executors(self) -> list[Obj]:
        return self.of_kind("SpinAppExecutor", SPIN_GROUP)

    def find(self, kind: str, namespace: str | None, name: str, group: str | None = None) -> Obj | None:
        for o in self.objects:
            if o.kind == kind and o.name == name and o.namespace == namespace and (group is None or o.group == group):
                return o
        return None

    def spinapp(self, namespace: str | None, name: str) -> Obj | None:
        return self.find("SpinApp", namespace, name, SPIN_GROUP)

    def retained(self, app: Obj) -> set[str]:
        components = app.spec.get("components")
        return self.spin.retained(components if isinstance(components, list) else None)

    def autoscalers(self) -> list[tuple[Obj, dict[str, Any]]]:
        """(autoscaler, scaleTargetRef) for every HPA, KEDA ScaledObject and HTTPScaledObject."""
        found = []
        for o in self.objects:
            is_hpa = o.kind == "HorizontalPodAutoscaler" and o.group == "autoscaling"
            is_keda = (o.kind, o.group) in {("ScaledObject", "keda.sh"), ("HTTPScaledObject", "http.keda.sh")}
            if is_hpa or is_keda:
                ref = o.spec.get("scaleTargetRef")
                found.append((o, ref if isinstance(ref, dict) else {}))
        return found


Rule = Callable[[Context], list[Finding]]
RULES: dict[str, Rule] = {}


def rule(rule_id: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[rule_id] = fn
        fn.rule_id = rule_id  # type: ignore[attr-defined]
        return fn

    return register


def run_rules(ctx: Context, only: set[str] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for rule_id, fn in RULES.items():
        if only is None or rule_id in only:
            findings.extend(fn(ctx))
    return findings


def _executor_of(ctx: Context, app: Obj) -> Obj | None:
    name = app.spec.get("executor")
    return ctx.find("SpinAppExecutor", app.namespace, name, SPIN_GROUP) if isinstance(name, str) else None


def _creates_deployment(executor: Obj | None) -> bool:
    return executor is not None and executor.spec.get("createDeployment") is True


def _pod_labels(app: Obj) -> dict[str, str]:
    """The labels the operator puts on the pods of a SpinApp (podLabels + its own)."""
    labels = {str(k): str(v) for k, v in (app.spec.get("podLabels") or {}).items()}
    labels[APP_NAME_LABEL] = app.name
    labels[f"core.spinkube.dev/app.{app.name}.status"] = "ready"
    return labels


def _min_replicas(ctx: Context, app: Obj) -> int | None:
    """The smallest replica count the app can run at (None when unknown)."""
    if app.spec.get("enableAutoscaling") is not True:
        replicas = app.spec.get("replicas")
        return replicas if isinstance(replicas, int) else None
    for scaler, ref in ctx.autoscalers():
        if scaler.namespace == app.namespace and ref.get("name") == app.name:
            if scaler.kind == "HorizontalPodAutoscaler":
                return int(scaler.spec.get("minReplicas", 1))
            if scaler.kind == "HTTPScaledObject":
                return int((scaler.spec.get("replicas") or {}).get("min", 0))
            return int(scaler.spec.get("minReplicaCount", 0))
    return None


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
        executor = _executor_of(ctx, app)
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
        elif _executor_of(ctx, app) is None:
            findings.append(
                error("executor", app.ref, f"executor {name!r} is not a SpinAppExecutor in namespace {app.namespace}")
            )
    for executor in ctx.executors:
        config = executor.spec.get("deploymentConfig")
        if executor.spec.get("createDeployment") is True:
            if not isinstance(config, dict):
                findings.append(
                    error("executor", executor.ref, "createDeployment: true needs spec.deploymentConfig")
                )
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
        if not _creates_deployment(_executor_of(ctx, app)):
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
            findings.append(error("autoscaler-target", f"Deployment {ns}/{name}", f"is targeted by {count} autoscalers"))
    return findings


def _check_http_scaled_object(ctx: Context, scaler: Obj, ref: dict, app: Obj) -> list[Finding]:
    findings = []
    service = ref.get("service")
    if service != app.name and ctx.find("Service", scaler.namespace, str(service)) is None:
        findings.append(
            error(
                "autoscaler-target",
                scaler.ref,
                f"scaleTargetRef.service {service!r} is neither SpinApp {app.name}'s Service nor a Service in the overlay",
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
        if metric.get("type") == "Resource" and target.get("type") == "Utilization":
            if resource.get("name") not in requests:
                findings.append(
                    error(
                        "autoscaler-target",
                        scaler.ref,
                        f"{resource.get('name')} utilization needs SpinApp {app.name} resources.requests.{resource.get('name')}",
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


# --- spin.toml: components, probes, variables, key-value stores -------------------------------


@rule("components")
def check_components(ctx: Context) -> list[Finding]:
    """Every components: entry exists in spin.toml, and the retained set serves HTTP."""
    findings = []
    for app in ctx.spinapps:
        components = app.spec.get("components")
        if components is None:
            continue
        for name, count in Counter(components).items():
            if name not in ctx.spin.components:
                known = ", ".join(sorted(ctx.spin.components))
                findings.append(error("components", app.ref, f"component {name!r} is not in spin.toml ({known})"))
            if count > 1:
                findings.append(warning("components", app.ref, f"component {name!r} is listed {count} times"))
        if not any(r.component in ctx.retained(app) and not r.private for r in ctx.spin.routes):
            findings.append(error("components", app.ref, "no retained component has a public HTTP route"))
    return findings


@rule("probes")
def check_probes(ctx: Context) -> list[Finding]:
    """Both probes are set and hit a route a retained component really serves."""
    findings = []
    for app in ctx.spinapps:
        retained = ctx.retained(app)
        checks = app.spec.get("checks") or {}
        for probe in ("readiness", "liveness"):
            if isinstance(checks.get(probe), dict) and not isinstance(checks[probe].get("initialDelaySeconds"), int):
                findings.append(
                    error(
                        "probes",
                        app.ref,
                        f"checks.{probe}.initialDelaySeconds is not set: the CRD defaults it to 10 s and the operator "
                        "copies that into the pod (a pod woken from zero would not be Ready for 10 s); set a measured one",
                    )
                )
            path = ((checks.get(probe) or {}).get("httpGet") or {}).get("path")
            if not path:
                findings.append(error("probes", app.ref, f"checks.{probe}.httpGet.path is not set"))
                continue
            if not str(path).startswith("/"):
                findings.append(error("probes", app.ref, f"checks.{probe} path {path!r} must start with /"))
                continue
            route = best_route(ctx.spin.routes, str(path), retained)
            if route is None:
                findings.append(
                    error(
                        "probes",
                        app.ref,
                        f"checks.{probe} path {path} is not served by any retained component "
                        f"({', '.join(sorted(retained))}); retain the component that serves it",
                    )
                )
            elif route.is_catch_all and str(path) not in ctx.spin.components[route.component].serves:
                findings.append(
                    error(
                        "probes",
                        app.ref,
                        f"checks.{probe} path {path} is only matched by {route.component}'s catch-all route /... "
                        "(the 404 fallback), not by a health endpoint",
                    )
                )
    return findings


@rule("variables")
def check_variables(ctx: Context) -> list[Finding]:
    """Required variables supplied; secrets only via secretKeyRef; nothing a component does not read."""
    findings = []
    for app in ctx.spinapps:
        retained = ctx.retained(app)
        used: dict[str, set[str]] = defaultdict(set)
        for component_id in retained:
            for var in ctx.spin.components[component_id].app_variables:
                used[var].add(component_id)
        supplied: dict[str, dict] = {}
        for i, entry in enumerate(app.spec.get("variables") or []):
            name = (entry or {}).get("name")
            if not isinstance(name, str):
                findings.append(error("variables", app.ref, f"spec.variables[{i}] has no name"))
                continue
            if name in supplied:
                findings.append(error("variables", app.ref, f"variable {name} is supplied twice"))
            supplied[name] = entry
        for name, entry in supplied.items():
            declared = ctx.spin.variables.get(name)
            if declared is None:
                findings.append(
                    error("variables", app.ref, f"variable {name} is not declared in spin.toml [variables]")
                )
                continue
            if name not in used:
                findings.append(
                    error(
                        "variables",
                        app.ref,
                        f"variable {name} is supplied but no retained component ({', '.join(sorted(retained))}) "
                        "reads it: least privilege, drop it",
                    )
                )
            has_value, value_from = "value" in entry, entry.get("valueFrom")
            if has_value == (value_from is not None):
                findings.append(error("variables", app.ref, f"variable {name} needs exactly one of value and valueFrom"))
            if declared.secret:
                secret_ref = (value_from or {}).get("secretKeyRef") if isinstance(value_from, dict) else None
                if has_value or not isinstance(secret_ref, dict):
                    findings.append(
                        error(
                            "variables",
                            app.ref,
                            f"variable {name} is secret in spin.toml: it must come from valueFrom.secretKeyRef, "
                            "never a plain value or a ConfigMap",
                        )
                    )
        for name, components in sorted(used.items()):
            declared = ctx.spin.variables[name]
            if name in supplied:
                continue
            users = ", ".join(sorted(components))
            if declared.required or not declared.has_default:
                findings.append(
                    error("variables", app.ref, f"variable {name} (required, used by {users}) is not supplied")
                )
            elif declared.secret:
                # Defaults of secrets are empty: the feature would fail closed in the cluster.
                findings.append(
                    error(
                        "variables",
                        app.ref,
                        f"secret variable {name} (used by {users}) is not supplied; its spin.toml default is a "
                        "placeholder and the feature would stay disabled",
                    )
                )
    return findings


@rule("kv-stores")
def check_kv_stores(ctx: Context) -> list[Finding]:
    """Key-value stores used by retained components are shared (not pod-local) and credentialed via Secrets."""
    findings = []
    for app in ctx.spinapps:
        runtime = app.spec.get("runtimeConfig") or {}
        used = sorted({s for c in ctx.retained(app) for s in ctx.spin.components[c].key_value_stores})
        if runtime.get("loadFromSecret"):
            if used:
                findings.append(
                    warning("kv-stores", app.ref, "runtimeConfig.loadFromSecret: cannot verify the key-value stores")
                )
            continue
        configured: dict[str, dict] = {}
        for store in runtime.get("keyValueStores") or []:
            name = (store or {}).get("name")
            if name in configured:
                findings.append(error("kv-stores", app.ref, f"key-value store {name} is configured twice"))
            configured[str(name)] = store or {}
        for name in used:
            store = configured.get(name)
            if store is None:
                findings.append(
                    error(
                        "kv-stores",
                        app.ref,
                        f"key-value store {name!r} is not in runtimeConfig.keyValueStores: each pod would get its own "
                        "local SQLite file (not shared by replicas, lost on restart)",
                    )
                )
                continue
            if store.get("type") not in SHARED_KV_TYPES:
                findings.append(
                    error(
                        "kv-stores",
                        app.ref,
                        f"key-value store {name!r} has type {store.get('type')!r}; use a shared backend "
                        f"({', '.join(sorted(SHARED_KV_TYPES))})",
                    )
                )
            for option in store.get("options") or []:
                option_name = (option or {}).get("name")
                if option_name in SECRET_OPTION_NAMES and "value" in (option or {}):
                    findings.append(
                        error(
                            "kv-stores",
                            app.ref,
                            f"key-value store {name!r} option {option_name} carries credentials: use "
                            "valueFrom.secretKeyRef, not a plain value",
                        )
                    )
        for name in sorted(set(configured) - set(used)):
            findings.append(warning("kv-stores", app.ref, f"key-value store {name!r} is configured but unused"))
    return findings


@rule("resources")
def check_resources(ctx: Context) -> list[Finding]:
    """resources and invocationLimits.memory are set and consistent (operator webhook rule)."""
    findings = []
    for app in ctx.spinapps:
        resources = app.spec.get("resources") or {}
        parsed: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
        for section in ("requests", "limits"):
            for res in ("cpu", "memory"):
                value = (resources.get(section) or {}).get(res)
                if value is None:
                    findings.append(error("resources", app.ref, f"resources.{section}.{res} is not set"))
                    continue
                try:
                    parsed[section][res] = parse_quantity(value)
                except QuantityError as e:
                    findings.append(error("resources", app.ref, f"resources.{section}.{res}: {e}"))
        for res in ("cpu", "memory"):
            req, lim = parsed["requests"].get(res), parsed["limits"].get(res)
            if req is not None and lim is not None and req > lim:
                findings.append(error("resources", app.ref, f"resources.requests.{res} exceeds the limit"))
        limit = (app.spec.get("invocationLimits") or {}).get("memory")
        if limit is None:
            findings.append(error("resources", app.ref, "invocationLimits.memory is not set"))
            continue
        try:
            invocation = parse_quantity(limit)
        except QuantityError:
            findings.append(error("resources", app.ref, f"invocationLimits.memory {limit!r} is not a quantity"))
            continue
        cap = parsed["limits"].get("memory", parsed["requests"].get("memory"))
        if cap is not None and invocation > cap:
            findings.append(
                error(
                    "resources",
                    app.ref,
                    f"invocationLimits.memory {limit} exceeds the pod's memory limit (the operator rejects it)",
                )
            )
    return findings


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

    With the figures of deploy/capacity.yaml (bench/shim.py, under the containerd shim) for the
    SpinApp's component: idle + concurrency x memory per in-flight request x (1 + margin) must
    fit resources.limits.memory, the request must cover idle, and one request at its
    invocationLimits.memory cap must fit beside idle. The concurrency is the HTTPScaledObject's
    target, else the SpinApp's webhook-inbox.dev/max-in-flight annotation. Probes: a pod that
    scales from zero is Ready within WAKE_READY_BUDGET_S of serving, and liveness cannot kill a
    first start (the image's first run, which precompiles).
    """
    findings: list[Finding] = []
    if not ctx.capacity:
        return findings
    figures = ctx.capacity.get("components") or {}
    margin = Decimal(str(ctx.capacity.get("margin", 0.5)))
    for app in ctx.spinapps:
        components = app.spec.get("components") or []
        if len(components) != 1:
            continue  # the image rule reports it
        measured = figures.get(components[0])
        if not isinstance(measured, dict):
            findings.append(error("capacity", app.ref, f"deploy/capacity.yaml has no figures for component {components[0]}"))
            continue
        idle = Decimal(str(measured["idle_mib"]))
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
        if _min_replicas(ctx, app) == 0 and isinstance(ready.get("initialDelaySeconds"), int):
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


# --- references, images, ingress, disruption budgets, network policies ----------------------


def _spinapp_refs(app: Obj) -> list[tuple[str, str, str | None, str]]:
    """(kind, name, key or None, where) for every Secret/ConfigMap a SpinApp references."""
    refs = []
    spec = app.spec
    for path, value in walk(spec, ("spec",)):
        if not isinstance(value, dict):
            continue
        for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            ref = value.get(key)
            if isinstance(ref, dict):
                refs.append((kind, str(ref.get("name", "")), ref.get("key"), dotted(path + (key,))))
    runtime = spec.get("runtimeConfig") or {}
    if runtime.get("loadFromSecret"):
        refs.append(("Secret", str(runtime["loadFromSecret"]), "runtime-config.toml", "spec.runtimeConfig.loadFromSecret"))
    for i, secret in enumerate(spec.get("imagePullSecrets") or []):
        refs.append(("Secret", str((secret or {}).get("name", "")), None, f"spec.imagePullSecrets[{i}]"))
    refs.extend(_volume_refs(spec.get("volumes") or [], "spec.volumes"))
    return refs


def _volume_refs(volumes: list, where: str) -> list[tuple[str, str, str | None, str]]:
    refs = []
    for i, volume in enumerate(volumes):
        volume = volume or {}
        if isinstance(volume.get("secret"), dict):
            refs.append(("Secret", str(volume["secret"].get("secretName", "")), None, f"{where}[{i}].secret"))
        if isinstance(volume.get("configMap"), dict):
            refs.append(("ConfigMap", str(volume["configMap"].get("name", "")), None, f"{where}[{i}].configMap"))
        for j, source in enumerate((volume.get("projected") or {}).get("sources") or []):
            for key, kind in (("secret", "Secret"), ("configMap", "ConfigMap")):
                if isinstance((source or {}).get(key), dict):
                    refs.append((kind, str(source[key].get("name", "")), None, f"{where}[{i}].projected.sources[{j}]"))
    return refs


def _pod_spec_refs(o: Obj) -> list[tuple[str, str, str | None, str]]:
    """References from built-in workloads' pod templates."""
    template = (o.spec.get("template") or {}).get("spec") or {}
    if o.kind == "CronJob":
        template = (((o.spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    refs = []
    containers = (template.get("containers") or []) + (template.get("initContainers") or [])
    for c in containers:
        c = c or {}
        for e in c.get("env") or []:
            vf = (e or {}).get("valueFrom") or {}
            for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if isinstance(vf.get(key), dict):
                    refs.append((kind, str(vf[key].get("name", "")), vf[key].get("key"), f"env {e.get('name')}"))
        for ef in c.get("envFrom") or []:
            for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                if isinstance((ef or {}).get(key), dict):
                    refs.append((kind, str(ef[key].get("name", "")), None, "envFrom"))
    refs.extend(_volume_refs(template.get("volumes") or [], "volumes"))
    return refs


@rule("refs")
def check_refs(ctx: Context) -> list[Finding]:
    """Every Secret/ConfigMap reference is generated by the overlay or allow-listed as external."""
    findings = []
    used_external: set[tuple[str, str]] = set()
    subjects: list[tuple[Obj, list]] = [(app, _spinapp_refs(app)) for app in ctx.spinapps]
    for executor in ctx.executors:
        ca = (executor.spec.get("deploymentConfig") or {}).get("caCertSecret")
        if ca:
            subjects.append((executor, [("Secret", str(ca), "ca-certificates.crt", "spec.deploymentConfig.caCertSecret")]))
    for o in ctx.objects:
        if o.kind in {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}:
            subjects.append((o, _pod_spec_refs(o)))
    for owner, refs in subjects:
        for kind, name, key, where in refs:
            if not name:
                findings.append(error("refs", owner.ref, f"{where}: empty {kind} name"))
                continue
            target = ctx.find(kind, owner.namespace, name)
            if target is not None:
                data = {**(target.doc.get("data") or {}), **(target.doc.get("binaryData") or {}), **(target.doc.get("stringData") or {})}
                if key is not None and key not in data:
                    findings.append(
                        error("refs", owner.ref, f"{where}: {kind} {name} has no key {key!r} (keys: {', '.join(sorted(data))})")
                    )
                continue
            external = ctx.external.get(kind, name)
            if external is None:
                findings.append(
                    error(
                        "refs",
                        owner.ref,
                        f"{where}: {kind} {name} is neither generated by the overlay nor listed in the "
                        "external-refs allow-list for this overlay",
                    )
                )
                continue
            used_external.add((kind, name))
            if key is not None and key not in external.keys:
                findings.append(
                    error(
                        "refs",
                        owner.ref,
                        f"{where}: key {key!r} of external {kind} {name} is not documented in the allow-list "
                        f"(documented: {', '.join(sorted(external.keys))})",
                    )
                )
    for (kind, name), _entry in sorted(ctx.external.entries.items()):
        if (kind, name) not in used_external:
            findings.append(warning("refs", f"{kind} {name}", "is allow-listed as external but nothing references it"))
    return findings


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest


@rule("image")
def check_image(ctx: Context) -> list[Finding]:
    """Each SpinApp runs its own component's artifact, never latest/untagged; digests where required.

    scripts/push.sh pushes one artifact per component, <repository>/<component>: a SpinApp that
    retains component C runs <repository>/C, and every SpinApp of an environment takes its
    artifact from the same <repository>.
    """
    findings = []
    prefixes: dict[str, str] = {}
    for app in ctx.spinapps:
        image = str(app.spec.get("image", ""))
        repo, tag, digest = _split_image(image)
        components = app.spec.get("components")
        if not isinstance(components, list) or len(components) != 1:
            findings.append(
                error(
                    "image",
                    app.ref,
                    "must retain exactly one component (components: [<id>]): each component is its own artifact",
                )
            )
        elif not repo.endswith(f"/{components[0]}"):
            findings.append(
                error(
                    "image",
                    app.ref,
                    f"runs {image!r}, not the artifact of its component {components[0]} "
                    f"(<repository>/{components[0]})",
                )
            )
        else:
            prefixes[app.name] = repo[: -len(components[0]) - 1]
        if tag is None and digest is None:
            findings.append(error("image", app.ref, f"image {image!r} has neither tag nor digest (means :latest)"))
        if tag == "latest":
            findings.append(error("image", app.ref, f"image {image!r} uses the mutable tag latest"))
        if ctx.require_digest:
            match = DIGEST_REF.search(image)
            if match is None:
                findings.append(error("image", app.ref, f"image {image!r} must be pinned by digest (@sha256:<64 hex>)"))
            elif len(set(match.group("hex"))) == 1:
                message = f"image digest is the repository's placeholder ({image}); CI must pin the real one"
                if ctx.forbid_placeholder_digest:
                    findings.append(error("image", app.ref, message))
                else:
                    findings.append(warning("image", app.ref, message))
    if len(set(prefixes.values())) > 1:
        listing = "; ".join(f"{name}={prefix}" for name, prefix in sorted(prefixes.items()))
        findings.append(
            error("image", "SpinApps", f"the SpinApps of an environment take their artifacts from one repository: {listing}")
        )
    return findings


@rule("ingress")
def check_ingress(ctx: Context) -> list[Finding]:
    """Backends exist, use the operator Service's port, and the SpinApp behind a path serves it."""
    findings = []
    for ingress in ctx.of_kind("Ingress", "networking.k8s.io"):
        backends: list[tuple[str | None, str | None, dict]] = []
        default = (ingress.spec.get("defaultBackend") or {}).get("service")
        if isinstance(default, dict):
            backends.append((None, None, default))
        for rule_ in ingress.spec.get("rules") or []:
            for p in ((rule_ or {}).get("http") or {}).get("paths") or []:
                backends.append((p.get("path"), p.get("pathType"), (p.get("backend") or {}).get("service") or {}))
        for path, _path_type, service in backends:
            name, port = service.get("name"), service.get("port") or {}
            app = ctx.spinapp(ingress.namespace, str(name))
            label = f"backend {name} for {path or 'default'}"
            if app is not None:
                if port.get("number") != OPERATOR_SERVICE_PORT:
                    findings.append(
                        error("ingress", ingress.ref, f"{label}: the operator's Service listens on port 80 (unnamed)")
                    )
                if path:
                    route = best_route(ctx.spin.routes, path)
                    if route is None or route.component not in ctx.retained(app):
                        serving = route.component if route else "no component"
                        findings.append(
                            error(
                                "ingress",
                                ingress.ref,
                                f"{label}: spin.toml routes {path} to {serving}, which SpinApp {app.name} does not retain",
                            )
                        )
                continue
            svc = ctx.find("Service", ingress.namespace, str(name))
            if svc is None:
                findings.append(
                    error("ingress", ingress.ref, f"{label}: neither a SpinApp's Service nor a Service in the overlay")
                )
                continue
            ports = svc.spec.get("ports") or []
            if not any(p.get("port") == port.get("number") or (p.get("name") and p.get("name") == port.get("name")) for p in ports):
                findings.append(error("ingress", ingress.ref, f"{label}: Service {name} has no port {port}"))
    return findings


def _selector_matches(selector: dict, labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@rule("pdb")
def check_pdbs(ctx: Context) -> list[Finding]:
    """PodDisruptionBudgets select SpinApp pods and cannot block node drains."""
    findings = []
    for pdb in ctx.of_kind("PodDisruptionBudget", "policy"):
        selector = pdb.spec.get("selector") or {}
        apps = [a for a in ctx.spinapps if a.namespace == pdb.namespace and _selector_matches(selector, _pod_labels(a))]
        if not apps:
            findings.append(error("pdb", pdb.ref, "its selector matches the pods of no SpinApp"))
            continue
        if pdb.spec.get("maxUnavailable") in (0, "0", "0%"):
            findings.append(error("pdb", pdb.ref, "maxUnavailable 0 blocks every node drain"))
        min_available = pdb.spec.get("minAvailable")
        for app in apps:
            low = _min_replicas(ctx, app)
            if low == 0:
                findings.append(warning("pdb", pdb.ref, f"SpinApp {app.name} scales to zero: the budget protects nothing"))
            elif isinstance(min_available, int) and low is not None and min_available >= low:
                findings.append(
                    error(
                        "pdb",
                        pdb.ref,
                        f"minAvailable {min_available} >= SpinApp {app.name}'s minimum of {low} replicas: "
                        "node drains would block forever",
                    )
                )
    return findings


@rule("network-policy")
def check_network_policies(ctx: Context) -> list[Finding]:
    """Each namespace with SpinApps has a default-deny (ingress and egress) NetworkPolicy."""
    findings = []
    for ns in sorted({a.namespace for a in ctx.spinapps if a.namespace}):
        default_deny = [
            p
            for p in ctx.of_kind("NetworkPolicy", "networking.k8s.io")
            if p.namespace == ns
            and p.spec.get("podSelector") in ({}, None)
            and {"Ingress", "Egress"} <= set(p.spec.get("policyTypes") or [])
            and not p.spec.get("ingress")
            and not p.spec.get("egress")
        ]
        if not default_deny:
            findings.append(
                error("network-policy", f"Namespace {ns}", "has no default-deny NetworkPolicy (podSelector {} , Ingress+Egress)")
            )
    return findings
