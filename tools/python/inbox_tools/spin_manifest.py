"""The project's one model of ``spin.toml`` (manifest version 2): variables, components, routes.

Only the parts of the manifest that decide whether a SpinApp can work are modelled: which
components exist, which HTTP routes each serves, which application variables each one reads
(through ``{{ variable }}`` templates in ``[component.<id>.variables]``), which key-value stores
it opens, and which components spin.toml gives no trigger because the cluster runs them on one
inside another component's artifact (``[component.<id>.tool.webhook-inbox]``: ``trigger`` and
``with``; :mod:`inbox_tools.components` writes that trigger into the artifact).

Every reader of spin.toml uses :class:`SpinManifest`: deploy_check's rules, the per-component
artifacts (:mod:`inbox_tools.components`), the deploy scripts' YAML helper
(:mod:`inbox_tools.deploy_manifest`), the observability check and the bench. It keeps the table as
written (:attr:`SpinManifest.data`, what the artifacts' manifests copy) beside the typed view, and
decides who carries whom (:meth:`SpinManifest.artifacts`, :meth:`SpinManifest.members`) once, when
it is loaded. Standard library only: scripts that run outside the project's virtualenv use it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Spin variable names: lowercase ASCII letters, digits and underscores, starting with a letter.
VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# A template reference: "{{ name }}" (spaces optional).
TEMPLATE_REF = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# `[component.<id>.tool.<TOOL>]`: how the cluster runs a component spin.toml gives no trigger.
TOOL = "webhook-inbox"
# Triggers a carried component may declare there: the ones that need no settings beyond the
# component (the SpinKube shim v0.24 runs http, redis, mqtt, sqs and command).
CARRIED_TRIGGERS = ("command",)


class ManifestError(ValueError):
    """spin.toml cannot be used (unreadable, wrong version, inconsistent)."""


@dataclass(frozen=True)
class Variable:
    """An application variable from ``[variables]``."""

    name: str
    default: str | None
    required: bool
    secret: bool

    @property
    def has_default(self) -> bool:
        return self.default is not None


@dataclass(frozen=True)
class Route:
    """One ``[[trigger.http]]`` entry."""

    path: str
    component: str
    private: bool = False

    @property
    def is_wildcard(self) -> bool:
        return self.path == "/..." or self.path.endswith("/...")

    @property
    def is_catch_all(self) -> bool:
        return self.path == "/..."


@dataclass
class Component:
    """A ``[component.<id>]`` table."""

    id: str
    # Its Wasm file (`source`, relative to spin.toml's folder) when that is a path.
    source: str | None = None
    # Component-level variable name -> template (e.g. "api_token" -> "{{ api_token }}").
    variables: dict[str, str] = field(default_factory=dict)
    key_value_stores: list[str] = field(default_factory=list)
    # Paths its catch-all route really serves (not the 404 fallback), declared in spin.toml as
    # `[component.<id>.tool.deploy-check] serves = [...]` (Spin ignores `tool` tables).
    serves: list[str] = field(default_factory=list)
    # Its `allowed_outbound_hosts`, as written (templates unresolved).
    allowed_outbound_hosts: list[str] = field(default_factory=list)
    # `[component.<id>.tool.webhook-inbox]`: the trigger the cluster runs it on (`command`) and
    # the component whose artifact carries it (`with`); None for a component of its own.
    trigger: str | None = None
    carried_with: str | None = None

    def outbound_templates(self) -> set[str]:
        """The component-level variables its allowed_outbound_hosts entries are templated on."""
        names: set[str] = set()
        for host in self.allowed_outbound_hosts:
            names.update(TEMPLATE_REF.findall(host))
        return names

    def outbound_app_variables(self, variable: str) -> set[str]:
        """The application variables a component-level variable's template reads."""
        return set(TEMPLATE_REF.findall(self.variables.get(variable, "")))

    @property
    def app_variables(self) -> set[str]:
        """Application variables this component reads through its templates."""
        names: set[str] = set()
        for template in self.variables.values():
            names.update(TEMPLATE_REF.findall(template))
        return names


@dataclass
class SpinManifest:
    """The parsed manifest."""

    path: Path
    variables: dict[str, Variable]
    # In spin.toml's order.
    components: dict[str, Component]
    routes: list[Route]
    # The table as written (what a derived manifest copies); empty for a model built in code.
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> SpinManifest:
        path = Path(path)
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ManifestError(f"{path}: {error}") from error
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: dict, path: str | Path = "spin.toml") -> SpinManifest:
        path = Path(path)
        version = data.get("spin_manifest_version")
        if version != 2:
            raise ManifestError(f"{path}: spin_manifest_version must be 2, got {version!r}")

        variables: dict[str, Variable] = {}
        for name, spec in (data.get("variables") or {}).items():
            if not isinstance(spec, dict):
                raise ManifestError(f"{path}: variable {name!r} must be a table")
            if not VARIABLE_NAME.match(name):
                raise ManifestError(f"{path}: invalid variable name {name!r}")
            default = spec.get("default")
            variables[name] = Variable(
                name=name,
                default=None if default is None else str(default),
                required=bool(spec.get("required", False)),
                secret=bool(spec.get("secret", False)),
            )

        components: dict[str, Component] = {}
        for component_id, spec in (data.get("component") or {}).items():
            if not isinstance(spec, dict):
                raise ManifestError(f"{path}: component {component_id!r} must be a table")
            tool = (spec.get("tool") or {}).get(TOOL) or {}
            source = spec.get("source")
            components[component_id] = Component(
                id=component_id,
                source=source if isinstance(source, str) else None,
                variables={k: str(v) for k, v in (spec.get("variables") or {}).items()},
                key_value_stores=[str(s) for s in spec.get("key_value_stores") or []],
                serves=[str(p) for p in ((spec.get("tool") or {}).get("deploy-check") or {}).get("serves") or []],
                allowed_outbound_hosts=[str(h) for h in spec.get("allowed_outbound_hosts") or []],
                trigger=_str_or_none(tool.get("trigger")),
                carried_with=_str_or_none(tool.get("with")),
            )

        routes: list[Route] = []
        for trigger in (data.get("trigger") or {}).get("http") or []:
            component = trigger.get("component")
            if not isinstance(component, str):
                # Inline component tables have no id a SpinApp could retain; ignore them.
                continue
            route = trigger.get("route")
            if isinstance(route, dict):
                routes.append(Route(path="", component=component, private=bool(route.get("private"))))
            elif isinstance(route, str):
                routes.append(Route(path=route, component=component))
            else:
                raise ManifestError(f"{path}: http trigger for {component!r} has no route")
            if component not in components:
                raise ManifestError(f"{path}: http trigger names unknown component {component!r}")

        manifest = cls(path=path, variables=variables, components=components, routes=routes, data=data)
        for component in components.values():
            _check_carrier(path, component, components)
            for name in component.app_variables:
                if name not in variables:
                    raise ManifestError(
                        f"{path}: component {component.id!r} references undeclared variable {name!r}"
                    )
        return manifest

    def carried_by(self, component: str) -> list[str]:
        """The components whose tool table says `component`'s artifact carries them."""
        return [c.id for c in self.components.values() if c.carried_with == component]

    def artifacts(self) -> list[str]:
        """The components that are artifacts of their own (the others ride in one of these)."""
        return [c.id for c in self.components.values() if c.carried_with is None]

    def members(self, artifact: str) -> list[str]:
        """The components the artifact of `artifact` holds: itself, then those it carries."""
        if artifact not in self.components:
            raise ManifestError(f"no component {artifact!r} in spin.toml (components: {', '.join(self.components)})")
        if (owner := self.components[artifact].carried_with) is not None:
            raise ManifestError(f"component {artifact!r} is not an artifact: it rides in {owner!r}'s")
        return [artifact, *self.carried_by(artifact)]

    def retained(self, components: list[str] | None) -> set[str]:
        """Component ids kept by a SpinApp's ``components:`` (all of them when it is absent)."""
        if components is None:
            return set(self.components)
        return {c for c in components if c in self.components}


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _check_carrier(path: Path, component: Component, components: dict[str, Component]) -> None:
    """A carried component names, as `with`, another component that is an artifact itself, and a
    trigger the cluster can run it on."""
    carried_with = component.carried_with
    if carried_with is None:
        return
    where = f"{path}: component {component.id!r}: tool.{TOOL}"
    if carried_with not in components:
        raise ManifestError(f"{where}.with = {carried_with!r} is not a component of spin.toml")
    if carried_with == component.id or components[carried_with].carried_with is not None:
        raise ManifestError(f"{where}.with must name a component that is an artifact itself")
    if component.trigger not in CARRIED_TRIGGERS:
        raise ManifestError(
            f"{where}.trigger = {component.trigger!r}; a carried component runs on one of: "
            + ", ".join(CARRIED_TRIGGERS)
        )


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def route_matches(route: str, path: str) -> bool:
    """Whether a Spin route pattern matches a request path.

    Supports exact routes (``/healthz``), trailing wildcards (``/api/...`` matches ``/api`` and
    everything below it; ``/...`` matches everything) and ``:name`` segments.
    """
    wildcard = route == "/..." or route.endswith("/...")
    pattern = _segments(route[: -len("...")] if wildcard else route)
    segments = _segments(path.split("?", 1)[0])
    if wildcard:
        if len(segments) < len(pattern):
            return False
        segments = segments[: len(pattern)]
    elif len(segments) != len(pattern):
        return False
    return all(p.startswith(":") or p == s for p, s in zip(pattern, segments, strict=True))


def _specificity(route: Route) -> tuple[int, int, int]:
    """Higher wins: exact before wildcard, then more literal segments, then more segments."""
    base = route.path[: -len("...")] if route.is_wildcard else route.path
    segments = _segments(base)
    literal = sum(1 for s in segments if not s.startswith(":"))
    return (0 if route.is_wildcard else 1, literal, len(segments))


def best_route(routes: list[Route], path: str, components: set[str] | None = None) -> Route | None:
    """The route Spin dispatches ``path`` to, among public routes of ``components`` (all if None)."""
    candidates = [
        r
        for r in routes
        if not r.private
        and r.path
        and (components is None or r.component in components)
        and route_matches(r.path, path)
    ]
    if not candidates:
        return None
    return max(candidates, key=_specificity)
