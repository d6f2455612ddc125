"""Each check of inbox_tools.obscheck, fed the broken inputs it must reject (and the committed ones)."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from inbox_tools import ROOT as REPO
from inbox_tools import obscheck

COMPONENT = REPO / "kustomize/components/observability"
NS = "webhook-inbox-prod"


def objects(otel: dict | None = None, config: dict | None = None, image: str | None = None) -> list[dict]:
    """The objects the collector check reads, built from the committed component files."""
    docs = [d for d in yaml.safe_load_all((COMPONENT / "collector.yaml").read_text()) if d]
    for doc in docs:
        doc.setdefault("metadata", {})["namespace"] = NS
        if doc["kind"] == "Deployment" and image:
            doc["spec"]["template"]["spec"]["containers"][0]["image"] = image
    if config is None:
        config = yaml.safe_load((COMPONENT / "collector-config.yaml").read_text())
    if otel is None:
        patch = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())["patches"][0]["patch"]
        otel = yaml.safe_load(patch)[0]["value"]
        otel = {k: v.replace("NAMESPACE", NS) for k, v in otel.items()}
    docs.append(yaml.safe_load((COMPONENT / "api-servicemonitor.yaml").read_text()))
    docs.append(yaml.safe_load((COMPONENT / "prometheusrule.yaml").read_text()))
    docs.extend(d for d in yaml.safe_load_all((REPO / "kustomize/base/spinapps.yaml").read_text()) if d)
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "otel-collector-config-abc", "namespace": NS},
            "data": {"config.yaml": yaml.safe_dump(config)},
        }
    )
    docs.append({"apiVersion": "core.spinkube.dev/v1alpha1", "kind": "SpinAppExecutor",
                 "metadata": {"name": "containerd-shim-spin", "namespace": NS},
                 "spec": {"deploymentConfig": {"otel": otel}}})
    return docs


def config() -> dict:
    return yaml.safe_load((COMPONENT / "collector-config.yaml").read_text())


def test_committed_collector_passes():
    assert obscheck.check_collector(objects()) == []


def test_combined_endpoint_without_logs_pipeline_is_defect_5():
    # The component as it was before the fix: OTEL_EXPORTER_OTLP_ENDPOINT makes Spin 3.6.3 export
    # logs too, and no pipeline receives them.
    problems = obscheck.check_collector(objects(otel={"exporter_otlp_endpoint": f"http://otel-collector.{NS}.svc.cluster.local:4318"}))
    assert any("exports logs" in p for p in problems), problems


def test_combined_endpoint_with_a_logs_pipeline_is_accepted():
    cfg = config()
    cfg["service"]["pipelines"]["logs"] = {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "batch"],
        "exporters": ["debug"],
    }
    assert (
        obscheck.check_collector(
            objects(otel={"exporter_otlp_endpoint": f"http://otel-collector.{NS}.svc.cluster.local:4318"}, config=cfg)
        )
        == []
    )


def test_per_signal_endpoint_needs_its_path():
    problems = obscheck.check_collector(objects(otel={"exporter_otlp_traces_endpoint": f"http://otel-collector.{NS}.svc.cluster.local:4318"}))
    assert any("must end in /v1/traces" in p for p in problems), problems


def test_endpoint_in_another_namespace_or_port_is_rejected():
    problems = obscheck.check_collector(objects(otel={"exporter_otlp_metrics_endpoint": "http://otel-collector.other.svc.cluster.local:4317/v1/metrics"}))
    assert any("host" in p for p in problems) and any("port 4317" in p for p in problems), problems


def test_spanmetrics_is_not_in_the_core_distribution():
    problems = obscheck.check_collector(objects(image="otel/opentelemetry-collector:0.159.0@sha256:" + "0" * 64))
    assert any("spanmetricsconnector is not part of otelcol 0.159.0" in p for p in problems), problems
    assert any("transformprocessor is not part of otelcol 0.159.0" in p for p in problems), problems


def test_unvendored_release_is_an_input_error():
    with pytest.raises(obscheck.CheckError):
        obscheck.check_collector(objects(image="otel/opentelemetry-collector-contrib:0.158.0"))


def test_image_must_be_pinned_by_digest():
    problems = obscheck.check_collector(objects(image="otel/opentelemetry-collector-contrib:0.159.0"))
    assert any("not pinned by digest" in p for p in problems), problems


def test_unknown_type_and_undefined_entries_are_rejected():
    cfg = config()
    cfg["processors"]["groupbytrace"] = {}
    cfg["service"]["pipelines"]["traces"]["processors"].append("groupbytrace")
    cfg["service"]["pipelines"]["metrics"]["exporters"].append("otlphttp/nowhere")
    problems = obscheck.check_collector(objects(config=cfg))
    assert any("type 'groupbytrace' is not in vendor/component-types.yaml" in p for p in problems), problems
    assert any("'otlphttp/nowhere' is not defined" in p for p in problems), problems


def test_memory_limiter_first_and_connector_signals():
    cfg = config()
    cfg["service"]["pipelines"]["traces"]["processors"] = ["batch", "memory_limiter"]
    cfg["service"]["pipelines"]["logs"] = {"receivers": ["spanmetrics"], "exporters": ["debug"]}
    problems = obscheck.check_collector(objects(config=cfg))
    assert any("memory_limiter must be the first" in p for p in problems), problems
    assert any("cannot connect traces to logs" in p for p in problems), problems


# --- dashboards and metric names ----------------------------------------------------------------


def dashboard_objs(mutate=None) -> list[dict]:
    dashboard = json.loads((COMPONENT / "dashboards/webhook-inbox.json").read_text())
    if mutate:
        mutate(dashboard)
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "labels": {"grafana_dashboard": "1"}},
             "data": {"webhook-inbox.json": json.dumps(dashboard)}}]


def test_committed_dashboard_passes(tmp_path):
    problems, queries = obscheck.check_dashboards(dashboard_objs(), tmp_path)
    assert problems == [] and queries > 15


def test_dashboard_schema_violations_are_found(tmp_path):
    def break_it(d):
        d["panels"][1]["colour"] = "red"  # not a panel property
        d["panels"][1]["gridPos"]["w"] = 30  # wider than the grid
        d["templating"]["list"] = d["templating"]["list"][1:]  # no datasource variable
    problems, _ = obscheck.check_dashboards(dashboard_objs(break_it), tmp_path)
    text = "\n".join(problems)
    assert "colour" in text and "gridPos/w" in text and "datasource` variable" in text, problems


def test_dashboard_unknown_variable_is_found(tmp_path):
    def break_it(d):
        d["panels"][1]["targets"][0]["expr"] = "sum(rate(x{pod=\"$pod\"}[5m]))"
    problems, _ = obscheck.check_dashboards(dashboard_objs(break_it), tmp_path)
    assert any("unknown template variable" in p for p in problems), problems


def test_unknown_metric_name_is_found():
    def break_it(d):
        d["panels"][1]["targets"][0]["expr"] = "sum(rate(traces_span_metrics_calls{namespace=\"x\"}[5m]))"
    problems, _ = obscheck.check_metric_names(dashboard_objs(break_it))
    assert any("'traces_span_metrics_calls'" in p for p in problems), problems


def test_unparsable_query_is_found():
    def break_it(d):
        d["panels"][1]["targets"][0]["expr"] = "sum(rate(up[5m])"
    problems, _ = obscheck.check_metric_names(dashboard_objs(break_it))
    assert any("does not parse" in p for p in problems), problems


# --- label bounds ------------------------------------------------------------------------------


def test_committed_labels_pass():
    assert obscheck.check_labels(REPO, objects()) == []


def test_a_route_the_recording_rules_do_not_map_is_found():
    objs = objects()
    rule = next(o for o in objs if o.get("kind") == "PrometheusRule")
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            r["expr"] = r["expr"].replace('"component", "forwarder"', '"component", "api"')
    problems = obscheck.check_labels(REPO, objs)
    assert any("route '/api/dispatch' get component 'api', spin.toml says 'forwarder'" in p for p in problems), problems


def test_no_component_labelling_rule_is_found():
    objs = [o for o in objects() if o.get("kind") != "PrometheusRule"]
    assert any("no PrometheusRule labels spans" in p for p in obscheck.check_labels(REPO, objs))


def provider_statement_edited(edit) -> dict:
    cfg = config()
    statements = cfg["processors"]["transform/bound_labels"]["trace_statements"][0]["statements"]
    cfg["processors"]["transform/bound_labels"]["trace_statements"][0]["statements"] = [
        edit(s) if "ExtractPatterns" in s else s for s in statements
    ]
    return cfg


def test_provider_without_mapping_is_found():
    cfg = provider_statement_edited(lambda s: s.replace("|linear|", "|"))
    problems = obscheck.check_labels(REPO, objects(config=cfg))
    assert any("/webhooks/linear gets webhook.provider 'other'" in p for p in problems), problems


def test_a_mapping_that_is_no_provider_or_too_wide_is_found():
    cfg = provider_statement_edited(lambda s: s.replace("|linear|", "|linear|acme|"))
    problems = obscheck.check_labels(REPO, objects(config=cfg))
    assert problems == [], "a slug nobody sends is harmless"
    cfg = provider_statement_edited(lambda s: s.replace("^/webhooks/(github|", "^/webhooks/(git|github|"))
    problems = obscheck.check_labels(REPO, objects(config=cfg))
    assert any("/webhooks/git gets webhook.provider 'git'" in p for p in problems), problems
    # The first alternation and the extraction without their end anchors: a provider's path with
    # more after it gets the provider's label.
    unanchored = re.compile(r'(where IsMatch\(attributes\["url\.path"\], "\^/webhooks/\([a-z0-9|]+\))\$"')
    cfg = provider_statement_edited(
        lambda s: unanchored.sub(r'\1"', s, count=1).replace('[a-z0-9]+)$"', '[a-z0-9]+)"')
    )
    problems = obscheck.check_labels(REPO, objects(config=cfg))
    assert any("/webhooks/github/extra gets webhook.provider 'github'" in p for p in problems), problems
    cfg = provider_statement_edited(lambda s: s.replace("where IsMatch", "where Unknown("))
    problems = obscheck.check_labels(REPO, objects(config=cfg))
    assert any("cannot read" in p for p in problems), problems


def test_providers_are_read_from_the_app():
    providers = obscheck.app_providers(REPO)
    assert providers[:6] == ("github", "stripe", "standard", "shopify", "slack", "linear")
    source = (REPO / obscheck.PROVIDERS_SOURCE).read_text()
    assert len(providers) == len(re.findall(r'^    [A-Za-z0-9]+ => "[a-z0-9]+",$', source, re.M)) >= 60


def test_a_new_provider_without_mapping_is_found(tmp_path):
    # The catalogue gains a row; the collector's transform is not rewritten (tools/provider-lists).
    model = (REPO / obscheck.PROVIDERS_SOURCE).read_text()
    row = '    Github => "github",'
    new_row = '    Acme => "acme",\n        "Acme",\n        "https://acme.example",\n        Spec {\n        },\n'
    grown = model.replace(row, new_row + row, 1)
    assert grown != model
    (tmp_path / obscheck.PROVIDERS_SOURCE).parent.mkdir(parents=True)
    (tmp_path / obscheck.PROVIDERS_SOURCE).write_text(grown)
    (tmp_path / "spin.toml").write_text((REPO / "spin.toml").read_text())
    problems = obscheck.check_labels(tmp_path, objects())
    assert any("/webhooks/acme" in p for p in problems), problems
    (tmp_path / obscheck.PROVIDERS_SOURCE).write_text("no list here")
    problems = obscheck.check_labels(tmp_path, objects())
    assert any("could not read the catalogue's rows" in p for p in problems), problems


def test_rules_extraction_round_trips(tmp_path):
    rule = yaml.safe_load((COMPONENT / "prometheusrule.yaml").read_text())
    rule["metadata"]["namespace"] = NS
    [path] = obscheck.extract_rules([copy.deepcopy(rule)], tmp_path)
    assert yaml.safe_load(path.read_text())["groups"] == rule["spec"]["groups"]


def test_alert_without_runbook_entry_is_found():
    rule = yaml.safe_load((COMPONENT / "prometheusrule.yaml").read_text())
    rule["spec"]["groups"][1]["rules"][0]["alert"] = "WebhookInboxSomethingNew"
    rule["spec"]["groups"][1]["rules"][0]["annotations"]["runbook"] = "docs/operations.md#webhookinboxsomethingnew"
    problems = obscheck.check_runbooks(REPO, [rule])
    assert any("no heading `WebhookInboxSomethingNew`" in p for p in problems), problems


def test_metrics_from_spin_need_pod_identity():
    cfg = config()
    cfg["service"]["pipelines"]["metrics"]["processors"] = ["memory_limiter", "batch"]
    problems = obscheck.check_collector(objects(config=cfg))
    assert any("no pod identity" in p for p in problems), problems
    cfg["service"]["pipelines"]["metrics"]["processors"] = ["memory_limiter", "batch", "k8sattributes"]
    problems = obscheck.check_collector(objects(config=cfg))
    assert any("k8sattributes must run before batch" in p for p in problems), problems


def test_servicemonitor_must_read_the_apis_secret():
    # A generated (hash-suffixed) Secret the ServiceMonitor does not follow: Prometheus would get no token.
    docs = objects()
    api = next(d for d in docs if d["kind"] == "SpinApp" and d["metadata"]["name"] == "webhook-inbox-api")
    for var in api["spec"]["variables"]:
        if var["name"] == "api_token":
            var["valueFrom"]["secretKeyRef"]["name"] = "webhook-inbox-secrets-bthc4tc7g6"
    problems = obscheck.check_labels(REPO, docs)
    assert any("is not the Secret key the api reads" in p for p in problems), problems
