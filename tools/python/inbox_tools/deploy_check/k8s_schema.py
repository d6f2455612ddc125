"""Validate built-in kinds against the Kubernetes OpenAPI schemas (package kubernetes-validate).

The strict variant of the schemas rejects undeclared fields, like the API server's strict field
validation. Kinds from API groups that are not built in (``*.k8s.io`` or core) are CRDs: they are
left to :mod:`inbox_tools.deploy_check.crd_schema` and reported as such here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, VersionNotSupportedError

from inbox_tools.manifests import Obj

# API groups served by the API server itself (everything else needs a CRD).
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "extensions",
    }
)


def is_builtin(obj: Obj) -> bool:
    return obj.group in BUILTIN_GROUPS or obj.group.endswith(".k8s.io")


@dataclass
class Result:
    obj: Obj
    status: str  # "ok", "error", "crd" (not a built-in kind) or "no-schema"
    errors: list[str] = field(default_factory=list)


class UnsupportedVersionError(ValueError):
    pass


def validate(obj: Obj, kubernetes_version: str) -> Result:
    if not is_builtin(obj):
        return Result(obj, "crd")
    try:
        kubernetes_validate.validate(obj.doc, kubernetes_version, strict=True)
    except ValidationError as e:
        path = ".".join(str(p) for p in e.path) or "<root>"
        return Result(obj, "error", [f"{path}: {e.message}"])
    except SchemaNotFoundError as e:
        return Result(obj, "no-schema", [e.message])
    except VersionNotSupportedError as e:
        raise UnsupportedVersionError(e.message) from e
    return Result(obj, "ok")
