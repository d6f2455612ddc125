"""The allow-list of Secrets/ConfigMaps created outside git (kustomize/external-refs.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ExternalRefsError(ValueError):
    """The allow-list file is malformed."""


@dataclass(frozen=True)
class ExternalRef:
    kind: str  # "Secret" or "ConfigMap"
    name: str
    keys: frozenset[str]
    created_by: str


@dataclass
class ExternalRefs:
    """External references allowed for one overlay."""

    entries: dict[tuple[str, str], ExternalRef] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> ExternalRef | None:
        return self.entries.get((kind, name))

    @classmethod
    def load(cls, path: str | Path, overlay: str) -> ExternalRefs:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ExternalRefsError(f"{path}: {error}") from error
        return cls.from_dict(data, overlay, str(path))

    @classmethod
    def from_dict(cls, data: dict, overlay: str, source: str = "external-refs") -> ExternalRefs:
        if not isinstance(data, dict) or not isinstance(data.get("overlays", {}), dict):
            raise ExternalRefsError(f"{source}: expected a mapping with an 'overlays' mapping")
        section = (data.get("overlays") or {}).get(overlay) or {}
        refs = cls()
        for field_name, kind in (("secrets", "Secret"), ("configMaps", "ConfigMap")):
            for name, spec in (section.get(field_name) or {}).items():
                if not isinstance(spec, dict):
                    raise ExternalRefsError(f"{source}: {overlay}.{field_name}.{name} must be a mapping")
                keys = spec.get("keys")
                if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
                    raise ExternalRefsError(f"{source}: {overlay}.{field_name}.{name}.keys must list the keys used")
                created_by = spec.get("createdBy")
                if not isinstance(created_by, str) or not created_by.strip():
                    raise ExternalRefsError(
                        f"{source}: {overlay}.{field_name}.{name}.createdBy must say how it is created"
                    )
                refs.entries[(kind, name)] = ExternalRef(kind, name, frozenset(keys), created_by)
        return refs
