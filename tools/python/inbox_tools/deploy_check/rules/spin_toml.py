"""Rules against spin.toml: components, probes, variables, key-value stores, resources."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

from inbox_tools.deploy_check.findings import Finding, error, warning
from inbox_tools.deploy_check.quantity import QuantityError, parse_quantity
from inbox_tools.deploy_check.rules.base import SECRET_OPTION_NAMES, SHARED_KV_TYPES, Context, rule
from inbox_tools.spin_manifest import best_route

# --- spin.toml: components, probes, variables, key-value stores -------------------------------


@rule("components")
def check_components(ctx: Context) -> list[Finding]:
    """Every components: entry exists in spin.toml, each retained one has a trigger, and the
    retained set serves HTTP.

    A component spin.toml routes nothing to is accepted only when its tool table says the cluster
    runs it on a command trigger inside another component's artifact (`[component.<id>.tool.
    webhook-inbox] trigger = "command"`, `with = <id>`: the ticker, with the forwarder) and the
    SpinApp also retains that component; anything else retained without a route would run nothing.
    """
    findings = []
    routed_anyhow = {r.component for r in ctx.spin.routes}
    for app in ctx.spinapps:
        components = app.spec.get("components")
        if components is None:
            continue
        for name, count in Counter(components).items():
            if name not in ctx.spin.components:
                known = ", ".join(sorted(ctx.spin.components))
                findings.append(error("components", app.ref, f"component {name!r} is not in spin.toml ({known})"))
            if count > 1:
                findings.append(warning("components", app.ref, f"component {name!r} is listed {count} times"))
        retained = ctx.retained(app)
        for component_id in sorted(retained - routed_anyhow):
            component = ctx.spin.components[component_id]
            if component.trigger == "command" and component.carried_with is not None:
                if component.carried_with not in retained:
                    findings.append(
                        error(
                            "components",
                            app.ref,
                            f"component {component_id} runs on a command trigger inside {component.carried_with}'s "
                            f"artifact (spin.toml tool.webhook-inbox), but this SpinApp does not retain "
                            f"{component.carried_with}: retain both",
                        )
                    )
                continue
            findings.append(
                error(
                    "components",
                    app.ref,
                    f"component {component_id} has no route in spin.toml and no command trigger in its "
                    "[component.<id>.tool.webhook-inbox] table: retained, it would run nothing",
                )
            )
        if not any(r.component in retained and not r.private for r in ctx.spin.routes):
            findings.append(error("components", app.ref, "no retained component has a public HTTP route"))
    # The other way round: a component spin.toml routes to that no SpinApp runs would be missing
    # from the cluster (its routes answered by the health component's 404).
    for namespace in sorted({a.namespace or "" for a in ctx.spinapps}):
        run = set().union(*(ctx.retained(a) for a in ctx.spinapps if (a.namespace or "") == namespace))
        routed = {r.component for r in ctx.spin.routes if not r.private}
        for component_id in sorted(c for c in ctx.spin.components if c in routed and c not in run):
            findings.append(
                error(
                    "components",
                    f"Namespace {namespace}",
                    f"component {component_id} (spin.toml) is run by no SpinApp: add a SpinApp for it "
                    "(kustomize/base/spinapps.yaml)",
                )
            )
    return findings


@rule("probes")
def check_probes(ctx: Context) -> list[Finding]:
    """Both probes are set and hit a route a retained component really serves."""
    findings = []
    for app in ctx.spinapps:
        retained = ctx.retained(app)
        checks = app.spec.get("checks") or {}
        for probe in ("readiness", "liveness"):
            if isinstance(checks.get(probe), dict) and not isinstance(checks[probe].get("initialDelaySeconds"), int):
                findings.append(
                    error(
                        "probes",
                        app.ref,
                        f"checks.{probe}.initialDelaySeconds is not set: the CRD defaults it to 10 s and the operator "
                        "copies that into the pod (a pod woken from zero would not be Ready for 10 s); set a measured "
                        "one",
                    )
                )
            http_get = (checks.get(probe) or {}).get("httpGet") or {}
            if isinstance(checks.get(probe), dict) and not isinstance(http_get.get("httpHeaders"), list):
                # Not a schema rule: the CRD allows leaving it out. spin-operator v0.6.1's Go type
                # has `json:"httpHeaders"` without omitempty, so its defaulting webhook re-marshals
                # the SpinApp and patches in `httpHeaders: null`, which the CRD's schema (an array,
                # not nullable) then refuses: the API server rejects the whole SpinApp. Seen on a
                # real cluster (e2e/tests/cluster.rs); an explicit list survives the round trip.
                findings.append(
                    error(
                        "probes",
                        app.ref,
                        f"checks.{probe}.httpGet.httpHeaders is not set: spin-operator v0.6.1's defaulting webhook "
                        "adds `httpHeaders: null`, which its own CRD schema then refuses; set `httpHeaders: []`",
                    )
                )
            path = http_get.get("path")
            if not path:
                findings.append(error("probes", app.ref, f"checks.{probe}.httpGet.path is not set"))
                continue
            if not str(path).startswith("/"):
                findings.append(error("probes", app.ref, f"checks.{probe} path {path!r} must start with /"))
                continue
            route = best_route(ctx.spin.routes, str(path), retained)
            if route is None:
                findings.append(
                    error(
                        "probes",
                        app.ref,
                        f"checks.{probe} path {path} is not served by any retained component "
                        f"({', '.join(sorted(retained))}); retain the component that serves it",
                    )
                )
            elif route.is_catch_all and str(path) not in ctx.spin.components[route.component].serves:
                findings.append(
                    error(
                        "probes",
                        app.ref,
                        f"checks.{probe} path {path} is only matched by {route.component}'s catch-all route /... "
                        "(the 404 fallback), not by a health endpoint",
                    )
                )
    return findings


@rule("variables")
def check_variables(ctx: Context) -> list[Finding]:
    """Every variable a retained component reads is supplied (secrets only via secretKeyRef), and
    nothing a component does not read: the SpinApp's variables are exactly its components' in
    spin.toml."""
    findings = []
    for app in ctx.spinapps:
        retained = ctx.retained(app)
        used: dict[str, set[str]] = defaultdict(set)
        for component_id in retained:
            for var in ctx.spin.components[component_id].app_variables:
                used[var].add(component_id)
        supplied: dict[str, dict] = {}
        for i, entry in enumerate(app.spec.get("variables") or []):
            name = (entry or {}).get("name")
            if not isinstance(name, str):
                findings.append(error("variables", app.ref, f"spec.variables[{i}] has no name"))
                continue
            if name in supplied:
                findings.append(error("variables", app.ref, f"variable {name} is supplied twice"))
            supplied[name] = entry
        for name, entry in supplied.items():
            declared = ctx.spin.variables.get(name)
            if declared is None:
                findings.append(
                    error("variables", app.ref, f"variable {name} is not declared in spin.toml [variables]")
                )
                continue
            if name not in used:
                findings.append(
                    error(
                        "variables",
                        app.ref,
                        f"variable {name} is supplied but no retained component ({', '.join(sorted(retained))}) "
                        "reads it: least privilege, drop it",
                    )
                )
            has_value, value_from = "value" in entry, entry.get("valueFrom")
            if has_value == (value_from is not None):
                findings.append(
                    error("variables", app.ref, f"variable {name} needs exactly one of value and valueFrom")
                )
            if declared.secret:
                secret_ref = (value_from or {}).get("secretKeyRef") if isinstance(value_from, dict) else None
                if has_value or not isinstance(secret_ref, dict):
                    findings.append(
                        error(
                            "variables",
                            app.ref,
                            f"variable {name} is secret in spin.toml: it must come from valueFrom.secretKeyRef, "
                            "never a plain value or a ConfigMap",
                        )
                    )
        for name, components in sorted(used.items()):
            declared = ctx.spin.variables[name]
            if name in supplied:
                continue
            users = ", ".join(sorted(components))
            if declared.required or not declared.has_default:
                findings.append(
                    error("variables", app.ref, f"variable {name} (required, used by {users}) is not supplied")
                )
            elif declared.secret:
                # Defaults of secrets are empty: the feature would fail closed in the cluster.
                findings.append(
                    error(
                        "variables",
                        app.ref,
                        f"secret variable {name} (used by {users}) is not supplied; its spin.toml default is a "
                        "placeholder and the feature would stay disabled",
                    )
                )
            else:
                # A default spin.toml's `spin up` is happy with can be wrong in the cluster
                # (forward_dispatch_url's http://self is the caller's own pod), and a variable left
                # out is one nobody can change without editing the manifests: every variable a
                # retained component reads comes from the settings (or a Secret), none is missing.
                findings.append(
                    error(
                        "variables",
                        app.ref,
                        f"variable {name} (used by {users}) is not supplied: spin.toml and the SpinApp disagree; "
                        f"add it (from the settings ConfigMap) rather than rely on the default {declared.default!r}",
                    )
                )
    return findings


@rule("kv-stores")
def check_kv_stores(ctx: Context) -> list[Finding]:
    """Key-value stores used by retained components are shared (not pod-local) and credentialed via Secrets."""
    findings = []
    for app in ctx.spinapps:
        runtime = app.spec.get("runtimeConfig") or {}
        used = sorted({s for c in ctx.retained(app) for s in ctx.spin.components[c].key_value_stores})
        if runtime.get("loadFromSecret"):
            if used:
                findings.append(
                    warning("kv-stores", app.ref, "runtimeConfig.loadFromSecret: cannot verify the key-value stores")
                )
            continue
        configured: dict[str, dict] = {}
        for store in runtime.get("keyValueStores") or []:
            name = (store or {}).get("name")
            if name in configured:
                findings.append(error("kv-stores", app.ref, f"key-value store {name} is configured twice"))
            configured[str(name)] = store or {}
        for name in used:
            store = configured.get(name)
            if store is None:
                findings.append(
                    error(
                        "kv-stores",
                        app.ref,
                        f"key-value store {name!r} is not in runtimeConfig.keyValueStores: each pod would get its own "
                        "local SQLite file (not shared by replicas, lost on restart)",
                    )
                )
                continue
            if store.get("type") not in SHARED_KV_TYPES:
                findings.append(
                    error(
                        "kv-stores",
                        app.ref,
                        f"key-value store {name!r} has type {store.get('type')!r}; use a shared backend "
                        f"({', '.join(sorted(SHARED_KV_TYPES))})",
                    )
                )
            for option in store.get("options") or []:
                option_name = (option or {}).get("name")
                if option_name in SECRET_OPTION_NAMES and "value" in (option or {}):
                    findings.append(
                        error(
                            "kv-stores",
                            app.ref,
                            f"key-value store {name!r} option {option_name} carries credentials: use "
                            "valueFrom.secretKeyRef, not a plain value",
                        )
                    )
        for name in sorted(set(configured) - set(used)):
            findings.append(warning("kv-stores", app.ref, f"key-value store {name!r} is configured but unused"))
    return findings


@rule("resources")
def check_resources(ctx: Context) -> list[Finding]:
    """resources and invocationLimits.memory are set and consistent (operator webhook rule)."""
    findings = []
    for app in ctx.spinapps:
        resources = app.spec.get("resources") or {}
        parsed: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
        for section in ("requests", "limits"):
            for res in ("cpu", "memory"):
                value = (resources.get(section) or {}).get(res)
                if value is None:
                    findings.append(error("resources", app.ref, f"resources.{section}.{res} is not set"))
                    continue
                try:
                    parsed[section][res] = parse_quantity(value)
                except QuantityError as e:
                    findings.append(error("resources", app.ref, f"resources.{section}.{res}: {e}"))
        for res in ("cpu", "memory"):
            req, lim = parsed["requests"].get(res), parsed["limits"].get(res)
            if req is not None and lim is not None and req > lim:
                findings.append(error("resources", app.ref, f"resources.requests.{res} exceeds the limit"))
        limit = (app.spec.get("invocationLimits") or {}).get("memory")
        if limit is None:
            findings.append(error("resources", app.ref, "invocationLimits.memory is not set"))
            continue
        try:
            invocation = parse_quantity(limit)
        except QuantityError:
            findings.append(error("resources", app.ref, f"invocationLimits.memory {limit!r} is not a quantity"))
            continue
        cap = parsed["limits"].get("memory", parsed["requests"].get("memory"))
        if cap is not None and invocation > cap:
            findings.append(
                error(
                    "resources",
                    app.ref,
                    f"invocationLimits.memory {limit} exceeds the pod's memory limit (the operator rejects it)",
                )
            )
    return findings
