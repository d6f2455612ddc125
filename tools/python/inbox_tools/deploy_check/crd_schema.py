"""Validate custom resources against their CRD's openAPIV3Schema the way the API server does.

``kubectl apply`` (kubectl >= 1.27) asks the API server for *strict* field validation: a field
that the structural schema does not declare is an error, not silently pruned. JSON Schema allows
unknown properties by default, so the CRD schema is first made strict: every object that declares
``properties`` (or declares nothing and does not preserve unknown fields, which the API server
prunes entirely) gets ``additionalProperties: false``, recursively. Kubernetes extensions are
translated: ``x-kubernetes-int-or-string``, ``nullable``, ``format: int32/int64`` ranges,
``x-kubernetes-preserve-unknown-fields`` and ``x-kubernetes-embedded-resource``.

``metadata`` is validated as ObjectMeta (the CRD schema only says ``type: object`` there), also
strictly, including the API server's label and name syntax. CEL rules
(``x-kubernetes-validations``) cannot be evaluated offline; they are counted and reported.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from inbox_tools.manifests import Obj, dotted

DNS_1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_PREFIX = re.compile(DNS_1123_SUBDOMAIN)

INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

# ObjectMeta as a client may send it, strict (unknown fields rejected like everywhere else).
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS_1123_SUBDOMAIN},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": DNS_1123_LABEL},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array"},
        "selfLink": {"type": "string"},
    },
}


class CrdError(ValueError):
    """A CRD file that cannot be used."""


@dataclass
class CrdVersion:
    name: str
    served: bool
    schema: dict[str, Any]
    cel_rules: int


@dataclass
class Crd:
    group: str
    kind: str
    scope: str
    source: str
    versions: dict[str, CrdVersion] = field(default_factory=dict)


@dataclass
class CrdRegistry:
    crds: dict[tuple[str, str], Crd] = field(default_factory=dict)

    def get(self, group: str, kind: str) -> Crd | None:
        return self.crds.get((group, kind))

    def add_document(self, doc: dict, source: str) -> None:
        spec = doc.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        if not group or not kind:
            raise CrdError(f"{source}: CRD without spec.group or spec.names.kind")
        crd = Crd(group=group, kind=kind, scope=spec.get("scope", "Namespaced"), source=source)
        for version in spec.get("versions") or []:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
            if schema is None:
                raise CrdError(f"{source}: {kind} {version.get('name')} has no openAPIV3Schema")
            crd.versions[version["name"]] = CrdVersion(
                name=version["name"],
                served=bool(version.get("served", False)),
                schema=strict_schema(schema, root=True),
                cel_rules=count_cel_rules(schema),
            )
        self.crds[(group, kind)] = crd

    @classmethod
    def load(cls, directories: list[str | Path]) -> CrdRegistry:
        registry = cls()
        for directory in directories:
            directory = Path(directory)
            files = sorted(list(directory.glob("*.yaml")) + list(directory.glob("*.yml")))
            if not files:
                raise CrdError(f"{directory}: no CRD files (*.yaml)")
            for path in files:
                try:
                    docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
                except (OSError, yaml.YAMLError) as error:
                    raise CrdError(f"{path}: {error}") from error
                for doc in docs:
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        registry.add_document(doc, str(path))
        return registry


def count_cel_rules(schema: Any) -> int:
    if isinstance(schema, dict):
        own = len(schema.get("x-kubernetes-validations") or [])
        return own + sum(count_cel_rules(v) for k, v in schema.items() if k != "x-kubernetes-validations")
    if isinstance(schema, list):
        return sum(count_cel_rules(v) for v in schema)
    return 0


def strict_schema(schema: dict[str, Any], root: bool = False) -> dict[str, Any]:
    """A JSON-Schema (draft 4) copy of a structural schema that rejects undeclared fields."""
    node = copy.deepcopy(schema)
    _strictify(node)
    if root:
        props = node.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = copy.deepcopy(OBJECT_META)
        node["additionalProperties"] = False
    return node


def _strictify(node: Any) -> None:
    if not isinstance(node, dict):
        return
    node.pop("x-kubernetes-validations", None)
    if node.pop("x-kubernetes-int-or-string", False) and not any(k in node for k in ("anyOf", "oneOf")):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.pop("nullable", False) and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    fmt = node.get("format")
    if fmt in INT_RANGES and node.get("type") in ("integer", ["integer", "null"]):
        low, high = INT_RANGES[fmt]
        node.setdefault("minimum", low)
        node.setdefault("maximum", high)
    preserve = bool(node.pop("x-kubernetes-preserve-unknown-fields", False))
    if node.pop("x-kubernetes-embedded-resource", False):
        props = node.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", copy.deepcopy(OBJECT_META))
    is_object = node.get("type") in ("object", ["object", "null"])
    if is_object and not preserve and "additionalProperties" not in node:
        # Declared properties only; an object declaring nothing is pruned empty by the API server.
        node["additionalProperties"] = False
        node.setdefault("properties", {})
    for key in ("properties", "patternProperties"):
        for child in (node.get(key) or {}).values():
            _strictify(child)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            _strictify(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        for child in node.get(key) or []:
            _strictify(child)


def _label_errors(metadata: dict[str, Any]) -> list[str]:
    errors = []
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, name = str(key).rpartition("/")
        if (
            (prefix and (len(prefix) > 253 or not LABEL_PREFIX.match(prefix)))
            or len(name) > 63
            or not LABEL_NAME.match(name)
        ):
            errors.append(f"metadata.labels: invalid label key {key!r}")
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            errors.append(f"metadata.labels.{key}: invalid label value {value!r}")
    return errors


@dataclass
class Result:
    obj: Obj
    status: str  # "ok", "error" or "no-schema"
    errors: list[str] = field(default_factory=list)
    cel_rules: int = 0


def validate(obj: Obj, registry: CrdRegistry) -> Result:
    crd = registry.get(obj.group, obj.kind)
    if crd is None:
        return Result(obj, "no-schema")
    version = crd.versions.get(obj.version)
    if version is None or not version.served:
        served = ", ".join(v.name for v in crd.versions.values() if v.served)
        return Result(obj, "error", [f"apiVersion {obj.api_version} is not served by the CRD (served: {served})"])
    validator = jsonschema.Draft4Validator(version.schema)
    errors = [
        f"{dotted(tuple(e.absolute_path))}: {e.message}"
        for e in sorted(validator.iter_errors(obj.doc), key=lambda e: [str(p) for p in e.absolute_path])
    ]
    errors.extend(_label_errors(obj.metadata))
    if crd.scope == "Namespaced" and not obj.namespace:
        errors.append("metadata.namespace: a namespaced kind without a namespace")
    return Result(obj, "error" if errors else "ok", errors, version.cel_rules)
