"""Strict CRD-schema validation and built-in Kubernetes schema validation."""

from __future__ import annotations

import jsonschema
import pytest
from conftest import crds_dir, find, require_or_skip

from inbox_tools.deploy_check import crd_schema, k8s_schema
from inbox_tools.manifests import objects_from_docs


@pytest.fixture(scope="module")
def registry() -> crd_schema.CrdRegistry:
    directory = crds_dir()
    require_or_skip(directory.is_dir(), f"SpinKube CRD folder not found: {directory} (set SPINKUBE_CRDS_DIR)")
    return crd_schema.CrdRegistry.load([directory])


def crd_errors(registry, doc: dict) -> list[str]:
    (obj,) = objects_from_docs([doc])
    result = crd_schema.validate(obj, registry)
    assert result.status in ("ok", "error")
    return result.errors


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_rendered_spin_objects_are_valid(registry, docs, overlay: str) -> None:
    for obj in objects_from_docs(docs(overlay)):
        if obj.group == "core.spinkube.dev":
            assert crd_schema.validate(obj, registry).errors == [], obj.ref


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # Fields people expect on a SpinApp but the CRD does not have.
        (lambda s: s.update(nodeSelector={"a": "b"}), "'nodeSelector' was unexpected"),
        (lambda s: s.update(securityContext={}), "'securityContext' was unexpected"),
        (lambda s: s.update(port=8080), "'port' was unexpected"),
        (lambda s: s["checks"]["readiness"]["httpGet"].update(port=80), "'port' was unexpected"),
        (lambda s: s["variables"][0]["valueFrom"].update(secretRef={"name": "x"}), "'secretRef' was unexpected"),
        (lambda s: s["runtimeConfig"]["keyValueStores"][0].update(url="redis://x"), "'url' was unexpected"),
        # Types, required fields and constraints.
        (lambda s: s.update(replicas="2"), "'2' is not of type 'integer'"),
        (lambda s: s.update(replicas=2**31), "is greater than the maximum"),
        (lambda s: s.pop("image"), "'image' is a required property"),
        (lambda s: s.update(components=[]), "should be non-empty"),
        (lambda s: s["resources"]["limits"].update(memory="lots"), "does not match"),
        (lambda s: s["checks"]["liveness"]["httpGet"].pop("path"), "'path' is a required property"),
    ],
)
def test_spinapp_strict_schema_rejects(registry, docs, mutate, expected: str) -> None:
    doc = find(docs("dev"), "SpinApp", "webhook-inbox-api")
    mutate(doc["spec"])
    assert any(expected in e for e in crd_errors(registry, doc)), crd_errors(registry, doc)


def test_metadata_is_strict_object_meta(registry, docs) -> None:
    doc = find(docs("dev"), "SpinApp", "webhook-inbox-api")
    doc["metadata"]["labelz"] = {}
    doc["metadata"]["labels"]["bad key"] = "x"
    errors = crd_errors(registry, doc)
    assert any("'labelz' was unexpected" in e for e in errors)
    assert any("invalid label key 'bad key'" in e for e in errors)


def test_executor_strict_schema(registry, docs) -> None:
    doc = find(docs("dev"), "SpinAppExecutor")
    doc["spec"]["deploymentConfig"]["otel"] = {"endpoint": "http://x"}
    doc["spec"]["replicas"] = 1
    errors = crd_errors(registry, doc)
    assert any("'endpoint' was unexpected" in e for e in errors)
    assert any("'replicas' was unexpected" in e for e in errors)
    del doc["spec"]["createDeployment"]
    assert any("'createDeployment' is a required property" in e for e in crd_errors(registry, doc))


def test_unserved_version(registry, docs) -> None:
    doc = find(docs("dev"), "SpinApp", "webhook-inbox-api")
    doc["apiVersion"] = "core.spinkube.dev/v1"
    assert any("is not served" in e for e in crd_errors(registry, doc))


def test_kind_without_crd_is_reported_not_validated(registry, docs) -> None:
    (obj,) = objects_from_docs([find(docs("staging"), "HTTPScaledObject")])
    assert crd_schema.validate(obj, registry).status == "no-schema"


def test_strictify_translates_kubernetes_extensions() -> None:
    schema = crd_schema.strict_schema(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "port": {"x-kubernetes-int-or-string": True},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        "pruned": {"type": "object"},
                        "maybe": {"type": "string", "nullable": True},
                        "count": {"type": "integer", "format": "int32"},
                        "map": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                }
            },
        },
        root=True,
    )

    validator = jsonschema.Draft4Validator(schema)

    def ok(spec: dict) -> bool:
        return validator.is_valid({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec})

    assert ok({"port": 80}) and ok({"port": "http"}) and not ok({"port": 1.5})
    assert ok({"free": {"anything": {"goes": 1}}})
    assert ok({"pruned": {}}) and not ok({"pruned": {"x": 1}})
    assert ok({"maybe": None})
    assert not ok({"count": 2**31})
    assert ok({"map": {"k": "v"}}) and not ok({"map": {"k": 1}})
    assert not ok({"unknown": 1})


# --- built-in kinds (kubernetes-validate) ---------------------------------------------------------

K8S = "1.35.0"


def k8s_result(doc: dict) -> k8s_schema.Result:
    (obj,) = objects_from_docs([doc])
    return k8s_schema.validate(obj, K8S)


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_rendered_builtin_objects_are_valid(docs, overlay: str) -> None:
    for doc in docs(overlay):
        result = k8s_result(doc)
        assert result.status in ("ok", "crd"), (doc["kind"], result.errors)


def test_builtin_unknown_field_rejected(docs) -> None:
    doc = find(docs("prod"), "HorizontalPodAutoscaler")
    doc["spec"]["scaleTargetRef"]["namespace"] = "x"
    result = k8s_result(doc)
    assert result.status == "error" and "'namespace' was unexpected" in result.errors[0]


def test_builtin_wrong_type_rejected(docs) -> None:
    doc = find(docs("prod"), "PodDisruptionBudget")
    doc["spec"]["selector"]["matchLabels"] = ["not", "a", "map"]
    assert k8s_result(doc).status == "error"


def test_crd_kinds_are_left_to_crd_schema(docs) -> None:
    assert k8s_result(find(docs("prod"), "SpinApp")).status == "crd"


def test_unknown_builtin_version(docs) -> None:
    doc = find(docs("prod"), "HorizontalPodAutoscaler")
    doc["apiVersion"] = "autoscaling/v2beta1"
    assert k8s_result(doc).status == "no-schema"
