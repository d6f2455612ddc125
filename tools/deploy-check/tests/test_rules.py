"""Every rule passes on the real rendered overlays and fires on a deliberately broken one."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from conftest import FIXTURE_ARTIFACTS, FIXTURE_COMPONENTS, REPO, errors, find, find_all

from inbox_tools.deploy_check.external_refs import ExternalRefs
from inbox_tools.deploy_check.findings import ERROR, WARNING
from inbox_tools.deploy_check.rules import RULES
from inbox_tools.spin_manifest import SpinManifest

API = "webhook-inbox-api"
HEALTH = "webhook-inbox-health"
WEBHOOK = "webhook-inbox-webhook"
CONSOLE = "webhook-inbox-console"
FORWARDER = "webhook-inbox-forwarder"


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_rendered_overlays_pass(docs, check, overlay: str) -> None:
    findings = check(docs(overlay), overlay)
    assert errors(findings) == []


def test_prod_placeholder_digest_is_a_warning_then_an_error(docs, check) -> None:
    findings = check(docs("prod"), "prod")
    assert [f.rule for f in findings if f.severity == WARNING] == ["image"] * len(FIXTURE_ARTIFACTS)
    strict = check(docs("prod"), "prod", forbid_placeholder_digest=True)
    assert len(errors(strict, "image")) == len(FIXTURE_ARTIFACTS)


def test_every_rule_has_a_failing_test() -> None:
    # Keep this list in step with RULES: a rule without a test below could silently never fire.
    tested = {
        "namespace", "apply-order", "spinapp-name", "executor", "replicas", "autoscaler-target",
        "autoscaling-has-scaler", "components", "probes", "variables", "kv-stores", "resources",
        "refs", "image", "ingress", "pdb", "network-policy", "capacity", "forwarding", "ticker", "egress",
    }  # fmt: skip
    assert tested == set(RULES)


# --- namespace / apply order ------------------------------------------------------------------


def test_namespace_missing_on_an_object(docs, check) -> None:
    d = docs("prod")
    del find(d, "Ingress")["metadata"]["namespace"]
    assert any("has no metadata.namespace" in m for m in errors(check(d), "namespace"))


def test_namespace_not_created(docs, check) -> None:
    d = [o for o in docs("prod") if o["kind"] != "Namespace"]
    assert any("not created by the overlay" in m for m in errors(check(d), "namespace"))


def test_namespace_split(docs, check) -> None:
    d = docs("prod")
    find(d, "Ingress")["metadata"]["namespace"] = "elsewhere"
    assert any("several namespaces" in m for m in errors(check(d), "namespace"))


def test_apply_order_executor_after_spinapps(docs, check) -> None:
    d = docs("prod")
    executor = find(d, "SpinAppExecutor")
    d.remove(executor)
    d.append(executor)
    messages = errors(check(d), "apply-order")
    assert len(messages) == len(FIXTURE_ARTIFACTS) and "rejected by the operator's webhook" in messages[0]


def test_apply_order_namespace_last(docs, check) -> None:
    d = docs("prod")
    ns = find(d, "Namespace")
    d.remove(ns)
    d.append(ns)
    assert any("before its Namespace" in m for m in errors(check(d), "apply-order"))


# --- SpinApp / executor -------------------------------------------------------------------------


def _rename_spinapp(d: list[dict], old: str, new: str) -> None:
    find(d, "SpinApp", old)["metadata"]["name"] = new
    for hpa in find_all(d, "HorizontalPodAutoscaler") + find_all(d, "HTTPScaledObject"):
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["name"] == old:
            ref["name"] = new
            if "service" in ref:
                ref["service"] = new
    for path in find(d, "Ingress")["spec"]["rules"][0]["http"]["paths"]:
        if path["backend"]["service"]["name"] == old:
            path["backend"]["service"]["name"] = new


def test_spinapp_name_too_long_for_the_operator_labels(docs, check) -> None:
    d = docs("prod")
    _rename_spinapp(d, API, "a" * 53)
    assert any("at most 52" in m for m in errors(check(d), "spinapp-name"))


def test_spinapp_name_not_dns_1035(docs, check) -> None:
    d = docs("prod")
    _rename_spinapp(d, API, "1-api")
    assert any("DNS-1035" in m for m in errors(check(d), "spinapp-name"))


def test_executor_unset(docs, check) -> None:
    d = docs("prod")
    del find(d, "SpinApp", API)["spec"]["executor"]
    assert any("spec.executor is not set" in m for m in errors(check(d), "executor"))


def test_executor_not_in_namespace(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinAppExecutor")["metadata"]["namespace"] = "other"
    assert len([m for m in errors(check(d), "executor") if "is not a SpinAppExecutor in namespace" in m]) == len(
        FIXTURE_ARTIFACTS
    )


def test_executor_runtime_class_and_spin_image(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinAppExecutor")["spec"]["deploymentConfig"]["spinImage"] = "ghcr.io/x/spin:1"
    assert any("exactly one of runtimeClassName and spinImage" in m for m in errors(check(d), "executor"))


def test_executor_create_deployment_without_config(docs, check) -> None:
    d = docs("prod")
    del find(d, "SpinAppExecutor")["spec"]["deploymentConfig"]
    assert any("needs spec.deploymentConfig" in m for m in errors(check(d), "executor"))


def test_replicas_with_autoscaling(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinApp", API)["spec"]["replicas"] = 2
    assert any("must be unset when enableAutoscaling" in m for m in errors(check(d), "replicas"))


@pytest.mark.parametrize("replicas", [None, 0, "1"])
def test_replicas_missing_or_invalid_without_autoscaling(docs, check, replicas) -> None:
    d = docs("dev")
    spec = find(d, "SpinApp", API)["spec"]
    if replicas is None:
        del spec["replicas"]
    else:
        spec["replicas"] = replicas
    assert any("must be >= 1" in m for m in errors(check(d, "dev"), "replicas"))


# --- autoscalers ---------------------------------------------------------------------------------


def test_hpa_targets_something_else(docs, check) -> None:
    d = docs("prod")
    find(d, "HorizontalPodAutoscaler", API)["spec"]["scaleTargetRef"]["name"] = "api"
    messages = errors(check(d), "autoscaler-target")
    assert any("not named after a SpinApp" in m for m in messages)


def test_hpa_targets_the_spinapp_kind(docs, check) -> None:
    d = docs("prod")
    ref = find(d, "HorizontalPodAutoscaler", API)["spec"]["scaleTargetRef"]
    ref.update(apiVersion="core.spinkube.dev/v1alpha1", kind="SpinApp")
    assert any("no scale subresource" in m for m in errors(check(d), "autoscaler-target"))


def test_hpa_on_spinapp_without_autoscaling(docs, check) -> None:
    d = docs("prod")
    spec = find(d, "SpinApp", API)["spec"]
    spec["enableAutoscaling"] = False
    spec["replicas"] = 2
    assert any("needs enableAutoscaling: true" in m for m in errors(check(d), "autoscaler-target"))


def test_hpa_cpu_utilization_needs_cpu_request(docs, check) -> None:
    d = docs("prod")
    del find(d, "SpinApp", API)["spec"]["resources"]["requests"]["cpu"]
    assert any("resources.requests.cpu" in m for m in errors(check(d), "autoscaler-target"))


def test_two_autoscalers_on_one_deployment(docs, check) -> None:
    d = docs("prod")
    find(d, "HorizontalPodAutoscaler", HEALTH)["spec"]["scaleTargetRef"]["name"] = API
    assert any("targeted by 2 autoscalers" in m for m in errors(check(d), "autoscaler-target"))


def test_http_scaled_object_wrong_port(docs, check) -> None:
    d = docs("staging")
    find(d, "HTTPScaledObject", API)["spec"]["scaleTargetRef"]["port"] = 8080
    assert any("use port: 80" in m for m in errors(check(d, "staging"), "autoscaler-target"))


def test_http_scaled_object_port_and_port_name(docs, check) -> None:
    d = docs("staging")
    find(d, "HTTPScaledObject", API)["spec"]["scaleTargetRef"]["portName"] = "http"
    assert any("exactly one of port and portName" in m for m in errors(check(d, "staging"), "autoscaler-target"))


def test_http_scaled_object_unknown_service(docs, check) -> None:
    d = docs("staging")
    find(d, "HTTPScaledObject", API)["spec"]["scaleTargetRef"]["service"] = "api"
    assert any("neither SpinApp" in m for m in errors(check(d, "staging"), "autoscaler-target"))


def test_autoscaling_without_a_scaler(docs, check) -> None:
    d = [o for o in docs("prod") if not (o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["name"] == API)]
    assert any("no HPA/ScaledObject/HTTPScaledObject" in m for m in errors(check(d), "autoscaling-has-scaler"))


# --- components, probes, variables, kv stores ------------------------------------------------------


def test_unknown_component(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinApp", API)["spec"]["components"] = ["api", "helth"]
    assert any("'helth' is not in spin.toml" in m for m in errors(check(d), "components"))


@pytest.mark.parametrize("component", FIXTURE_ARTIFACTS)
def test_a_component_without_a_spinapp(docs, check, component: str) -> None:
    # spin.toml routes to it, the overlay does not run it: its routes would be the health 404.
    d = [o for o in docs("prod") if not (o["kind"] == "SpinApp" and o["spec"]["components"][0] == component)]
    found = errors(check(d), "components")
    assert any(f"component {component} (spin.toml) is run by no SpinApp" in m for m in found), found


def test_a_command_component_rides_only_beside_its_carrier(docs, check) -> None:
    # The ticker has no route: accepted beside the forwarder (the artifact that carries it, on a
    # command trigger), refused anywhere else.
    d = docs("prod")
    assert errors(check(d), "components") == []
    find(d, "SpinApp", API)["spec"]["components"] = ["api", "ticker"]
    found = errors(check(d), "components")
    assert any("component ticker runs on a command trigger inside forwarder's artifact" in m and "retain both" in m
               for m in found), found
    assert any("retains ticker, which rides in forwarder's artifact, not in the api artifact" in m
               for m in errors(check(d), "image"))


def test_a_routeless_component_without_a_command_trigger_runs_nothing(docs, check, spin) -> None:
    # Without its tool table the ticker is a component with no trigger at all: retained, nothing runs it.
    bare = dataclasses.replace(
        spin,
        components={
            **spin.components,
            "ticker": dataclasses.replace(spin.components["ticker"], trigger=None, carried_with=None),
        },
    )
    found = errors(check(docs("prod"), spin=bare), "components")
    assert any("component ticker has no route in spin.toml and no command trigger" in m for m in found), found
    # ... and as an artifact of its own, the forwarder's SpinApp now runs two.
    assert any(
        "must retain exactly one component that is an artifact" in m
        for m in errors(check(docs("prod"), spin=bare), "image")
    )


def test_probe_not_served_by_the_retained_component(docs, check) -> None:
    # The API pod probes /api/readyz: retaining only `webhook` leaves nothing to answer it.
    d = docs("prod")
    find(d, "SpinApp", API)["spec"]["components"] = ["webhook"]
    messages = errors(check(d), "probes")
    assert any("/api/readyz is not served by any retained component" in m for m in messages)


def test_probe_only_caught_by_the_catch_all(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinApp", HEALTH)["spec"]["checks"]["liveness"]["httpGet"]["path"] = "/api/health"
    assert any("catch-all route /..." in m for m in errors(check(d), "probes"))


def test_a_catch_all_that_declares_the_probe_paths_serves_them(docs, check, spin) -> None:
    # The repository's shape: health has only the catch-all route (one trigger starts faster)
    # and declares in `[component.health.tool.deploy-check]` the paths it really serves.
    routes = [r for r in spin.routes if r.component != "health" or r.is_catch_all]
    health = spin.components["health"]
    lean = dataclasses.replace(
        spin,
        routes=routes,
        components={**spin.components, "health": dataclasses.replace(health, serves=["/healthz", "/readyz"])},
    )
    assert errors(check(docs("prod"), spin=lean), "probes") == []
    half = dataclasses.replace(
        lean, components={**spin.components, "health": dataclasses.replace(health, serves=["/healthz"])}
    )
    messages = errors(check(docs("prod"), spin=half), "probes")
    assert messages and all("/readyz is only matched by health's catch-all" in m for m in messages)


def test_probe_missing(docs, check) -> None:
    d = docs("prod")
    del find(d, "SpinApp", WEBHOOK)["spec"]["checks"]["liveness"]
    assert any("checks.liveness.httpGet.path is not set" in m for m in errors(check(d), "probes"))


def _variable(app: dict, name: str) -> dict:
    return next(v for v in app["spec"]["variables"] if v["name"] == name)


def test_secret_variable_as_plain_value(docs, check) -> None:
    d = docs("prod")
    var = _variable(find(d, "SpinApp", API), "api_token")
    del var["valueFrom"]
    var["value"] = "hunter2"
    assert any("must come from valueFrom.secretKeyRef" in m for m in errors(check(d), "variables"))


def test_secret_variable_from_configmap(docs, check) -> None:
    d = docs("prod")
    var = _variable(find(d, "SpinApp", WEBHOOK), "webhook_github_secret")
    var["valueFrom"] = {"configMapKeyRef": {"name": "x", "key": "y"}}
    assert any("never a plain value or a ConfigMap" in m for m in errors(check(d), "variables"))


def test_secret_given_to_a_component_that_does_not_read_it(docs, check) -> None:
    d = docs("prod")
    # Least privilege: the internet-facing webhook component reads no API token (it presents the
    # dispatch token to the forwarder), and the console reads no secret.
    token = _variable(find(d, "SpinApp", API), "api_token")
    for component in (WEBHOOK, CONSOLE):
        e = docs("prod")
        find(e, "SpinApp", component)["spec"]["variables"].append(token)
        assert any("api_token is supplied but no retained component" in m for m in errors(check(e), "variables"))


def test_undeclared_variable(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinApp", API)["spec"]["variables"].append({"name": "api_tokn", "value": "x"})
    assert any("not declared in spin.toml" in m for m in errors(check(d), "variables"))


def test_secret_variable_not_supplied(docs, check) -> None:
    d = docs("prod")
    app = find(d, "SpinApp", API)
    app["spec"]["variables"] = [v for v in app["spec"]["variables"] if v["name"] != "api_token"]
    assert any("secret variable api_token" in m for m in errors(check(d), "variables"))


def test_every_variable_of_every_component_is_supplied(docs, check, spin: SpinManifest) -> None:
    # Each variable each SpinApp's components read in spin.toml, left out in turn, is an error,
    # even a non-secret one with a default (what `spin up` is happy with, the cluster may not be).
    d = docs("prod")
    cases = [
        (app["metadata"]["name"], var)
        for app in find_all(d, "SpinApp")
        for component in app["spec"]["components"]
        for var in sorted(spin.components[component].app_variables)
    ]
    assert len(cases) >= 30 and {name for name, _ in cases} == {f"webhook-inbox-{c}" for c in FIXTURE_ARTIFACTS}
    for name, var in cases:
        d = docs("prod")
        app = find(d, "SpinApp", name)
        app["spec"]["variables"] = [v for v in app["spec"]["variables"] if v["name"] != var]
        found = errors(check(d), "variables")
        assert any(f"{var} (" in m and "not supplied" in m for m in found), (name, var, found)


def test_required_variable_not_supplied(docs, check, spin: SpinManifest) -> None:

    strict = dataclasses.replace(spin, variables=dict(spin.variables))
    strict.variables["log_level"] = dataclasses.replace(spin.variables["log_level"], default=None, required=True)
    d = docs("prod")
    app = find(d, "SpinApp", HEALTH)
    app["spec"]["variables"] = [v for v in app["spec"]["variables"] if v["name"] != "log_level"]
    assert any("log_level (required" in m for m in errors(check(d, spin=strict), "variables"))


def test_variable_value_and_value_from(docs, check) -> None:
    d = docs("prod")
    _variable(find(d, "SpinApp", API), "log_level")["value"] = "debug"
    assert any("exactly one of value and valueFrom" in m for m in errors(check(d), "variables"))


def test_variable_supplied_twice(docs, check) -> None:
    d = docs("prod")
    app = find(d, "SpinApp", API)
    app["spec"]["variables"].append(dict(_variable(app, "log_level")))
    assert any("supplied twice" in m for m in errors(check(d), "variables"))


def test_kv_store_not_configured(docs, check) -> None:
    d = docs("prod")
    del find(d, "SpinApp", API)["spec"]["runtimeConfig"]
    assert any("local SQLite file" in m for m in errors(check(d), "kv-stores"))


def test_kv_store_local_type(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinApp", API)["spec"]["runtimeConfig"]["keyValueStores"][0]["type"] = "spin"
    assert any("use a shared backend" in m for m in errors(check(d), "kv-stores"))


def test_kv_store_url_as_plain_value(docs, check) -> None:
    d = docs("prod")
    store = find(d, "SpinApp", API)["spec"]["runtimeConfig"]["keyValueStores"][0]
    store["options"] = [{"name": "url", "value": "redis://:pw@redis:6379"}]
    assert any("carries credentials" in m for m in errors(check(d), "kv-stores"))


# --- resources ---------------------------------------------------------------------------------------


def test_invocation_memory_above_the_limit(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinApp", API)["spec"]["invocationLimits"]["memory"] = "1Gi"
    assert any("exceeds the pod's memory limit" in m for m in errors(check(d), "resources"))


def test_invocation_limits_missing(docs, check) -> None:
    d = docs("prod")
    del find(d, "SpinApp", API)["spec"]["invocationLimits"]
    assert any("invocationLimits.memory is not set" in m for m in errors(check(d), "resources"))


def test_resources_missing_and_malformed(docs, check) -> None:
    d = docs("prod")
    resources = find(d, "SpinApp", API)["spec"]["resources"]
    del resources["limits"]["cpu"]
    resources["requests"]["memory"] = "lots"
    messages = errors(check(d), "resources")
    assert any("resources.limits.cpu is not set" in m for m in messages)
    assert any("not a quantity" in m for m in messages)


def test_request_above_limit(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinApp", API)["spec"]["resources"]["requests"]["cpu"] = "2"
    assert any("requests.cpu exceeds the limit" in m for m in errors(check(d), "resources"))


# --- references -----------------------------------------------------------------------------------


def test_reference_to_an_unknown_secret(docs, check) -> None:
    d = docs("prod")
    _variable(find(d, "SpinApp", API), "api_token")["valueFrom"]["secretKeyRef"]["name"] = "typo-secrets"
    assert any("typo-secrets is neither generated" in m for m in errors(check(d), "refs"))


def test_reference_to_a_missing_key_of_a_generated_configmap(docs, check) -> None:
    d = docs("prod")
    _variable(find(d, "SpinApp", API), "log_level")["valueFrom"]["configMapKeyRef"]["key"] = "loglevel"
    assert any("has no key 'loglevel'" in m for m in errors(check(d), "refs"))


def test_external_key_not_documented(docs, check) -> None:
    d = docs("prod")
    _variable(find(d, "SpinApp", API), "api_token")["valueFrom"]["secretKeyRef"]["key"] = "token"
    assert any("key 'token' of external Secret" in m for m in errors(check(d), "refs"))


def test_a_secret_nobody_creates_is_refused(docs, check) -> None:
    # dev's Secrets are external now, as in staging and prod: one not in the allow-list fails.
    d = docs("dev")
    api = find(d, "SpinApp", API)
    api["spec"]["variables"][1]["valueFrom"]["secretKeyRef"]["name"] = "webhook-inbox-other"
    assert any("neither generated" in m for m in errors(check(d, "dev"), "refs"))


def test_unused_external_entry_is_a_warning(docs, check) -> None:
    refs = ExternalRefs.from_dict(
        {"overlays": {"prod": {"secrets": {"old": {"keys": ["k"], "createdBy": "hand"}}}}}, "prod"
    )
    findings = check(docs("prod"), "prod", external=refs)
    assert any(f.rule == "refs" and f.severity == WARNING and "old" in f.subject for f in findings)


# --- image ---------------------------------------------------------------------------------------------


def test_a_spinapp_must_run_its_own_components_artifact(docs, check) -> None:
    d = docs("staging")
    find(d, "SpinApp", API)["spec"]["image"] = "ghcr.io/example-org/webhook-inbox/health:0.1.0"
    assert any("not the artifact of its component api" in m for m in errors(check(d, "staging"), "image"))


def test_the_artifacts_come_from_one_repository(docs, check) -> None:
    d = docs("staging")
    find(d, "SpinApp", API)["spec"]["image"] = "ghcr.io/someone-else/webhook-inbox/api:0.1.0"
    assert any("from one repository" in m for m in errors(check(d, "staging"), "image"))


def test_one_component_per_spinapp(docs, check) -> None:
    d = docs("dev")
    find(d, "SpinApp", API)["spec"]["components"] = ["api", "health"]
    assert any("exactly one component" in m for m in errors(check(d, "dev"), "image"))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("ghcr.io/example-org/webhook-inbox", "neither tag nor digest"),
        ("ghcr.io/example-org/webhook-inbox:latest", "latest"),
    ],
)
def test_unpinned_images(docs, check, image: str, message: str) -> None:
    d = docs("dev")
    for app in find_all(d, "SpinApp"):
        app["spec"]["image"] = image.replace("webhook-inbox", f"webhook-inbox/{app['spec']['components'][0]}", 1)
    assert any(message in m for m in errors(check(d, "dev"), "image"))


def test_prod_image_must_be_a_digest(docs, check) -> None:
    d = docs("prod")
    for app in find_all(d, "SpinApp"):
        app["spec"]["image"] = f"ghcr.io/example-org/webhook-inbox/{app['spec']['components'][0]}:1.0.0"
    assert any("pinned by digest" in m for m in errors(check(d), "image"))


def test_registry_port_is_not_a_tag(docs, check) -> None:
    d = docs("dev")
    for app in find_all(d, "SpinApp"):
        app["spec"]["image"] = f"registry.local:5000/webhook-inbox/{app['spec']['components'][0]}"
    assert any("neither tag nor digest" in m for m in errors(check(d, "dev"), "image"))


# --- ingress, PDB, network policies ----------------------------------------------------------------------


def _ingress_path(d: list[dict], path: str) -> dict:
    return next(p for p in find(d, "Ingress")["spec"]["rules"][0]["http"]["paths"] if p["path"] == path)


def test_ingress_path_to_a_spinapp_that_does_not_serve_it(docs, check) -> None:
    d = docs("prod")
    _ingress_path(d, "/api")["backend"]["service"]["name"] = HEALTH
    assert any("routes /api to api, which SpinApp webhook-inbox-health" in m for m in errors(check(d), "ingress"))


def test_ingress_wrong_port(docs, check) -> None:
    d = docs("prod")
    _ingress_path(d, "/webhooks")["backend"]["service"]["port"] = {"number": 8080}
    assert any("listens on port 80" in m for m in errors(check(d), "ingress"))


def test_ingress_unknown_backend(docs, check) -> None:
    d = docs("prod")
    _ingress_path(d, "/webhooks")["backend"]["service"]["name"] = "webhooks"
    assert any("neither a SpinApp's Service nor a Service" in m for m in errors(check(d), "ingress"))


def test_ingress_to_the_interceptor_service_port(docs, check) -> None:
    d = docs("staging")
    _ingress_path(d, "/")["backend"]["service"]["port"] = {"number": 9090}
    assert any("has no port" in m for m in errors(check(d, "staging"), "ingress"))


def test_pdb_selecting_nothing(docs, check) -> None:
    d = docs("prod")
    find(d, "PodDisruptionBudget", API)["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "apii"
    assert any("matches the pods of no SpinApp" in m for m in errors(check(d), "pdb"))


def test_pdb_blocking_drains(docs, check) -> None:
    d = docs("prod")
    find(d, "PodDisruptionBudget", API)["spec"]["minAvailable"] = 2
    assert any("node drains would block forever" in m for m in errors(check(d), "pdb"))


def test_pdb_max_unavailable_zero(docs, check) -> None:
    d = docs("prod")
    spec = find(d, "PodDisruptionBudget", API)["spec"]
    del spec["minAvailable"]
    spec["maxUnavailable"] = 0
    assert any("maxUnavailable 0" in m for m in errors(check(d), "pdb"))


def test_no_default_deny(docs, check) -> None:
    d = [o for o in docs("prod") if not (o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "default-deny-all")]
    assert any("no default-deny" in m for m in errors(check(d), "network-policy"))


# --- probes' delays and capacity ----------------------------------------------------------------

CAPACITY = {
    "margin": 0.5,
    "components": {
        c: {"idle_mib": 36, "per_in_flight_mib": 3.7 if c != "forwarder" else 1.8, "first_start_ms": 800}
        for c in FIXTURE_ARTIFACTS
    }
    # A component another's artifact carries (the ticker) has only its idle cost.
    | {c: {"idle_mib": 3} for c in FIXTURE_COMPONENTS if c not in FIXTURE_ARTIFACTS},
}


@pytest.mark.parametrize("probe", ["readiness", "liveness"])
def test_a_check_without_an_initial_delay_is_refused(docs, check, probe: str) -> None:
    # The CRD defaults it to 10 s: a pod woken from zero would not be Ready for 10 s.
    d = docs("staging")
    del find(d, "SpinApp", WEBHOOK)["spec"]["checks"][probe]["initialDelaySeconds"]
    assert any(f"checks.{probe}.initialDelaySeconds is not set" in m for m in errors(check(d, "staging"), "probes"))


@pytest.mark.parametrize("probe", ["readiness", "liveness"])
@pytest.mark.parametrize("value", ["absent", None])
def test_a_check_without_an_explicit_header_list_is_refused(docs, check, probe: str, value) -> None:
    # spin-operator v0.6.1's defaulting webhook turns an absent list into `null`, which its own
    # CRD schema refuses: the API server rejects the SpinApp (issue 22, seen on a real cluster).
    d = docs("dev")
    http_get = find(d, "SpinApp", WEBHOOK)["spec"]["checks"][probe]["httpGet"]
    if value == "absent":
        del http_get["httpHeaders"]
    else:
        http_get["httpHeaders"] = value
    assert any(f"checks.{probe}.httpGet.httpHeaders is not set" in m for m in errors(check(d, "dev"), "probes"))


def test_the_real_overlays_fit_the_measured_figures(docs, check) -> None:

    measured = yaml.safe_load((REPO / "deploy" / "capacity.yaml").read_text())
    for overlay in ("dev", "staging", "prod"):
        assert errors(check(docs(overlay), overlay, capacity=CAPACITY), "capacity") == []
        assert errors(check(docs(overlay), overlay, capacity=measured), "capacity") == []


def test_the_staging_concurrency_target_must_fit_the_limit(docs, check) -> None:
    # Staging scaled at 50 in-flight requests per pod under a 256 Mi limit: 36 + 50 x 3.7 x 1.5 > 256.
    d = docs("staging")
    for hso in find_all(d, "HTTPScaledObject"):
        hso["spec"]["scalingMetric"]["concurrency"]["targetValue"] = 50
    found = errors(check(d, "staging", capacity=CAPACITY), "capacity")
    assert any("50 in-flight requests (HTTPScaledObject" in m and "above the 256 MiB memory limit" in m for m in found)


def test_a_declared_concurrency_must_fit_the_limit(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinApp", WEBHOOK)["metadata"]["annotations"]["webhook-inbox.dev/max-in-flight"] = "40"
    assert any(
        "40 in-flight requests (annotation" in m for m in errors(check(d, "prod", capacity=CAPACITY), "capacity")
    )
    del find(d, "SpinApp", WEBHOOK)["metadata"]["annotations"]["webhook-inbox.dev/max-in-flight"]
    assert any("no design concurrency" in m for m in errors(check(d, "prod", capacity=CAPACITY), "capacity"))


def test_request_idle_invocation_and_probe_timing(docs, check) -> None:
    d = docs("staging")
    app = find(d, "SpinApp", API)
    app["spec"]["resources"]["requests"]["memory"] = "16Mi"
    app["spec"]["invocationLimits"]["memory"] = "240Mi"
    app["spec"]["checks"]["readiness"]["periodSeconds"] = 5
    app["spec"]["checks"]["liveness"].update(initialDelaySeconds=0, periodSeconds=1, failureThreshold=1)
    found = errors(check(d, "staging", capacity=CAPACITY), "capacity")
    assert any("below the measured idle" in m for m in found)
    assert any("invocationLimits.memory (240 MiB)" in m for m in found)
    assert any("readiness may take 6 s" in m for m in found)
    assert any("liveness may restart a pod 0 s after start" in m for m in found)


def test_a_component_without_figures(docs, check) -> None:
    figures = {"margin": 0.5, "components": {"health": CAPACITY["components"]["health"]}}
    assert any(
        "no figures for component api" in m for m in errors(check(docs("dev"), "dev", capacity=figures), "capacity")
    )


def test_the_ticker_is_sized_into_the_forwarders_pods(docs, check) -> None:
    # The forwarder's SpinApp retains two components; its pods hold both, so the ticker's idle
    # counts against the forwarder's limit, and it needs figures of its own.
    without = {**CAPACITY, "components": {c: f for c, f in CAPACITY["components"].items() if c != "ticker"}}
    found = errors(check(docs("dev"), "dev", capacity=without), "capacity")
    assert found == ["deploy/capacity.yaml has no idle_mib for component ticker, which its pods also run"], found
    heavy = {**CAPACITY, "components": {**CAPACITY["components"], "ticker": {"idle_mib": 150}}}
    found = errors(check(docs("dev"), "dev", capacity=heavy), "capacity")
    assert any(m.startswith("40 in-flight requests (annotation") and "(186 idle + 40 x 1.8 MiB" in m for m in found), (
        found
    )


# --- forwarding: the forwarder's origin, the ticker, egress ---------------------------------------


def _settings(d: list[dict]) -> dict:
    return next(c for c in find_all(d, "ConfigMap") if c["metadata"]["name"].startswith("webhook-inbox-settings"))


def _policy(d: list[dict], name: str) -> dict:
    return find(d, "NetworkPolicy", name)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://webhook-inbox-api", "names Service webhook-inbox-api, which is not the Service of a SpinApp serving"),
        ("http://self", "names Service self"),
        ("http://webhook-inbox-forwarder:8080", "uses port 8080"),
        ("https://webhook-inbox-forwarder", "is not http://<Service>"),
        ("http://webhook-inbox-forwarder.elsewhere.svc", "not a Service of namespace webhook-inbox-prod"),
        ("", "is empty"),
    ],
)
def test_forward_dispatch_url_must_name_the_forwarders_service(docs, check, spin, url: str, message: str) -> None:
    d = docs("prod")
    _settings(d)["data"]["forward_dispatch_url"] = url
    found = errors(check(d), "forwarding")
    # Every SpinApp whose component calls the forwarder (spin.toml: allowed_outbound_hosts on
    # forward_dispatch_url): the webhook's, and the api's once it replays.
    callers = [c for c in spin.components.values() if "forward_dispatch_url" in c.outbound_templates()]
    assert callers and len([m for m in found if message in m]) == len(callers), found


def test_forward_dispatch_url_with_the_namespace_is_fine(docs, check) -> None:
    d = docs("prod")
    _settings(d)["data"]["forward_dispatch_url"] = "http://webhook-inbox-forwarder.webhook-inbox-prod.svc.cluster.local:80"
    assert errors(check(d), "forwarding") == []


def test_forward_dispatch_url_not_supplied(docs, check) -> None:
    # spin.toml's default, http://self, is the caller's own pod: no forwarder runs there.
    d = docs("prod")
    app = find(d, "SpinApp", WEBHOOK)
    app["spec"]["variables"] = [v for v in app["spec"]["variables"] if v["name"] != "forward_dispatch_url"]
    assert any("which is not supplied: spin.toml's default 'http://self'" in m for m in errors(check(d), "forwarding"))


def test_the_webhook_pods_must_reach_the_forwarder(docs, check) -> None:
    d = [
        o
        for o in docs("prod")
        if not (o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "allow-app-egress-to-forwarder")
    ]
    found = errors(check(d), "forwarding")
    assert any(f"cannot reach SpinApp {FORWARDER}'s pods on port 80: no egress rule" in m for m in found)
    d = docs("prod")
    peer = _policy(d, "allow-forwarder-ingress-from-app")["spec"]["ingress"][0]["from"][0]
    peer["podSelector"]["matchExpressions"][1]["values"] = ["api"]
    found = errors(check(d), "forwarding")
    assert any(
        f"SpinApp webhook-inbox-prod/{WEBHOOK}" in f.subject and "no ingress rule of the destination's" in f.message
        for f in check(d)
        if f.rule == "forwarding"
    ), found


def test_nobody_but_its_callers_reaches_the_forwarder(docs, check) -> None:
    # The ingress controller: the base policy without its forwarder exclusion.
    d = docs("prod")
    _policy(d, "allow-ingress-from-ingress-controller")["spec"]["podSelector"]["matchExpressions"].pop()
    found = errors(check(d), "forwarding")
    assert any("allow-ingress-from-ingress-controller" in f.subject and "admits pods outside namespace" in f.message
               for f in check(d) if f.rule == "forwarding"), found
    # Another pod of the namespace (the console, which never calls it).
    d = docs("prod")
    _policy(d, "allow-forwarder-ingress-from-app")["spec"]["ingress"][0]["from"][0]["podSelector"] = {
        "matchExpressions": [{"key": "core.spinkube.dev/app-name", "operator": "Exists"}]
    }
    found = errors(check(d), "forwarding")
    assert any(f"admits SpinApp webhook-inbox-prod/{CONSOLE} to {FORWARDER}" in m for m in found), found
    assert not any(f"admits SpinApp webhook-inbox-prod/{API} " in m for m in found)
    # Anyone (a rule without `from`), and no policy at all.
    d = docs("prod")
    del _policy(d, "allow-forwarder-ingress-from-app")["spec"]["ingress"][0]["from"]
    assert any(f"admits anyone to {FORWARDER}" in m for m in errors(check(d), "forwarding"))
    d = [o for o in docs("prod") if o["kind"] != "NetworkPolicy"]
    assert any("no NetworkPolicy restricts who reaches its pods" in m for m in errors(check(d), "forwarding"))


def test_the_staging_interceptor_does_not_reach_the_forwarder(docs, check) -> None:
    d = docs("staging")
    assert errors(check(d, "staging"), "forwarding") == []
    _policy(d, "allow-ingress-from-keda-interceptor")["spec"]["podSelector"]["matchExpressions"].pop()
    assert any("admits pods outside namespace" in m for m in errors(check(d, "staging"), "forwarding"))


def test_the_dispatch_tick_is_not_public(docs, check) -> None:
    d = docs("prod")
    paths = find(d, "Ingress")["spec"]["rules"][0]["http"]["paths"]
    paths.insert(0, {"path": "/api/dispatch", "pathType": "Exact",
                     "backend": {"service": {"name": FORWARDER, "port": {"number": 80}}}})
    found = errors(check(d), "ingress")
    assert any("/api/dispatch reaches SpinApp webhook-inbox-forwarder" in m and "internal route /api/dispatch" in m
               for m in found), found


def test_the_forwarder_runs_without_its_ticker(docs, check) -> None:
    # The ticker inside the forwarder's pods is what calls POST /api/dispatch: dropped from the
    # SpinApp's components, no retry is ever sent.
    d = docs("dev")
    assert errors(check(d, "dev"), "ticker") == []
    find(d, "SpinApp", FORWARDER)["spec"]["components"] = ["forwarder"]
    found = errors(check(d, "dev"), "ticker")
    assert (
        found
        and "runs forwarder without ticker (components: forwarder)" in found[0]
        and "no retry is ever sent" in found[0]
    )


def test_nothing_ticks_without_a_command_component_in_spin_toml(docs, check, spin) -> None:
    alone = dataclasses.replace(spin, components={k: v for k, v in spin.components.items() if k != "ticker"})
    d = docs("dev")
    find(d, "SpinApp", FORWARDER)["spec"]["components"] = ["forwarder"]
    found = errors(check(d, "dev", spin=alone), "ticker")
    assert any("nothing calls POST /api/dispatch of forwarder" in m for m in found), found


def test_the_ticker_calls_its_own_pod_with_the_forwarders_token(docs, check, spin) -> None:
    ticker = spin.components["ticker"]
    elsewhere = dataclasses.replace(
        spin, components={**spin.components, "ticker": dataclasses.replace(ticker, allowed_outbound_hosts=["http://127.0.0.1:3000"])}
    )
    found = errors(check(docs("dev"), "dev", spin=elsewhere), "ticker")
    assert any("do not allow http://127.0.0.1:80, the pod's own listener" in m for m in found), found
    other = dataclasses.replace(
        spin,
        components={
            **spin.components,
            "ticker": dataclasses.replace(ticker, variables={"api_token": "{{ webhook_github_secret }}"}),
        },
    )
    found = errors(check(docs("dev"), "dev", spin=other), "ticker")
    assert any(
        "ticker's api_token reads ['webhook_github_secret'], forwarder's reads ['api_token']" in m for m in found
    ), found


def test_a_forwarder_at_zero_replicas_never_ticks(docs, check) -> None:
    d = docs("dev")
    find(d, "SpinApp", FORWARDER)["spec"]["replicas"] = 0
    assert any("may run no pod" in m for m in errors(check(d, "dev"), "ticker"))


def test_only_the_forwarder_gets_egress_outside_the_cluster(docs, check) -> None:
    d = docs("prod")
    _policy(d, "allow-forwarder-egress-to-destinations")["spec"]["podSelector"] = {
        "matchExpressions": [{"key": "core.spinkube.dev/app-name", "operator": "Exists"}]
    }
    found = errors(check(d), "egress")
    outside = [m for m in found if "egress to any address outside the cluster" in m]
    assert {m.split("gives SpinApp webhook-inbox-prod/")[1].split(" ")[0] for m in outside} == {
        "webhook-inbox-health", "webhook-inbox-api", "webhook-inbox-webhook", CONSOLE,
    }


def test_destination_egress_excepts_the_private_ranges(docs, check) -> None:
    d = docs("prod")
    block = _policy(d, "allow-forwarder-egress-to-destinations")["spec"]["egress"][0]["to"][0]["ipBlock"]
    block["except"].remove("169.254.0.0/16")
    assert any("does not except 169.254.0.0/16" in m for m in errors(check(d), "egress"))


def test_the_console_gets_no_egress(docs, check) -> None:
    d = docs("prod")
    _policy(d, "allow-dns-egress")["spec"]["podSelector"] = {}
    assert any(
        f"SpinApp webhook-inbox-prod/{CONSOLE}" in f.subject and "reach dns" in f.message
        for f in check(d) if f.rule == "egress" and f.severity == ERROR
    ), errors(check(d), "egress")


def test_a_destination_port_the_network_policy_does_not_allow(docs, check) -> None:
    d = docs("prod")
    _settings(d)["data"]["forward_allowed_host_b"] = "https://hooks.example.com:8443"
    assert any(
        "forward_allowed_host_b" in m and "no egress rule to outside the cluster allows TCP 8443" in m
        for m in errors(check(d), "egress")
    )
    _policy(d, "allow-forwarder-egress-to-destinations")["spec"]["egress"][0]["ports"].append(
        {"protocol": "TCP", "port": 8443}
    )
    assert errors(check(d), "egress") == []
    _settings(d)["data"]["forward_allowed_host_c"] = "https://hooks.example.com"
    assert errors(check(d), "egress") == []


def test_an_internal_route_reachable_from_outside(docs, check) -> None:
    # Routing /api/events/... to the forwarder would expose the token-less dispatch route.
    d = docs("prod")
    paths = find(d, "Ingress")["spec"]["rules"][0]["http"]["paths"]
    paths.insert(0, {"path": "/api/events", "pathType": "Prefix",
                     "backend": {"service": {"name": FORWARDER, "port": {"number": 80}}}})
    found = errors(check(d), "ingress")
    assert any("/api/events/x1/dispatch reaches SpinApp webhook-inbox-forwarder" in m for m in found), found


def test_an_internal_route_reachable_through_the_interceptor(docs, check) -> None:
    d = docs("staging")
    find(d, "HTTPScaledObject", CONSOLE)["spec"]["pathPrefixes"].append("/api/events")
    find(d, "HTTPScaledObject", CONSOLE)["spec"]["scaleTargetRef"]["service"] = CONSOLE
    # The console does not serve the internal route: fine. The forwarder behind the interceptor does.
    assert errors(check(d, "staging"), "ingress") == []
    hso = find(d, "HTTPScaledObject", CONSOLE)
    hso["metadata"]["name"] = FORWARDER
    hso["spec"]["scaleTargetRef"].update(name=FORWARDER, service=FORWARDER)
    found = errors(check(d, "staging"), "ingress")
    assert any("through the KEDA interceptor" in m and "internal route /api/events/:id/dispatch" in m for m in found), (
        found
    )


def test_an_internal_route_spin_toml_does_not_have(docs, check) -> None:
    d = docs("prod")
    find(d, "SpinApp", FORWARDER)["metadata"]["annotations"]["webhook-inbox.dev/internal-routes"] = (
        "/api/events/:id/dispach"
    )
    assert any("which no retained component routes" in m for m in errors(check(d), "ingress"))


def test_a_secret_volume_item_key_must_be_documented(docs, check) -> None:
    # A plain workload of the overlay (none ships now; a fork may add one) mounting one key.
    d = docs("dev")
    volume = {
        "name": "token",
        "secret": {"secretName": "webhook-inbox-secrets", "items": [{"key": "api_tokn", "path": "t"}]},
    }
    d.append({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "sidecar", "namespace": "webhook-inbox-dev"},
        "spec": {"template": {"metadata": {"labels": {"app": "sidecar"}},
                              "spec": {"containers": [{"name": "c", "image": "x"}], "volumes": [volume]}}},
    })  # fmt: skip
    assert any("key 'api_tokn' of external Secret webhook-inbox-secrets" in m for m in errors(check(d, "dev"), "refs"))
