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
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from deploy_check.external_refs import ExternalRefs
from deploy_check.findings import Finding, error, warning
from deploy_check.manifests import Obj, dotted, walk
from deploy_check.quantity import QuantityError, parse_quantity
from deploy_check.spin_manifest import TEMPLATE_REF, SpinManifest, best_route

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


def _artifacts(ctx: Context, components: list) -> list[str]:
    """The retained components that are artifacts of their own: all but those spin.toml says ride
    in another's artifact (`[component.<id>.tool.webhook-inbox] with = ...`, the ticker)."""
    return [
        str(c)
        for c in components
        if str(c) not in ctx.spin.components or ctx.spin.components[str(c)].carried_with is None
    ]


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


# --- spin.toml: components, probes, variables, key-value stores -------------------------------


@rule("components")
def check_components(ctx: Context) -> list[Finding]:
    """Every components: entry exists in spin.toml, each retained one has a trigger, and the
    retained set serves HTTP.

    A component spin.toml routes nothing to is accepted only when its tool table says the cluster
    runs it on a command trigger inside another component's artifact (`[component.<id>.tool.
    webhook-inbox] trigger = "command"`, `with = <id>`: the ticker, with the forwarder) and the
    SpinApp also retains that component; anything else retained without a route would run nothing.
    """
    findings = []
    routed_anyhow = {r.component for r in ctx.spin.routes}
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
        retained = ctx.retained(app)
        for component_id in sorted(retained - routed_anyhow):
            component = ctx.spin.components[component_id]
            if component.trigger == "command" and component.carried_with is not None:
                if component.carried_with not in retained:
                    findings.append(
                        error(
                            "components",
                            app.ref,
                            f"component {component_id} runs on a command trigger inside {component.carried_with}'s "
                            f"artifact (spin.toml tool.webhook-inbox), but this SpinApp does not retain "
                            f"{component.carried_with}: retain both",
                        )
                    )
                continue
            findings.append(
                error(
                    "components",
                    app.ref,
                    f"component {component_id} has no route in spin.toml and no command trigger in its "
                    "[component.<id>.tool.webhook-inbox] table: retained, it would run nothing",
                )
            )
        if not any(r.component in retained and not r.private for r in ctx.spin.routes):
            findings.append(error("components", app.ref, "no retained component has a public HTTP route"))
    # The other way round: a component spin.toml routes to that no SpinApp runs would be missing
    # from the cluster (its routes answered by the health component's 404).
    for namespace in sorted({a.namespace or "" for a in ctx.spinapps}):
        run = set().union(*(ctx.retained(a) for a in ctx.spinapps if (a.namespace or "") == namespace))
        routed = {r.component for r in ctx.spin.routes if not r.private}
        for component_id in sorted(c for c in ctx.spin.components if c in routed and c not in run):
            findings.append(
                error(
                    "components",
                    f"Namespace {namespace}",
                    f"component {component_id} (spin.toml) is run by no SpinApp: add a SpinApp for it "
                    "(kustomize/base/spinapps.yaml)",
                )
            )
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
                        "copies that into the pod (a pod woken from zero would not be Ready for 10 s); set a measured "
                        "one",
                    )
                )
            http_get = (checks.get(probe) or {}).get("httpGet") or {}
            if isinstance(checks.get(probe), dict) and not isinstance(http_get.get("httpHeaders"), list):
                # Not a schema rule: the CRD allows leaving it out. spin-operator v0.6.1's Go type
                # has `json:"httpHeaders"` without omitempty, so its defaulting webhook re-marshals
                # the SpinApp and patches in `httpHeaders: null`, which the CRD's schema (an array,
                # not nullable) then refuses: the API server rejects the whole SpinApp. Seen on a
                # real cluster (e2e/tests/cluster.rs); an explicit list survives the round trip.
                findings.append(
                    error(
                        "probes",
                        app.ref,
                        f"checks.{probe}.httpGet.httpHeaders is not set: spin-operator v0.6.1's defaulting webhook "
                        "adds `httpHeaders: null`, which its own CRD schema then refuses; set `httpHeaders: []`",
                    )
                )
            path = http_get.get("path")
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
    """Every variable a retained component reads is supplied (secrets only via secretKeyRef), and
    nothing a component does not read: the SpinApp's variables are exactly its components' in
    spin.toml."""
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
                findings.append(
                    error("variables", app.ref, f"variable {name} needs exactly one of value and valueFrom")
                )
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
            else:
                # A default spin.toml's `spin up` is happy with can be wrong in the cluster
                # (forward_dispatch_url's http://self is the caller's own pod), and a variable left
                # out is one nobody can change without editing the manifests: every variable a
                # retained component reads comes from the settings (or a Secret), none is missing.
                findings.append(
                    error(
                        "variables",
                        app.ref,
                        f"variable {name} (used by {users}) is not supplied: spin.toml and the SpinApp disagree; "
                        f"add it (from the settings ConfigMap) rather than rely on the default {declared.default!r}",
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
        artifacts = _artifacts(ctx, components)
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
        refs.append(
            ("Secret", str(runtime["loadFromSecret"]), "runtime-config.toml", "spec.runtimeConfig.loadFromSecret")
        )
    for i, secret in enumerate(spec.get("imagePullSecrets") or []):
        refs.append(("Secret", str((secret or {}).get("name", "")), None, f"spec.imagePullSecrets[{i}]"))
    refs.extend(_volume_refs(spec.get("volumes") or [], "spec.volumes"))
    return refs


def _volume_refs(volumes: list, where: str) -> list[tuple[str, str, str | None, str]]:
    refs = []
    for i, volume in enumerate(volumes):
        volume = volume or {}
        if isinstance(volume.get("secret"), dict):
            name = str(volume["secret"].get("secretName", ""))
            items = volume["secret"].get("items") or []
            refs.append(("Secret", name, None, f"{where}[{i}].secret"))
            refs.extend(("Secret", name, (item or {}).get("key"), f"{where}[{i}].secret.items") for item in items)
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
            subjects.append(
                (executor, [("Secret", str(ca), "ca-certificates.crt", "spec.deploymentConfig.caCertSecret")])
            )
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
                data = {
                    **(target.doc.get("data") or {}),
                    **(target.doc.get("binaryData") or {}),
                    **(target.doc.get("stringData") or {}),
                }
                if key is not None and key not in data:
                    findings.append(
                        error(
                            "refs",
                            owner.ref,
                            f"{where}: {kind} {name} has no key {key!r} (keys: {', '.join(sorted(data))})",
                        )
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
    artifact from the same <repository>. A component that rides in another's artifact (spin.toml
    tool table `with`: the ticker, in the forwarder's) has none of its own: it is retained beside
    the component whose artifact carries it.
    """
    findings = []
    prefixes: dict[str, str] = {}
    for app in ctx.spinapps:
        image = str(app.spec.get("image", ""))
        repo, tag, digest = _split_image(image)
        components = app.spec.get("components")
        artifacts = _artifacts(ctx, components) if isinstance(components, list) else []
        if len(artifacts) != 1:
            findings.append(
                error(
                    "image",
                    app.ref,
                    "must retain exactly one component that is an artifact (components: [<id>], plus what "
                    "its artifact carries): each artifact is its own",
                )
            )
        elif not repo.endswith(f"/{artifacts[0]}"):
            findings.append(
                error(
                    "image",
                    app.ref,
                    f"runs {image!r}, not the artifact of its component {artifacts[0]} "
                    f"(<repository>/{artifacts[0]})",
                )
            )
        else:
            prefixes[app.name] = repo[: -len(artifacts[0]) - 1]
        if len(artifacts) == 1:
            for carried in (str(c) for c in components if str(c) not in artifacts):
                owner = ctx.spin.components[carried].carried_with
                if owner != artifacts[0]:
                    findings.append(
                        error(
                            "image",
                            app.ref,
                            f"retains {carried}, which rides in {owner}'s artifact, not in the {artifacts[0]} "
                            "artifact this SpinApp runs",
                        )
                    )
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
            error(
                "image",
                "SpinApps",
                f"the SpinApps of an environment take their artifacts from one repository: {listing}",
            )
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
                                f"{label}: spin.toml routes {path} to {serving}, which SpinApp {app.name} does not "
                                "retain",
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
            if not any(
                p.get("port") == port.get("number") or (p.get("name") and p.get("name") == port.get("name"))
                for p in ports
            ):
                findings.append(error("ingress", ingress.ref, f"{label}: Service {name} has no port {port}"))
    findings.extend(_internal_routes_findings(ctx))
    return findings


def _sample_path(route: str) -> str:
    """A request path a Spin route matches: `:name` segments filled in, a trailing `/...` dropped."""
    base = route[: -len("/...")] if route.endswith("/...") else route
    return "/" + "/".join("x1" if s.startswith(":") else s for s in base.split("/") if s)


def _ingress_backend(ingress: Obj, host: str | None, path: str) -> str | None:
    """The Service an Ingress sends `path` to: Exact before Prefix, the longest Prefix on segment
    boundaries (networking.k8s.io/v1 semantics), then the default backend."""
    best: tuple[int, int, str] | None = None
    for rule_ in ingress.spec.get("rules") or []:
        if (rule_ or {}).get("host") not in (None, host):
            continue
        for p in ((rule_ or {}).get("http") or {}).get("paths") or []:
            candidate, kind = str(p.get("path") or "/"), p.get("pathType", "Prefix")
            name = str(((p.get("backend") or {}).get("service") or {}).get("name"))
            if kind == "Exact" and path == candidate:
                rank = (1, len(candidate), name)
            elif kind != "Exact" and (
                candidate.rstrip("/") == ""
                or path == candidate.rstrip("/")
                or path.startswith(candidate.rstrip("/") + "/")
            ):
                rank = (0, len(candidate.rstrip("/")), name)
            else:
                continue
            if best is None or rank[:2] > best[:2]:
                best = rank
    if best is not None:
        return best[2]
    default = ((ingress.spec.get("defaultBackend") or {}).get("service") or {}).get("name")
    return str(default) if default else None


def _interceptor_target(ctx: Context, namespace: str | None, host: str | None, path: str) -> str | None:
    """The Service the KEDA HTTP interceptor sends `path` to: host, then the longest path prefix."""
    best: tuple[int, str] | None = None
    for hso in ctx.of_kind("HTTPScaledObject", "http.keda.sh"):
        if hso.namespace != namespace or (hso.spec.get("hosts") and host not in hso.spec["hosts"]):
            continue
        for prefix in hso.spec.get("pathPrefixes") or ["/"]:
            if path.startswith(str(prefix)) and (best is None or len(str(prefix)) > best[0]):
                best = (len(str(prefix)), str((hso.spec.get("scaleTargetRef") or {}).get("service")))
    return best[1] if best else None


def _internal_routes_findings(ctx: Context) -> list[Finding]:
    """A SpinApp's internal routes (annotation) are served by nobody an outside request reaches."""
    findings = []
    for app in ctx.spinapps:
        routes = [
            r.strip() for r in str(app.metadata.get("annotations", {}).get(INTERNAL_ROUTES, "")).split(",") if r.strip()
        ]
        for route in routes:
            served = [r for r in ctx.spin.routes if r.path == route and r.component in ctx.retained(app)]
            if not served:
                findings.append(
                    error(
                        "ingress",
                        app.ref,
                        f"{INTERNAL_ROUTES} names {route}, which no retained component routes in spin.toml",
                    )
                )
                continue
            path = _sample_path(route)
            for ingress in ctx.of_kind("Ingress", "networking.k8s.io"):
                if ingress.namespace != app.namespace:
                    continue
                hosts = [(r or {}).get("host") for r in ingress.spec.get("rules") or []] or [None]
                for host in hosts:
                    service = _ingress_backend(ingress, host, path)
                    via = ""
                    if service is not None and ctx.spinapp(ingress.namespace, service) is None:
                        # Not a SpinApp's Service: the KEDA interceptor (staging) routes on.
                        service, via = (
                            _interceptor_target(ctx, ingress.namespace, host, path),
                            " through the KEDA interceptor",
                        )
                    reached = ctx.spinapp(ingress.namespace, str(service)) if service else None
                    if reached is None:
                        continue
                    hit = best_route(ctx.spin.routes, path, ctx.retained(reached))
                    if hit is not None and hit.path == route and hit.component == served[0].component:
                        findings.append(
                            error(
                                "ingress",
                                ingress.ref,
                                f"an outside request for {path} reaches SpinApp {reached.name}{via}, which serves the "
                                f"internal route {route} ({INTERNAL_ROUTES} of {app.name}): it has no token and must "
                                "stay inside the cluster",
                            )
                        )
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
                findings.append(
                    warning("pdb", pdb.ref, f"SpinApp {app.name} scales to zero: the budget protects nothing")
                )
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
                error(
                    "network-policy",
                    f"Namespace {ns}",
                    "has no default-deny NetworkPolicy (podSelector {} , Ingress+Egress)",
                )
            )
    return findings


# --- forwarding: the forwarder's origin, its ticker, and who may talk to whom -------------------

# What the webhook and api components call on the forwarder, and what the ticker calls.
DISPATCH_EVENT_PATH = "/api/events/evt_deploy_check/dispatch"
DISPATCH_PATH = "/api/dispatch"
# Routes of a SpinApp that must not be reachable from outside the cluster (comma-separated).
INTERNAL_ROUTES = "webhook-inbox.dev/internal-routes"
# What the ticker's allowed_outbound_hosts must allow: its own pod's listener, where spin-operator
# v0.6.1 makes Spin listen (SPIN_HTTP_LISTEN_ADDR=0.0.0.0:80, internal/controller/deployment.go).
POD_LISTENER = re.compile(r"^http://(127\.0\.0\.1|localhost)(:(80|\*))?/?$")
# A SpinApp's pods listen on the port its Service forwards to.
APP_PORT = OPERATOR_SERVICE_PORT
# Ranges a broad egress rule to destinations must leave out: other pods, Services and nodes of
# the cluster (k3s: 10.42.0.0/16 and 10.43.0.0/16), private networks, the cloud metadata
# endpoint (169.254.169.254).
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
ORIGIN = re.compile(r"^http://(?P<host>[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)(:(?P<port>\d+))?/?$")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def _forwarders(ctx: Context, namespace: str | None) -> list[Obj]:
    """SpinApps that serve the forwarder's internal dispatch route (what forward_dispatch_url asks)."""
    route = best_route(ctx.spin.routes, DISPATCH_EVENT_PATH)
    if route is None:
        return []
    return [a for a in ctx.spinapps if a.namespace == namespace and route.component in ctx.retained(a)]


def _config_maps(ctx: Context, namespace: str | None) -> dict[str, dict]:
    return {o.name: o.doc.get("data") or {} for o in ctx.of_kind("ConfigMap") if o.namespace == namespace}


def _resolve(
    ctx: Context, namespace: str | None, entry: dict, env: dict[str, str] | None = None
) -> tuple[str | None, str]:
    """(value, where) of a SpinApp variable or container env entry; None when it cannot be known here.

    ConfigMap references are resolved from the rendered ConfigMaps; `$(NAME)` in a container's
    `value` from the env entries before it (what the kubelet does).
    """
    if "value" in entry:
        value = str(entry["value"])
        for name, known in (env or {}).items():
            value = value.replace(f"$({name})", known)
        return value, "value"
    ref = (entry.get("valueFrom") or {}).get("configMapKeyRef")
    if isinstance(ref, dict):
        data = _config_maps(ctx, namespace).get(str(ref.get("name")))
        where = f"ConfigMap {ref.get('name')} key {ref.get('key')}"
        if data is None or ref.get("key") not in data:
            return None, where
        return str(data[ref["key"]]), where
    return None, "a Secret or another source"


def _service_origin_of(ctx: Context, namespace: str | None, url: str) -> tuple[str | None, str]:
    """(SpinApp name, problem): the operator Service an in-cluster origin names, or why not."""
    match = ORIGIN.match(url)
    if match is None:
        return None, "is not http://<Service>[:80] (the operator's Service speaks plain HTTP on port 80)"
    if match["port"] is not None and int(match["port"]) != OPERATOR_SERVICE_PORT:
        return None, f"uses port {match['port']}; the operator's Service listens on {OPERATOR_SERVICE_PORT}"
    host = match["host"]
    parts = host.split(".")
    service = parts[0]
    suffixes = ("", f".{namespace}", f".{namespace}.svc", f".{namespace}.svc.cluster.local")
    if host[len(service):] not in suffixes:
        return None, f"names {host}, not a Service of namespace {namespace}"
    return service, ""


def _pod_sets(ctx: Context) -> list[tuple[str, str | None, dict[str, str]]]:
    """(what, namespace, pod labels) of every pod the overlay makes: SpinApps' and workloads'."""
    pods = [(app.ref, app.namespace, _pod_labels(app)) for app in ctx.spinapps]
    for o in ctx.objects:
        if o.kind in WORKLOAD_KINDS:
            labels = ((o.spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            pods.append((o.ref, o.namespace, {str(k): str(v) for k, v in labels.items()}))
    return pods


def _policies_for(ctx: Context, namespace: str | None, labels: dict[str, str], kind: str) -> list[Obj]:
    """NetworkPolicies of `kind` (Ingress or Egress) that select pods with these labels."""
    found = []
    for policy in ctx.of_kind("NetworkPolicy", "networking.k8s.io"):
        types = policy.spec.get("policyTypes") or (["Ingress", "Egress"] if policy.spec.get("egress") else ["Ingress"])
        if (
            policy.namespace == namespace
            and kind in types
            and _selector_matches(policy.spec.get("podSelector") or {}, labels)
        ):
            found.append(policy)
    return found


def _peer_matches(peer: dict, policy_ns: str | None, labels: dict[str, str], namespace: str | None) -> bool:
    """Whether a NetworkPolicy peer admits pods with `labels` in `namespace` (ipBlocks never do:
    pod addresses are private, and the broad rules except the private ranges)."""
    if "ipBlock" in peer:
        return False
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is None:
        if namespace != policy_ns:
            return False
    elif not _selector_matches(ns_selector, {"kubernetes.io/metadata.name": str(namespace)}):
        return False
    pod_selector = peer.get("podSelector")
    return pod_selector is None or _selector_matches(pod_selector, labels)


def _port_allowed(rule_: dict, port: int) -> bool:
    ports = rule_.get("ports")
    if not ports:
        return True
    for p in ports:
        if (p or {}).get("protocol", "TCP") != "TCP":
            continue
        number, end = (p or {}).get("port"), (p or {}).get("endPort")
        if (
            number is None
            or number == port
            or (isinstance(number, int) and isinstance(end, int) and number <= port <= end)
        ):
            return True
    return False


def _allowed(
    ctx: Context, src: tuple[str | None, dict[str, str]], dst: tuple[str | None, dict[str, str]], port: int
) -> str | None:
    """None when the NetworkPolicies let a src pod open TCP `port` on a dst pod, else which side refuses."""
    (src_ns, src_labels), (dst_ns, dst_labels) = src, dst
    egress = _policies_for(ctx, src_ns, src_labels, "Egress")
    if egress and not any(
        _port_allowed(r, port)
        and (not r.get("to") or any(_peer_matches(p, pol.namespace, dst_labels, dst_ns) for p in r["to"]))
        for pol in egress
        for r in pol.spec.get("egress") or []
    ):
        return "no egress rule of the source's NetworkPolicies allows it"
    ingress = _policies_for(ctx, dst_ns, dst_labels, "Ingress")
    if ingress and not any(
        _port_allowed(r, port)
        and (not r.get("from") or any(_peer_matches(p, pol.namespace, src_labels, src_ns) for p in r["from"]))
        for pol in ingress
        for r in pol.spec.get("ingress") or []
    ):
        return "no ingress rule of the destination's NetworkPolicies allows it"
    return None


def _egress_peers(ctx: Context, namespace: str | None, labels: dict[str, str]) -> list[tuple[Obj, dict | None, dict]]:
    """(policy, peer or None for anywhere, rule) of every egress rule that applies to these pods."""
    peers = []
    for policy in _policies_for(ctx, namespace, labels, "Egress"):
        for rule_ in policy.spec.get("egress") or []:
            for peer in rule_.get("to") or [None]:
                peers.append((policy, peer, rule_))
    return peers


def _peer_kind(ctx: Context, peer: dict | None, namespace: str | None) -> str:
    """What an egress peer is: anywhere, ip, dns, telemetry, a SpinApp's name, redis, or other."""
    if peer is None:
        return "anywhere"
    if "ipBlock" in peer:
        return "ip"
    selector = peer.get("podSelector")
    if selector is None:
        return "other"
    if (selector.get("matchLabels") or {}).get("k8s-app") == "kube-dns":
        return "dns"
    if peer.get("namespaceSelector") is None:
        if _selector_matches(selector, {"app.kubernetes.io/name": "otel-collector"}):
            return "telemetry"
        if _selector_matches(selector, {"app.kubernetes.io/name": "redis"}):
            return "redis"
        apps = [
            a.name for a in ctx.spinapps if a.namespace == namespace and _selector_matches(selector, _pod_labels(a))
        ]
        if len(apps) == 1:
            return f"spinapp:{apps[0]}"
    return "other"


def _exports_telemetry(ctx: Context, app: Obj) -> bool:
    executor = _executor_of(ctx, app)
    return bool((executor.spec.get("deploymentConfig") or {}).get("otel") if executor else None)


def _origin_findings(
    ctx: Context, rule_id: str, owner: Obj, what: str, url: str | None, where: str, path: str = ""
) -> tuple[list[Finding], Obj | None]:
    """Checks that `url` is <a forwarder SpinApp's Service origin><path>; returns the forwarder."""
    forwarders = _forwarders(ctx, owner.namespace)
    names = ", ".join(sorted(a.name for a in forwarders)) or "none"
    if url is None:
        return [warning(rule_id, owner.ref, f"{what} comes from {where}, which this check cannot read")], None
    if not url:
        return [error(rule_id, owner.ref, f"{what} is empty ({where})")], None
    if path and not url.endswith(path):
        return [error(rule_id, owner.ref, f"{what} {url!r} ({where}) does not end in {path}")], None
    origin = url[: len(url) - len(path)] if path else url
    service, problem = _service_origin_of(ctx, owner.namespace, origin)
    if service is None:
        return [error(rule_id, owner.ref, f"{what} {url!r} ({where}) {problem}")], None
    target = next((a for a in forwarders if a.name == service), None)
    if target is None:
        return [
            error(
                rule_id,
                owner.ref,
                f"{what} {url!r} ({where}) names Service {service}, which is not the Service of a SpinApp "
                f"serving the forwarder's routes (forwarder SpinApps: {names}); a namePrefix/nameSuffix "
                "renames the SpinApp, not this value",
            )
        ], None
    return [], target


@rule("forwarding")
def check_forwarding(ctx: Context) -> list[Finding]:
    """forward_dispatch_url names the forwarder SpinApp's Service, and its pods may reach it.

    A component whose allowed_outbound_hosts is templated on a variable that names the forwarder
    (spin.toml: `forward_dispatch_url`) calls the forwarder's internal routes. On the cluster that
    is the Service the operator names after the forwarder SpinApp (http://<name>, port 80):
    spin.toml's default (http://self, Spin's self-request) would reach the caller's own pod,
    where no forwarder runs. The NetworkPolicies must let the caller's pods reach the forwarder's.
    """
    findings: list[Finding] = []
    for app in ctx.spinapps:
        supplied = {str((v or {}).get("name")): v for v in app.spec.get("variables") or []}
        for component_id in sorted(ctx.retained(app)):
            component = ctx.spin.components[component_id]
            for template in sorted(component.outbound_templates()):
                for name in sorted(component.outbound_app_variables(template) or {template}):
                    if name != "forward_dispatch_url":
                        continue
                    entry = supplied.get(name)
                    if entry is None:
                        default = (ctx.spin.variables.get(name) or None) and ctx.spin.variables[name].default
                        findings.append(
                            error(
                                "forwarding",
                                app.ref,
                                f"{component_id} calls the forwarder at {name}, which is not supplied: spin.toml's "
                                f"default {default!r} does not reach the forwarder's pods; give it the forwarder "
                                "SpinApp's Service (http://<name>)",
                            )
                        )
                        continue
                    value, where = _resolve(ctx, app.namespace, entry)
                    found, forwarder = _origin_findings(ctx, "forwarding", app, f"variable {name}", value, where)
                    findings.extend(found)
                    if forwarder is not None:
                        refused = _allowed(
                            ctx,
                            (app.namespace, _pod_labels(app)),
                            (forwarder.namespace, _pod_labels(forwarder)),
                            APP_PORT,
                        )
                        if refused:
                            findings.append(
                                error(
                                    "forwarding",
                                    app.ref,
                                    f"its pods cannot reach SpinApp {forwarder.name}'s pods on port {APP_PORT}: "
                                    f"{refused}",
                                )
                            )
    findings.extend(_forwarder_admits_only_its_callers(ctx))
    return findings


def _calls_forwarder(ctx: Context, app: Obj) -> bool:
    """Whether a retained component's allowed_outbound_hosts is templated on forward_dispatch_url."""
    for component_id in ctx.retained(app):
        component = ctx.spin.components[component_id]
        for template in component.outbound_templates():
            if "forward_dispatch_url" in (component.outbound_app_variables(template) or {template}):
                return True
    return False


def _forwarder_admits_only_its_callers(ctx: Context) -> list[Finding]:
    """The forwarder's pods accept port 80 from its callers only (no Ingress, no other pod).

    Its routes have no public use (the tick is the ticker's, inside each forwarder pod on
    loopback, which NetworkPolicies do not see; the per-event dispatch has no token), so every
    NetworkPolicy ingress rule that selects a forwarder pod and opens its port may admit only pods
    of this namespace that call it: SpinApps whose components call forward_dispatch_url (the
    webhook and api pods). A rule without `from`, or with a namespaceSelector or ipBlock peer (the
    ingress controller, the KEDA interceptor, anything outside), or whose podSelector also matches
    another pod of the overlay, is an error. No ingress policy at all selecting it: anyone.
    """
    findings: list[Finding] = []
    pods = _pod_sets(ctx)
    for forwarder in _forwarders_all(ctx):
        labels = _pod_labels(forwarder)
        callers = {a.ref for a in ctx.spinapps if a.namespace == forwarder.namespace and _calls_forwarder(ctx, a)}
        policies = _policies_for(ctx, forwarder.namespace, labels, "Ingress")
        if not policies:
            findings.append(
                error(
                    "forwarding",
                    forwarder.ref,
                    "no NetworkPolicy restricts who reaches its pods: anyone in the cluster can",
                )
            )
        for policy in policies:
            for rule_ in policy.spec.get("ingress") or []:
                if not _port_allowed(rule_, APP_PORT):
                    continue
                peers = rule_.get("from")
                if not peers:
                    findings.append(
                        error("forwarding", policy.ref, f"admits anyone to {forwarder.name}'s pods on port {APP_PORT}")
                    )
                    continue
                for peer in peers:
                    peer = peer or {}
                    if "ipBlock" in peer or "namespaceSelector" in peer:
                        findings.append(
                            error(
                                "forwarding",
                                policy.ref,
                                f"admits pods outside namespace {forwarder.namespace} (or addresses) to "
                                f"{forwarder.name}: its "
                                "routes are for in-cluster callers only (the webhook and api pods), never the "
                                "ingress controller or the KEDA interceptor",
                            )
                        )
                        continue
                    for what, namespace, pod_labels in pods:
                        if namespace != forwarder.namespace or what in callers or what == forwarder.ref:
                            continue
                        if _selector_matches(peer.get("podSelector") or {}, pod_labels):
                            findings.append(
                                error(
                                    "forwarding",
                                    policy.ref,
                                    f"admits {what} to {forwarder.name}'s pods on port {APP_PORT}, which does not call "
                                    "it "
                                    "(callers: SpinApps whose components call forward_dispatch_url; the ticker calls "
                                    "its own pod on loopback)",
                                )
                            )
    return findings


@rule("ticker")
def check_ticker(ctx: Context) -> list[Finding]:
    """The SpinApp that serves POST /api/dispatch (the forwarder) also runs what calls it (the ticker).

    Retries and retention's age rules only run when something calls POST /api/dispatch
    (docs/architecture.md, "What drives retries"). On the cluster that is the ticker: a component
    spin.toml gives no trigger, whose tool table says it runs on a command trigger inside the
    artifact of the component serving that route (`trigger = "command"`, `with = "forwarder"`).
    The SpinApp retaining the forwarder must retain it too, or its pods never tick. It calls its
    own pod's listener, so its allowed_outbound_hosts must allow http://127.0.0.1:80 (where the
    operator makes Spin listen); it presents the first token of the same application variable
    the forwarder checks; and the SpinApp must keep at least one pod (no pod, no tick).
    """
    findings: list[Finding] = []
    route = best_route(ctx.spin.routes, DISPATCH_PATH)
    if route is None:
        return findings
    serving = route.component
    tickers = [c for c in ctx.spin.carried_by(serving) if ctx.spin.components[c].trigger == "command"]
    for app in ctx.spinapps:
        retained = ctx.retained(app)
        if serving not in retained:
            continue
        if not tickers:
            findings.append(
                error(
                    "ticker",
                    app.ref,
                    f"nothing calls POST {DISPATCH_PATH} of {serving}: spin.toml has no component that runs on a "
                    f'command trigger with it ([component.<id>.tool.webhook-inbox] trigger = "command", with = '
                    f'"{serving}"), so no retry is ever sent and retention\'s age rules never run',
                )
            )
            continue
        for ticker in tickers:
            if ticker not in retained:
                findings.append(
                    error(
                        "ticker",
                        app.ref,
                        f"runs {serving} without {ticker} (components: "
                        f"{', '.join(map(str, app.spec.get('components') or []))}): "
                        f"nothing calls POST {DISPATCH_PATH} in its pods, so no retry is ever sent and retention's "
                        f"age rules never run; add {ticker} to its components",
                    )
                )
                continue
            component = ctx.spin.components[ticker]
            if not any(POD_LISTENER.match(host) for host in component.allowed_outbound_hosts):
                hosts = ", ".join(component.allowed_outbound_hosts) or "none"
                findings.append(
                    error(
                        "ticker",
                        app.ref,
                        f"{ticker}'s allowed_outbound_hosts ({hosts}) do not allow http://127.0.0.1:80, the pod's own "
                        "listener it calls (spin-operator sets SPIN_HTTP_LISTEN_ADDR=0.0.0.0:80)",
                    )
                )
            wanted = TEMPLATE_REF.findall(ctx.spin.components[serving].variables.get("api_token", ""))
            presented = TEMPLATE_REF.findall(component.variables.get("api_token", ""))
            if not presented or presented != wanted:
                findings.append(
                    error(
                        "ticker",
                        app.ref,
                        f"{ticker}'s api_token reads {presented or 'nothing'}, {serving}'s reads {wanted or 'nothing'} "
                        "(spin.toml): the ticker must present a token from the variable the forwarder checks",
                    )
                )
        if _min_replicas(ctx, app) == 0:
            findings.append(
                error(
                    "ticker",
                    app.ref,
                    f"may run no pod (replicas or its autoscaler's minimum is 0): its ticker runs in its pods, so "
                    f"at zero nothing calls POST {DISPATCH_PATH} and nothing would wake it",
                )
            )
    return findings


def _forwarders_all(ctx: Context) -> list[Obj]:
    namespaces = {a.namespace for a in ctx.spinapps}
    return [a for ns in namespaces for a in _forwarders(ctx, ns)]


def _sends_outside(ctx: Context, app: Obj) -> bool:
    """Whether a retained component may connect beyond loopback and the forwarder's Service."""
    for component_id in ctx.retained(app):
        component = ctx.spin.components[component_id]
        for host in component.allowed_outbound_hosts:
            names = set()
            for template in TEMPLATE_REF.findall(host):
                names |= component.outbound_app_variables(template) or {template}
            if names and names <= {"forward_dispatch_url"}:
                continue
            if not names and re.match(r"^[a-z+]+://(127\.0\.0\.1|localhost|\[::1\])(:|/|$)", host):
                continue
            return True
    return False


def _needs_network(ctx: Context, app: Obj) -> bool:
    return any(
        ctx.spin.components[c].key_value_stores or ctx.spin.components[c].allowed_outbound_hosts
        for c in ctx.retained(app)
    )


def _destination_ports(ctx: Context, app: Obj) -> list[tuple[int, str]]:
    """(port, where) of each allowed_outbound_hosts slot a retained component resolves to a destination."""
    ports = []
    supplied = {str((v or {}).get("name")): v for v in app.spec.get("variables") or []}
    for component_id in sorted(ctx.retained(app)):
        component = ctx.spin.components[component_id]
        for host in component.allowed_outbound_hosts:
            templates = TEMPLATE_REF.findall(host)
            if len(templates) != 1 or TEMPLATE_REF.sub("", host).strip():
                continue  # only entries that are one whole template: a destination slot
            names = component.outbound_app_variables(templates[0]) or {templates[0]}
            if names & {"forward_dispatch_url"}:
                continue
            for name in names:
                entry = supplied.get(name)
                value = None
                where = f"variable {name}"
                if entry is not None:
                    value, where = _resolve(ctx, app.namespace, entry)
                    where = f"variable {name} ({where})"
                elif name in ctx.spin.variables:
                    value = ctx.spin.variables[name].default
                    where = f"variable {name} (spin.toml default)"
                match = re.match(r"^(?P<scheme>[a-z+*]+)://(?P<host>[^/:]+)(:(?P<port>[0-9]+|\*))?", value or "")
                if match is None or match["host"].endswith(".invalid"):
                    continue
                port = match["port"] or {"https": "443", "http": "80"}.get(match["scheme"], "*")
                ports.append((-1 if port == "*" else int(port), f"{where} = {value}"))
    return ports


@rule("egress")
def check_egress(ctx: Context) -> list[Finding]:
    """Egress outside the cluster only for the pods that send to destinations; none for the console.

    From spin.toml: a broad ipBlock egress rule (0.0.0.0/0, ::/0) may select only the pods of
    SpinApps whose components may connect beyond loopback and the forwarder (the forwarder), it
    must except the private and link-local ranges, and it must allow the port of every
    destination slot (forward_allowed_host_*) those pods are given. A SpinApp whose components
    use no key-value store and no outbound host (the console) gets no egress but telemetry.
    """
    findings: list[Finding] = []
    pods = _pod_sets(ctx)
    by_ref = {a.ref: a for a in ctx.spinapps}
    for policy in ctx.of_kind("NetworkPolicy", "networking.k8s.io"):
        for rule_ in policy.spec.get("egress") or []:
            broad = [
                p["ipBlock"]
                for p in rule_.get("to") or []
                if isinstance((p or {}).get("ipBlock"), dict) and str(p["ipBlock"].get("cidr", "")).endswith("/0")
            ]
            if not broad:
                continue
            for block in broad:
                missing = [
                    r
                    for r in PRIVATE_RANGES
                    if block.get("cidr") == "0.0.0.0/0" and r not in (block.get("except") or [])
                ]
                if missing:
                    findings.append(
                        error(
                            "egress",
                            policy.ref,
                            f"ipBlock {block.get('cidr')} does not except {', '.join(missing)}: it would open other "
                            "pods, "
                            "nodes or the cloud metadata endpoint to the selected pods",
                        )
                    )
            for what, namespace, labels in pods:
                if namespace != policy.namespace or not _selector_matches(policy.spec.get("podSelector") or {}, labels):
                    continue
                app = by_ref.get(what)
                if app is None or not _sends_outside(ctx, app):
                    findings.append(
                        error(
                            "egress",
                            policy.ref,
                            f"gives {what} egress to any address outside the cluster; only pods whose components "
                            "send to destinations (spin.toml allowed_outbound_hosts beyond loopback: the forwarder) "
                            "may have it",
                        )
                    )
    for app in ctx.spinapps:
        labels = _pod_labels(app)
        peers = _egress_peers(ctx, app.namespace, labels)
        if not _needs_network(ctx, app):
            telemetry = _exports_telemetry(ctx, app)
            for policy, peer, _rule in peers:
                kind = _peer_kind(ctx, peer, app.namespace)
                if kind == "telemetry" or (kind == "dns" and telemetry):
                    continue
                findings.append(
                    error(
                        "egress",
                        app.ref,
                        f"NetworkPolicy {policy.name} lets it reach {kind}, but its components "
                        f"({', '.join(sorted(ctx.retained(app)))}) use no key-value store and no outbound host: no "
                        "egress",
                    )
                )
            continue
        ports = _destination_ports(ctx, app)
        if not ports:
            continue
        open_ports = [
            r
            for policy, peer, r in peers
            if _peer_kind(ctx, peer, app.namespace) in ("ip", "anywhere")
        ]
        for port, where in ports:
            if port < 0:
                findings.append(
                    warning(
                        "egress",
                        app.ref,
                        f"{where} allows any port; its egress NetworkPolicy cannot be checked against it",
                    )
                )
            elif not any(_port_allowed(r, port) for r in open_ports):
                findings.append(
                    error(
                        "egress",
                        app.ref,
                        f"{where}: no egress rule to outside the cluster allows TCP {port} "
                        "(add the port to allow-forwarder-egress-to-destinations, docs/deploy.md)",
                    )
                )
    return findings
