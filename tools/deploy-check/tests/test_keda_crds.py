"""Staging's KEDA objects against the vendored KEDA 2.20.2 / HTTP add-on 0.15.0 CRDs (vendor/keda-crds).

scripts/check-deploy.sh's crd-schema step loads that folder by default; these prove it really
decides: the real staging overlay passes, and an HTTPScaledObject (or ScaledObject) with a field
the CRD does not declare, or of the wrong type, is refused, as the API server's strict field
validation would refuse it. The folder is in the repository, so nothing here skips except the
render of the real overlay without kubectl (loudly; a failure under REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from conftest import REPO, find, find_all
from test_overlays import render, tree  # noqa: F401  (tree: the fixture, a fresh-clone copy of kustomize/)

from inbox_tools.deploy_check import crd_schema
from inbox_tools.manifests import objects_from_docs

KEDA_CRDS = REPO / "tools" / "deploy-check" / "vendor" / "keda-crds"

# Every CRD the two charts ship (keda/templates/crds, http-add-on/templates/crds).
SHIPPED = {
    ("keda.sh", "ScaledObject"),
    ("keda.sh", "ScaledJob"),
    ("keda.sh", "TriggerAuthentication"),
    ("keda.sh", "ClusterTriggerAuthentication"),
    ("eventing.keda.sh", "CloudEventSource"),
    ("eventing.keda.sh", "ClusterCloudEventSource"),
    ("http.keda.sh", "HTTPScaledObject"),
    ("http.keda.sh", "InterceptorRoute"),
}


@pytest.fixture(scope="module")
def registry() -> crd_schema.CrdRegistry:
    return crd_schema.CrdRegistry.load([KEDA_CRDS])


def errors_of(registry: crd_schema.CrdRegistry, doc: dict) -> list[str]:
    (obj,) = objects_from_docs([doc])
    result = crd_schema.validate(obj, registry)
    assert result.status in ("ok", "error"), f"{obj.ref}: no CRD schema for it in {KEDA_CRDS}"
    return result.errors


def test_the_folder_holds_every_crd_the_charts_ship(registry) -> None:
    assert set(registry.crds) == SHIPPED
    assert registry.get("http.keda.sh", "HTTPScaledObject").versions["v1alpha1"].served


def test_files_match_the_sha256_in_sources_md() -> None:
    sources = (KEDA_CRDS / "SOURCES.md").read_text(encoding="utf-8")
    listed = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", sources, re.M))
    files = {p.name for p in KEDA_CRDS.glob("*.yaml")}
    assert set(listed) == files, "SOURCES.md must list the sha256 of every vendored file, and only those"
    for name, digest in listed.items():
        actual = hashlib.sha256((KEDA_CRDS / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name} was edited: vendored files are copied from the charts (SOURCES.md)"


def http_scaled_objects(docs: list[dict]) -> list[dict]:
    found = find_all(docs, "HTTPScaledObject")
    assert found, "staging must have HTTPScaledObjects"
    return found


def test_the_staging_fixture_passes(registry, docs) -> None:
    for doc in http_scaled_objects(docs("staging")):
        assert errors_of(registry, doc) == [], doc["metadata"]["name"]


def test_the_real_rendered_staging_overlay_passes(registry, tree: Path) -> None:  # noqa: F811
    staging = tree / "overlays" / "staging"
    alone = render(staging)
    kustomization = staging / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "\ncomponents:\n  - ../../components/observability\n")
    for variant, docs in (("staging", alone), ("staging + observability", render(staging))):
        keda = [d for d in docs if d["apiVersion"].split("/")[0].endswith("keda.sh")]
        assert keda == http_scaled_objects(docs), variant
        for doc in keda:
            assert errors_of(registry, doc) == [], (variant, doc["metadata"]["name"])


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # Fields people expect on an HTTPScaledObject but the v0.15 CRD does not have.
        (lambda s: s.update(minReplicas=0), "'minReplicas' was unexpected"),
        (lambda s: s.update(host="staging.webhook-inbox.localhost"), "'host' was unexpected"),
        (lambda s: s["scaleTargetRef"].update(namespace="elsewhere"), "'namespace' was unexpected"),
        (lambda s: s["scaleTargetRef"].update(deployment="x"), "'deployment' was unexpected"),
        (lambda s: s["replicas"].update(idle=0), "'idle' was unexpected"),
        (lambda s: s["scalingMetric"]["concurrency"].update(target=30), "'target' was unexpected"),
        (lambda s: s["scalingMetric"].update(cpu={"targetValue": 70}), "'cpu' was unexpected"),
        # Wrong types and ranges.
        (lambda s: s["replicas"].update(max="3"), "'3' is not of type 'integer'"),
        (lambda s: s.update(scaledownPeriod="300s"), "'300s' is not of type 'integer'"),
        (lambda s: s["scaleTargetRef"].update(port="http"), "'http' is not of type 'integer'"),
        (lambda s: s["scalingMetric"]["concurrency"].update(targetValue="30"), "'30' is not of type 'integer'"),
        (lambda s: s.update(hosts="staging.webhook-inbox.localhost"), "is not of type 'array'"),
        (lambda s: s.update(pathPrefixes=[1]), "1 is not of type 'string'"),
        (lambda s: s["replicas"].update(max=2**31), "is greater than the maximum"),
        # Required fields.
        (lambda s: s["scaleTargetRef"].pop("service"), "'service' is a required property"),
        (lambda s: s.pop("scaleTargetRef"), "'scaleTargetRef' is a required property"),
    ],
)
def test_http_scaled_object_is_refused(registry, docs, mutate, expected: str) -> None:
    doc = find(docs("staging"), "HTTPScaledObject", "webhook-inbox-api")
    assert errors_of(registry, doc) == []
    mutate(doc["spec"])
    errors = errors_of(registry, doc)
    assert any(expected in e for e in errors), errors


def test_http_scaled_object_metadata_and_version(registry, docs) -> None:
    doc = find(docs("staging"), "HTTPScaledObject", "webhook-inbox-api")
    doc["status"] = {"conditions": []}  # status is in the schema: not an unknown field
    doc["metadata"]["labelz"] = {}
    assert any("'labelz' was unexpected" in e for e in errors_of(registry, doc))
    doc = find(docs("staging"), "HTTPScaledObject", "webhook-inbox-api")
    doc["apiVersion"] = "http.keda.sh/v1beta1"
    assert any("is not served" in e for e in errors_of(registry, doc))


def scaled_object() -> dict:
    """A ScaledObject as the KEDA docs write one (staging uses none today; the schema is loaded too)."""
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "webhook-inbox-forwarder", "namespace": "webhook-inbox-staging"},
        "spec": {
            "scaleTargetRef": {"name": "webhook-inbox-forwarder"},
            "minReplicaCount": 1,
            "maxReplicaCount": 3,
            "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}],
        },
    }


def test_scaled_object(registry) -> None:
    assert errors_of(registry, scaled_object()) == []
    doc = scaled_object()
    doc["spec"]["minReplicas"] = 1
    doc["spec"]["maxReplicaCount"] = "3"
    doc["spec"]["triggers"][0]["metadata"]["value"] = 70  # trigger metadata is a map of strings
    errors = errors_of(registry, doc)
    assert any("'minReplicas' was unexpected" in e for e in errors), errors
    assert any("'3' is not of type 'integer'" in e for e in errors), errors
    assert any("70 is not of type 'string'" in e for e in errors), errors
