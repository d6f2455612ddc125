"""What every rule shares: the Context a rule looks at, the registry (RULES, @rule, run_rules),
the operator's constants and the small helpers several concerns use."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inbox_tools.deploy_check.external_refs import ExternalRefs
from inbox_tools.deploy_check.findings import Finding
from inbox_tools.manifests import Obj
from inbox_tools.spin_manifest import SpinManifest

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


def executor_of(ctx: Context, app: Obj) -> Obj | None:
    name = app.spec.get("executor")
    return ctx.find("SpinAppExecutor", app.namespace, name, SPIN_GROUP) if isinstance(name, str) else None


def creates_deployment(executor: Obj | None) -> bool:
    return executor is not None and executor.spec.get("createDeployment") is True


def app_pod_labels(app: Obj) -> dict[str, str]:
    """The labels the operator puts on the pods of a SpinApp (podLabels + its own)."""
    labels = {str(k): str(v) for k, v in (app.spec.get("podLabels") or {}).items()}
    labels[APP_NAME_LABEL] = app.name
    labels[f"core.spinkube.dev/app.{app.name}.status"] = "ready"
    return labels


def artifacts_of(ctx: Context, components: list) -> list[str]:
    """The retained components that are artifacts of their own: all but those spin.toml says ride
    in another's artifact (`[component.<id>.tool.webhook-inbox] with = ...`, the ticker)."""
    return [
        str(c)
        for c in components
        if str(c) not in ctx.spin.components or ctx.spin.components[str(c)].carried_with is None
    ]


def min_replicas(ctx: Context, app: Obj) -> int | None:
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


def selector_matches(selector: dict, labels: dict[str, str]) -> bool:
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


# What the webhook and api components call on the forwarder, the ticker, and the policies.
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
