"""Offline checks of kustomize/components/observability, on a rendered overlay (kubectl kustomize).

`python -m inbox_tools.obscheck COMMAND ...` (scripts/check-observability.sh runs each):

    collector RENDERED.yaml           collector config vs the pinned distribution's component
                                      list, pipelines, and the signals Spin 3.6.3 will export
                                      given the executor
    rules RENDERED.yaml OUT_DIR       every PrometheusRule's spec -> OUT_DIR/*.rules.yaml (for
                                      promtool check rules / test rules)
    dashboards RENDERED.yaml OUT_DIR  every grafana_dashboard ConfigMap: JSON schema, panel rules,
                                      each query -> a recording rule in
                                      OUT_DIR/dashboard-queries.rules.yaml (promtool parses them)
    metrics RENDERED.yaml             every metric name used by a rule or a dashboard query is one
                                      that something really exports
    labels REPO_ROOT RENDERED.yaml    the collector's label bounds agree with the app (providers,
                                      spin.toml routes); every alert has severity, summary,
                                      description and a runbook entry in docs/operations.md
    mutants RULES.yaml TESTS.yaml     each alert's unit tests can fail: with the alert made
                                      never-firing, then always-firing, `promtool test rules`
                                      must fail both times

Exit status 0 when everything holds, 1 when a check found a problem, 2 on unreadable input.
Only PyYAML, jsonschema and promql-parser (requirements-dev.txt) are needed.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from inbox_tools import ROOT
from inbox_tools.manifests import ManifestLoadError, load_objects
from inbox_tools.spin_manifest import SpinManifest

# The check's data: alerts.test.yaml and vendor/ (its SOURCES.md says where each file is from).
HERE = ROOT / "tools" / "observability-check"
VENDOR = HERE / "vendor"

SIGNALS = ("traces", "metrics", "logs")
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")
# Spin 3.6.3, crates/telemetry/src/env.rs: a signal is exported when the combined variable or its
# own one is set and not empty (and OTEL_SDK_DISABLED is not). The operator (spin-operator v0.6.1,
# internal/controller/deployment.go ConstructEnvForApp) maps the executor's otel fields onto them.
EXECUTOR_OTEL_FIELDS = {
    "exporter_otlp_endpoint": SIGNALS,
    "exporter_otlp_traces_endpoint": ("traces",),
    "exporter_otlp_metrics_endpoint": ("metrics",),
    "exporter_otlp_logs_endpoint": ("logs",),
}

# The one list that declares the providers (`Provider::ALL`): the provider catalogue's rows,
# `catalogue! { Github => "github",\n "GitHub",\n "https://...",\n Spec { ... }, ... }`.
PROVIDERS_SOURCE = "crates/provider-catalogue/src/catalogue.rs"
# Paths that must not get a provider's label: an unknown provider, a provider's path with more after
# it, a prefix of a slug, the component's probes, and paths outside /webhooks/ (None: no label).
OTHER_PATHS: dict[str, str | None] = {
    "/webhooks/no-such-provider": "other",
    "/webhooks/github/extra": "other",
    "/webhooks/git": "other",
    "/webhooks/": "other",
    "/webhooks/healthz": None,
    "/webhooks/readyz": None,
    "/api/events": None,
    "/healthz": None,
}
_SET_PROVIDER = re.compile(
    r'^set\(attributes\["webhook\.provider"\],\s*'
    r'(?:"(?P<literal>[a-z0-9]+)"|ExtractPatterns\(attributes\["url\.path"\],\s*"(?P<pattern>(?:[^"\\]|\\.)*)"\)'
    r'\["(?P<group>[a-z_]+)"\])\)\s*(?:where\s+(?P<where>.*))?$',
    re.S,
)
_IS_MATCH = re.compile(r'IsMatch\(attributes\["url\.path"\],\s*"((?:[^"\\]|\\.)*)"\)')
# A recording rule's `label_replace(..., "component", "<name>", "http_route", "<regex>")`.
COMPONENT_REPLACE = re.compile(r'"component",\s*"([a-z-]+)",\s*"http_route",\s*"((?:[^"\\]|\\.)*)"')

# Metric names that really exist, by who exports them. A rule or dashboard query naming anything
# else (a typo, a metric that was renamed) fails `metrics`.
KNOWN_METRICS: dict[str, str] = {}


def _known(source: str, *names: str) -> None:
    for name in names:
        KNOWN_METRICS[name] = source


_known(
    "spanmetrics connector (collector-config.yaml), via the collector's prometheus exporter",
    "traces_span_metrics_calls_total",
    "traces_span_metrics_duration_seconds_bucket",
    "traces_span_metrics_duration_seconds_sum",
    "traces_span_metrics_duration_seconds_count",
)
_known(
    "Spin 3.6.3 OTLP metrics (crates/trigger-http/src/server.rs, crates/factors-executor/src/lib.rs)",
    "spin_request_count_total",
    "spin_component_memory_used_bucket",
    "spin_component_memory_used_sum",
    "spin_component_memory_used_count",
    "spin_component_memory_used_on_init_bucket",
    "spin_component_memory_used_on_init_sum",
    "spin_component_memory_used_on_init_count",
)
_known(
    "the api component's GET /api/metrics (metrics contract)",
    "webhook_inbox_events",
    "webhook_inbox_events_pruned_total",
    "webhook_inbox_retention_max_events",
    "webhook_inbox_forward_deliveries",
    "webhook_inbox_forward_attempts_total",
    "webhook_inbox_forward_destination_disabled",
)
_known(
    "kube-state-metrics (kube-prometheus-stack)",
    "kube_pod_container_status_restarts_total",
    "kube_pod_status_ready",
    "kube_pod_status_ready_time",
    "kube_pod_created",
    "kube_pod_container_resource_limits",
    "kube_pod_info",
)
_known("kubelet cAdvisor (kube-prometheus-stack)", "container_memory_working_set_bytes")
_known(
    "kubelet (kube-prometheus-stack)",
    "kubelet_image_pull_duration_seconds_bucket",
    "kubelet_image_pull_duration_seconds_count",
)
_known("Prometheus itself", "up")


class CheckError(Exception):
    """Input that cannot be read (exit 2)."""


# --- rendered objects ---------------------------------------------------------------------------


def load_rendered(path: str | Path) -> list[dict[str, Any]]:
    """The objects of a rendered overlay (the project's model of rendered output), as their tables."""
    try:
        return [o.doc for o in load_objects(path)]
    except ManifestLoadError as error:
        raise CheckError(str(error)) from error


def find(objs: list[dict[str, Any]], kind: str, name_prefix: str = "") -> list[dict[str, Any]]:
    return [
        o
        for o in objs
        if o.get("kind") == kind and str(o.get("metadata", {}).get("name", "")).startswith(name_prefix)
    ]


def one(objs: list[dict[str, Any]], kind: str, name_prefix: str) -> dict[str, Any]:
    found = find(objs, kind, name_prefix)
    if len(found) != 1:
        raise CheckError(f"expected exactly one {kind} named {name_prefix}*, found {len(found)}")
    return found[0]


# --- collector ----------------------------------------------------------------------------------


def load_manifest(distribution: str, version: str) -> dict[str, set[str]]:
    path = VENDOR / "otelcol-releases" / f"{distribution}-{version}-manifest.yaml"
    if not path.is_file():
        raise CheckError(
            f"no vendored builder manifest for {distribution} {version} ({path.relative_to(HERE)}): "
            "add distributions/<dist>/manifest.yaml of opentelemetry-collector-releases at that tag"
        )
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    modules: dict[str, set[str]] = {}
    for kind in KINDS:
        modules[kind] = {str(entry["gomod"]).split()[0] for entry in manifest.get(kind) or []}
    return modules


def image_distribution(image: str) -> tuple[str, str]:
    """('otelcol-contrib', '0.159.0') for otel/opentelemetry-collector-contrib:0.159.0@sha256:..."""
    match = re.fullmatch(
        r"(?:docker\.io/)?otel/(opentelemetry-collector(?:-contrib)?):(\d+\.\d+\.\d+)(@sha256:[0-9a-f]{64})?", image
    )
    if not match:
        raise CheckError(f"collector image {image!r} is not an otel/opentelemetry-collector[-contrib]:X.Y.Z image")
    dist = "otelcol-contrib" if match.group(1).endswith("-contrib") else "otelcol"
    return dist, match.group(2)


def check_collector(objs: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    deployment = one(objs, "Deployment", "otel-collector")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    image = containers[0]["image"]
    if "@sha256:" not in image:
        problems.append(f"collector image {image} is not pinned by digest")
    dist, version = image_distribution(image)
    manifest = load_manifest(dist, version)
    types = yaml.safe_load((VENDOR / "component-types.yaml").read_text(encoding="utf-8"))

    configmap = one(objs, "ConfigMap", "otel-collector-config")
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    defined: dict[str, set[str]] = {kind: set((config.get(kind) or {}).keys()) for kind in KINDS}

    for kind in KINDS:
        for component_id in sorted(defined[kind]):
            ctype = component_id.split("/", 1)[0]
            module = (types.get(kind) or {}).get(ctype)
            if module is None:
                problems.append(
                    f"{kind}.{component_id}: type {ctype!r} is not in vendor/component-types.yaml "
                    "(look its module up in the component's metadata.yaml and add it)"
                )
            elif module not in manifest[kind]:
                problems.append(
                    f"{kind}.{component_id}: {module} is not part of {dist} {version} "
                    f"(image {image}); the collector would refuse this config"
                )

    service = config.get("service") or {}
    for ext in service.get("extensions") or []:
        if ext not in defined["extensions"]:
            problems.append(f"service.extensions: {ext} is not defined under extensions")
    pipelines: dict[str, dict[str, Any]] = service.get("pipelines") or {}
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    connector_as_exporter: dict[str, set[str]] = {}
    connector_as_receiver: dict[str, set[str]] = {}
    for pipeline_id, pipeline in pipelines.items():
        signal = pipeline_id.split("/", 1)[0]
        if signal not in SIGNALS:
            problems.append(f"pipeline {pipeline_id}: unknown signal {signal!r}")
            continue
        for role, kind in (("receivers", "receivers"), ("processors", "processors"), ("exporters", "exporters")):
            for component_id in pipeline.get(role) or []:
                if component_id in defined[kind]:
                    used[kind].add(component_id)
                elif role != "processors" and component_id in defined["connectors"]:
                    used["connectors"].add(component_id)
                    target = connector_as_exporter if role == "exporters" else connector_as_receiver
                    target.setdefault(component_id, set()).add(signal)
                else:
                    problems.append(f"pipeline {pipeline_id}: {role} entry {component_id!r} is not defined")
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            problems.append(f"pipeline {pipeline_id}: needs at least one receiver and one exporter")
        processors = pipeline.get("processors") or []
        ptypes = [p.split("/", 1)[0] for p in processors]
        receives_otlp = any(r.split("/", 1)[0] == "otlp" for r in pipeline.get("receivers") or [])
        if signal == "metrics" and receives_otlp:
            # Spin's resource names no pod: without the sender's identity, replicas' cumulative
            # series collide in the prometheus exporter.
            if "k8sattributes" not in ptypes:
                problems.append(
                    f"pipeline {pipeline_id}: Spin's metrics carry no pod identity; add a k8sattributes "
                    "processor (passthrough) so replicas' series stay apart"
                )
            elif "batch" in ptypes and ptypes.index("batch") < ptypes.index("k8sattributes"):
                problems.append(
                    f"pipeline {pipeline_id}: k8sattributes must run before batch (batch drops the connection)"
                )
        if (
            any(p.split("/", 1)[0] == "memory_limiter" for p in processors)
            and processors[0].split("/", 1)[0] != "memory_limiter"
        ):
            problems.append(f"pipeline {pipeline_id}: memory_limiter must be the first processor")
    for connector in sorted(defined["connectors"]):
        ctype = connector.split("/", 1)[0]
        allowed = [tuple(pair) for pair in (types.get("connector_signals") or {}).get(ctype, [])]
        for exp in sorted(connector_as_exporter.get(connector, set())):
            for rec in sorted(connector_as_receiver.get(connector, set())):
                if (exp, rec) not in allowed:
                    problems.append(f"connectors.{connector}: cannot connect {exp} to {rec} (supports {allowed})")
        if not connector_as_exporter.get(connector) or not connector_as_receiver.get(connector):
            problems.append(f"connectors.{connector}: must be an exporter in one pipeline and a receiver in another")
    for kind in ("receivers", "processors", "exporters"):
        for component_id in sorted(defined[kind] - used[kind]):
            problems.append(f"{kind}.{component_id}: defined but in no pipeline")

    problems.extend(check_spin_signals(objs, config, pipelines))
    return problems


def otlp_http_ports(config: dict[str, Any]) -> set[int]:
    ports = set()
    for component_id, settings in (config.get("receivers") or {}).items():
        if component_id.split("/", 1)[0] != "otlp":
            continue
        http = ((settings or {}).get("protocols") or {}).get("http")
        if http is not None:
            endpoint = (http or {}).get("endpoint", "localhost:4318")
            ports.add(int(str(endpoint).rsplit(":", 1)[1]))
    return ports


def check_spin_signals(objs: list[dict[str, Any]], config: dict[str, Any], pipelines: dict[str, Any]) -> list[str]:
    """What Spin exports (from the executor's otel settings) must each reach a pipeline."""
    problems: list[str] = []
    service = one(objs, "Service", "otel-collector")
    namespace = service.get("metadata", {}).get("namespace", "")
    ports = otlp_http_ports(config)
    executors = find(objs, "SpinAppExecutor")
    if not executors:
        raise CheckError("no SpinAppExecutor in the rendered output")
    for executor in executors:
        name = executor["metadata"]["name"]
        otel = (executor.get("spec", {}).get("deploymentConfig") or {}).get("otel") or {}
        if not otel:
            problems.append(f"SpinAppExecutor {name}: no deploymentConfig.otel, Spin exports nothing")
        exported: set[str] = set()
        for field, value in otel.items():
            if field not in EXECUTOR_OTEL_FIELDS:
                problems.append(f"SpinAppExecutor {name}: unknown otel field {field}")
                continue
            if not value:
                continue
            signals = EXECUTOR_OTEL_FIELDS[field]
            exported.update(signals)
            match = re.fullmatch(r"http://([^/:]+):(\d+)(/.*)?", str(value))
            if not match:
                problems.append(f"SpinAppExecutor {name}: {field}={value} is not an http://host:port[/path] URL")
                continue
            host, port, path = match.group(1), int(match.group(2)), match.group(3) or ""
            want_host = f"otel-collector.{namespace}.svc.cluster.local"
            if host != want_host:
                problems.append(f"SpinAppExecutor {name}: {field} host {host}, expected {want_host}")
            if port not in ports:
                problems.append(
                    f"SpinAppExecutor {name}: {field} port {port} is not an OTLP/HTTP receiver port {sorted(ports)}"
                )
            # A per-signal URL is used as is (opentelemetry-otlp 0.28 resolve_http_endpoint); the
            # combined one gets /v1/<signal> appended.
            if len(signals) == 1 and path != f"/v1/{signals[0]}":
                problems.append(
                    f"SpinAppExecutor {name}: {field}={value} must end in /v1/{signals[0]} (a per-signal "
                    "endpoint is used as is; the receiver answers 404 elsewhere)"
                )
            if len(signals) > 1 and path not in ("", "/"):
                problems.append(f"SpinAppExecutor {name}: {field}={value} must have no path")
        for signal in sorted(exported):
            receiving = [
                pid
                for pid, pipeline in pipelines.items()
                if pid.split("/", 1)[0] == signal
                and any(r.split("/", 1)[0] == "otlp" for r in pipeline.get("receivers") or [])
            ]
            if not receiving:
                problems.append(
                    f"SpinAppExecutor {name}: Spin 3.6.3 exports {signal} (otel {sorted(otel)}) but no "
                    f"{signal} pipeline has the otlp receiver: the receiver answers 404 and Spin logs "
                    "export errors (set only the endpoints of received signals, or add the pipeline)"
                )
    return problems


# --- rules --------------------------------------------------------------------------------------


def extract_rules(objs: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    rules = find(objs, "PrometheusRule")
    if not rules:
        raise CheckError("no PrometheusRule in the rendered output")
    for rule in rules:
        path = out_dir / f"{rule['metadata']['name']}.rules.yaml"
        path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


# --- dashboards ---------------------------------------------------------------------------------

# Grafana template variables and their stand-ins, so that a query parses as PromQL.
VARIABLE_VALUES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "${datasource}": "prometheus",
    "$namespace": "webhook-inbox-dev",
    "${namespace}": "webhook-inbox-dev",
}


def dashboard_configmaps(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        o
        for o in find(objs, "ConfigMap")
        if (o.get("metadata", {}).get("labels") or {}).get("grafana_dashboard") == "1"
    ]


def substitute(expr: str) -> str:
    for var in sorted(VARIABLE_VALUES, key=len, reverse=True):
        expr = expr.replace(var, VARIABLE_VALUES[var])
    if "$" in expr:
        raise ValueError(f"unknown template variable in {expr!r}")
    return expr


def panels_of(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def schema_validator(name: str, ref: str) -> jsonschema.Draft7Validator:
    schema = json.loads((VENDOR / "grafana-schemas" / f"{name}.jsonschema.json").read_text(encoding="utf-8"))
    sub = dict(schema)
    sub["$ref"] = f"#/definitions/{ref}"
    return jsonschema.Draft7Validator(sub)


def check_dashboards(objs: list[dict[str, Any]], out_dir: Path) -> tuple[list[str], int]:
    problems: list[str] = []
    configmaps = dashboard_configmaps(objs)
    if not configmaps:
        return ["no ConfigMap labelled grafana_dashboard=1 (the kube-prometheus-stack Grafana sidecar label)"], 0
    dashboard_v = schema_validator("dashboard", "Dashboard")
    panel_v = schema_validator("dashboard", "Panel")
    row_v = schema_validator("dashboard", "RowPanel")
    target_v = schema_validator("prometheus", "Dataquery")
    options_v = {t: schema_validator(t, "Options") for t in ("timeseries", "stat")}
    fieldconfig_v = {t: schema_validator(t, "FieldConfig") for t in ("timeseries",)}
    records = []
    for cm in configmaps:
        cm_name = cm["metadata"]["name"]
        for key, text in (cm.get("data") or {}).items():
            where = f"ConfigMap {cm_name} {key}"
            try:
                dashboard = json.loads(text)
            except json.JSONDecodeError as error:
                problems.append(f"{where}: not JSON: {error}")
                continue
            for error in dashboard_v.iter_errors(dashboard):
                problems.append(f"{where}: schema: {'/'.join(map(str, error.absolute_path))}: {error.message}")
            uid = dashboard.get("uid", "")
            if not re.fullmatch(r"[A-Za-z0-9_-]{8,40}", uid):
                problems.append(f"{where}: uid {uid!r} must be 8-40 of [A-Za-z0-9_-]")
            variables = {v.get("name"): v for v in (dashboard.get("templating") or {}).get("list") or []}
            if (variables.get("datasource") or {}).get("type") != "datasource":
                problems.append(f"{where}: needs a `datasource` variable of type datasource (no hard-coded uid)")
            ids = set()
            for panel in panels_of(dashboard):
                title = panel.get("title", "?")
                pwhere = f"{where} panel {panel.get('id')} {title!r}"
                validator = row_v if panel.get("type") == "row" else panel_v
                for error in validator.iter_errors(panel):
                    problems.append(f"{pwhere}: schema: {'/'.join(map(str, error.absolute_path))}: {error.message}")
                if panel.get("id") in ids:
                    problems.append(f"{pwhere}: duplicate panel id")
                ids.add(panel.get("id"))
                if panel.get("type") == "row":
                    continue
                ptype = panel.get("type")
                if ptype in options_v:
                    for error in options_v[ptype].iter_errors(panel.get("options") or {}):
                        problems.append(
                            f"{pwhere}: options: {'/'.join(map(str, error.absolute_path))}: {error.message}"
                        )
                if ptype in fieldconfig_v:
                    custom = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("custom") or {}
                    for error in fieldconfig_v[ptype].iter_errors(custom):
                        problems.append(f"{pwhere}: fieldConfig.custom: {error.message}")
                if (panel.get("datasource") or {}).get("uid") != "${datasource}":
                    problems.append(f"{pwhere}: datasource must be {{uid: ${{datasource}}}}")
                targets = panel.get("targets") or []
                if not targets and ptype != "text":
                    problems.append(f"{pwhere}: no query")
                for target in targets:
                    for error in target_v.iter_errors(target):
                        problems.append(f"{pwhere} target {target.get('refId')}: schema: {error.message}")
                    expr = target.get("expr")
                    if not expr:
                        problems.append(f"{pwhere} target {target.get('refId')}: no expr")
                        continue
                    try:
                        concrete = substitute(expr)
                    except ValueError as error:
                        problems.append(f"{pwhere}: {error}")
                        continue
                    record = f"dashboard_query:{re.sub(r'[^a-zA-Z0-9_]', '_', uid)}"
                    record += f":panel_{panel.get('id')}_{target.get('refId')}"
                    records.append({"record": record, "expr": concrete})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "dashboard-queries.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": records}]}, sort_keys=False),
        encoding="utf-8",
    )
    return problems, len(records)


# --- metric names -------------------------------------------------------------------------------


def selector_names(node: Any) -> Iterator[str]:
    """Every metric name selected anywhere in a promql_parser expression."""
    kind = type(node).__name__
    if kind == "VectorSelector":
        if node.name:
            yield node.name
        else:
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    yield matcher.value
        return
    for attr in ("vector_selector", "expr", "lhs", "rhs", "param"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield from selector_names(child)
    for child in getattr(node, "args", None) or []:
        yield from selector_names(child)


def check_metric_names(objs: list[dict[str, Any]]) -> tuple[list[str], int]:
    import promql_parser  # noqa: PLC0415 (only this subcommand needs it)

    problems: list[str] = []
    exprs: list[tuple[str, str]] = []
    recorded: set[str] = set()
    for rule_obj in find(objs, "PrometheusRule"):
        for group in rule_obj["spec"]["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    recorded.add(rule["record"])
                exprs.append(
                    (f"PrometheusRule {group['name']}/{rule.get('alert') or rule.get('record')}", rule["expr"])
                )
    for cm in dashboard_configmaps(objs):
        for key, text in (cm.get("data") or {}).items():
            dashboard = json.loads(text)
            for panel in panels_of(dashboard):
                for target in panel.get("targets") or []:
                    if target.get("expr"):
                        exprs.append((f"dashboard {key} panel {panel.get('title')!r}", substitute(target["expr"])))
    count = 0
    for where, expr in exprs:
        try:
            tree = promql_parser.parse(expr)
        except Exception as error:  # noqa: BLE001 (the parser raises a bare ValueError-like error)
            problems.append(f"{where}: does not parse: {error}")
            continue
        for name in selector_names(tree):
            count += 1
            if name not in KNOWN_METRICS and name not in recorded:
                problems.append(f"{where}: metric {name!r} is neither exported by anything known nor recorded")
    return problems, count


# --- labels vs the app --------------------------------------------------------------------------


def app_providers(repo: Path) -> tuple[str, ...]:
    """The providers the webhook component serves, and so the only legal `webhook.provider` values
    besides `other`: the slugs of the catalogue's rows (`Provider::ALL`), in its order. Empty when
    the list cannot be read."""
    source = (repo / PROVIDERS_SOURCE).read_text(encoding="utf-8")
    declared = re.search(r"^catalogue! \{(.*?)^\}", source, re.S | re.M)
    rows = declared.group(1) if declared else ""
    return tuple(re.findall(r'^    [A-Z][A-Za-z0-9]* => "([a-z0-9]+)",$', rows, re.M))


def _unquote(text: str) -> str:
    """An OTTL string literal's content (JSON's escapes are OTTL's)."""
    return json.loads(f'"{text}"')


def _condition(where: str, path: str) -> bool:
    """A `where` made of `IsMatch(attributes["url.path"], "...")` terms, each maybe after `not`,
    joined by `and` and `or` (no parentheses). Go's RE2 and Python's `re` agree on the patterns used
    here: anchors, groups, alternations, classes."""
    terms = _IS_MATCH.sub(lambda m: "T" if re.search(_unquote(m.group(1)), path) else "F", where)
    if not re.fullmatch(r"(?:not )?[TF](?: (?:and|or) (?:not )?[TF])*", " ".join(terms.split())):
        raise CheckError(f"transform: a webhook.provider condition this check cannot read: {where!r}")
    return any(
        all((term[-1] == "T") != term.startswith("not ") for term in conjunction.split(" and "))
        for conjunction in " ".join(terms.split()).split(" or ")
    )


def provider_label(statements: list[str], path: str) -> str | None:
    """The `webhook.provider` the transform's statements give a span whose url.path is `path`."""
    label = None
    for statement in statements:
        statement = " ".join(statement.split())
        if not statement.startswith('set(attributes["webhook.provider"]'):
            continue
        m = _SET_PROVIDER.match(statement)
        if m is None:
            raise CheckError(f"transform: a webhook.provider statement this check cannot read: {statement!r}")
        if m.group("where") is not None and not _condition(m.group("where"), path):
            continue
        if m.group("literal") is not None:
            label = m.group("literal")
            continue
        found = re.search(_unquote(m.group("pattern")), path)
        value = found.groupdict().get(m.group("group")) if found else None
        if value is not None:  # set() with nil does nothing
            label = value
    return label


def check_labels(repo: Path, objs: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    configmap = one(objs, "ConfigMap", "otel-collector-config")
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    statements = [
        s
        for component_id, settings in (config.get("processors") or {}).items()
        if component_id.split("/", 1)[0] == "transform"
        for block in (settings or {}).get("trace_statements") or []
        for s in (block.get("statements") or [])
    ]
    providers = app_providers(repo)
    if not providers:
        problems.append(f"{PROVIDERS_SOURCE}: could not read the catalogue's rows")
    # Every provider's path gets exactly its slug; nothing else gets a slug, or a label it should not.
    wanted = {f"/webhooks/{provider}": provider for provider in providers} | OTHER_PATHS
    try:
        for path, want in wanted.items():
            got = provider_label(statements, path)
            if got != want:
                hint = f" (no mapping for provider {want}: tools/provider-lists writes it)" if want in providers else ""
                problems.append(f"transform: a span of {path} gets webhook.provider {got!r}, expected {want!r}{hint}")
    except CheckError as error:
        problems.append(str(error))
    problems.extend(check_scrape_refs(objs))
    routes = {r.path: r.component for r in SpinManifest.load(repo / "spin.toml").routes if r.path}
    problems.extend(check_route_components(objs, routes))
    return problems


def route_component(replaces: list[tuple[str, str]], route: str) -> str | None:
    """The component a chain of label_replace calls (innermost first) gives a span of `route`:
    each call whose (anchored) regex matches overwrites the label, so the last match wins."""
    component = None
    for name, regex in replaces:
        if re.fullmatch(regex, route):
            component = name
    return component


def check_route_components(objs: list[dict[str, Any]], routes: dict[str, str]) -> list[str]:
    """Every recording rule that labels spans by component maps every spin.toml route to the
    component spin.toml gives it."""
    problems, labelling = [], 0
    for obj in objs:
        if obj.get("kind") != "PrometheusRule":
            continue
        for group in (obj.get("spec") or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                expr = str(rule.get("expr", ""))
                # PromQL string literals escape backslashes; the regex is the unescaped text.
                replaces = [
                    (name, re.sub(r"\\(.)", r"\1", regex)) for name, regex in COMPONENT_REPLACE.findall(expr)
                ]
                if not replaces:
                    continue
                labelling += 1
                for route, component in routes.items():
                    got = route_component(replaces, route)
                    if got != component:
                        problems.append(
                            f"{rule.get('record') or rule.get('alert')}: spans of spin.toml route {route!r} "
                            f"get component {got!r}, spin.toml says {component!r} (fix its label_replace calls)"
                        )
    if not labelling:
        problems.append("no PrometheusRule labels spans by component (label_replace on http_route)")
    return problems


# --- mutants ------------------------------------------------------------------------------------


def check_mutants(rules_path: Path, tests_path: Path) -> tuple[list[str], int]:
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    promtool = shutil.which("promtool")
    if not promtool:
        raise CheckError("promtool not found")
    rules = yaml.safe_load(rules_path.read_text(encoding="utf-8"))
    tests = yaml.safe_load(tests_path.read_text(encoding="utf-8"))
    tested = {
        t["alertname"] for group in tests["tests"] for t in group.get("alert_rule_test") or [] if t.get("exp_alerts")
    }
    quiet = {
        t["alertname"]
        for group in tests["tests"]
        for t in group.get("alert_rule_test") or []
        if not t.get("exp_alerts")
    }
    problems: list[str] = []
    alerts = [
        (gi, ri, r["alert"]) for gi, g in enumerate(rules["groups"]) for ri, r in enumerate(g["rules"]) if "alert" in r
    ]
    runs = 0
    for _, _, name in alerts:
        if name not in tested:
            problems.append(f"alert {name}: no unit test expects it to fire")
        if name not in quiet:
            problems.append(f"alert {name}: no unit test expects it to stay quiet")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / tests_path.name).write_text(tests_path.read_text(encoding="utf-8"), encoding="utf-8")
        for gi, ri, name in alerts:
            for label, expr in (("never-firing", "vector(1) < 0"), ("always-firing", "vector(1)")):
                mutant = json.loads(json.dumps(rules))
                mutant["groups"][gi]["rules"][ri]["expr"] = expr
                (work / rules_path.name).write_text(yaml.safe_dump(mutant, sort_keys=False), encoding="utf-8")
                result = subprocess.run(
                    [promtool, "test", "rules", tests_path.name], cwd=work, capture_output=True, text=True, check=False
                )
                runs += 1
                if result.returncode == 0:
                    problems.append(f"alert {name}: the tests still pass with the alert {label}: they do not test it")
    return problems, runs


def check_scrape_refs(objs: list[dict[str, Any]]) -> list[str]:
    """The api ServiceMonitor selects the operator's Service and reads the Secret the api reads."""
    problems: list[str] = []
    monitor = one(objs, "ServiceMonitor", "webhook-inbox-api")
    api = one(objs, "SpinApp", "webhook-inbox-api")
    want_selector = {"core.spinkube.dev/app-name": api["metadata"]["name"]}
    if monitor["spec"].get("selector", {}).get("matchLabels") != want_selector:
        problems.append(
            f"ServiceMonitor webhook-inbox-api: selector must be {want_selector} (the operator's Service label)"
        )
    token_refs = {
        v["valueFrom"]["secretKeyRef"]["name"]
        for v in api["spec"].get("variables") or []
        if v.get("name") == "api_token" and "secretKeyRef" in (v.get("valueFrom") or {})
    }
    for endpoint in monitor["spec"].get("endpoints") or []:
        credentials = (endpoint.get("authorization") or {}).get("credentials") or {}
        if endpoint.get("path") != "/api/metrics":
            problems.append(f"ServiceMonitor webhook-inbox-api: path {endpoint.get('path')}, expected /api/metrics")
        if credentials.get("key") != "api_token" or {credentials.get("name")} != token_refs:
            problems.append(
                f"ServiceMonitor webhook-inbox-api: token {credentials} is not the Secret key the api reads "
                f"(api_token from {sorted(token_refs)})"
            )
    return problems


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def check_runbooks(repo: Path, objs: list[dict[str, Any]]) -> list[str]:
    """Every alert names a runbook entry (docs/operations.md#anchor) that exists."""
    problems: list[str] = []
    doc = repo / "docs/operations.md"
    anchors = {
        anchor(line.lstrip("#")) for line in doc.read_text(encoding="utf-8").splitlines() if line.startswith("#")
    }
    for rule_obj in find(objs, "PrometheusRule"):
        for group in rule_obj["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                runbook = (rule.get("annotations") or {}).get("runbook", "")
                want = f"docs/operations.md#{rule['alert'].lower()}"
                if runbook != want:
                    problems.append(f"alert {rule['alert']}: runbook annotation {runbook!r}, expected {want!r}")
                elif rule["alert"].lower() not in anchors:
                    problems.append(f"alert {rule['alert']}: docs/operations.md has no heading `{rule['alert']}`")
                for key in ("summary", "description"):
                    if not (rule.get("annotations") or {}).get(key):
                        problems.append(f"alert {rule['alert']}: no {key} annotation")
                if (rule.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                    problems.append(f"alert {rule['alert']}: severity must be critical, warning or info")
    return problems


# --- main ---------------------------------------------------------------------------------------


def report(name: str, problems: list[str], ok_line: str) -> int:
    for problem in problems:
        print(f"FAIL {name}: {problem}")
    if problems:
        print(f"obscheck {name}: {len(problems)} problem(s)")
        return 1
    print(f"obscheck {name}: {ok_line}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command = argv[0]
    try:
        if command == "collector":
            objs = load_rendered(argv[1])
            return report("collector", check_collector(objs), "config, distribution and Spin's signals agree")
        if command == "rules":
            written = extract_rules(load_rendered(argv[1]), Path(argv[2]))
            print("\n".join(str(p) for p in written))
            return 0
        if command == "dashboards":
            problems, n = check_dashboards(load_rendered(argv[1]), Path(argv[2]))
            return report("dashboards", problems, f"schema-valid; {n} queries written as recording rules")
        if command == "metrics":
            problems, n = check_metric_names(load_rendered(argv[1]))
            return report("metrics", problems, f"{n} metric references, all exported or recorded")
        if command == "mutants":
            problems, n = check_mutants(Path(argv[1]), Path(argv[2]))
            return report("mutants", problems, f"{n} mutants, every one caught by the unit tests")
        if command == "labels":
            objs = load_rendered(argv[2])
            problems = check_labels(Path(argv[1]), objs) + check_runbooks(Path(argv[1]), objs)
            return report("labels", problems, "bounds agree with the app; every alert has its runbook entry")
    except CheckError as error:
        print(f"obscheck {command}: {error}", file=sys.stderr)
        return 2
    print(f"obscheck: unknown command {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
