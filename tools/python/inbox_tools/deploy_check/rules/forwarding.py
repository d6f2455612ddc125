"""Rules on forwarding: the forwarder's origin, its ticker, and who may talk to whom (the
NetworkPolicies, through inbox_tools.deploy_check.rules.netpol)."""

from __future__ import annotations

import re

from inbox_tools.deploy_check.findings import Finding, error, warning
from inbox_tools.deploy_check.rules.base import (
    APP_PORT,
    DISPATCH_EVENT_PATH,
    DISPATCH_PATH,
    OPERATOR_SERVICE_PORT,
    ORIGIN,
    POD_LISTENER,
    PRIVATE_RANGES,
    Context,
    app_pod_labels,
    executor_of,
    min_replicas,
    rule,
    selector_matches,
)
from inbox_tools.deploy_check.rules.netpol import allowed, egress_peers, peer_kind, pod_sets, policies_for, port_allowed
from inbox_tools.manifests import Obj
from inbox_tools.spin_manifest import TEMPLATE_REF, best_route

# --- forwarding: the forwarder's origin, its ticker, and who may talk to whom -------------------

def _forwarders(ctx: Context, namespace: str | None) -> list[Obj]:
    """SpinApps that serve the forwarder's internal dispatch route (what forward_dispatch_url asks)."""
    route = best_route(ctx.spin.routes, DISPATCH_EVENT_PATH)
    if route is None:
        return []
    return [a for a in ctx.spinapps if a.namespace == namespace and route.component in ctx.retained(a)]


def _config_maps(ctx: Context, namespace: str | None) -> dict[str, dict]:
    return {o.name: o.doc.get("data") or {} for o in ctx.of_kind("ConfigMap") if o.namespace == namespace}


def _resolve(
    ctx: Context, namespace: str | None, entry: dict, env: dict[str, str] | None = None
) -> tuple[str | None, str]:
    """(value, where) of a SpinApp variable or container env entry; None when it cannot be known here.

    ConfigMap references are resolved from the rendered ConfigMaps; `$(NAME)` in a container's
    `value` from the env entries before it (what the kubelet does).
    """
    if "value" in entry:
        value = str(entry["value"])
        for name, known in (env or {}).items():
            value = value.replace(f"$({name})", known)
        return value, "value"
    ref = (entry.get("valueFrom") or {}).get("configMapKeyRef")
    if isinstance(ref, dict):
        data = _config_maps(ctx, namespace).get(str(ref.get("name")))
        where = f"ConfigMap {ref.get('name')} key {ref.get('key')}"
        if data is None or ref.get("key") not in data:
            return None, where
        return str(data[ref["key"]]), where
    return None, "a Secret or another source"


def _service_origin_of(ctx: Context, namespace: str | None, url: str) -> tuple[str | None, str]:
    """(SpinApp name, problem): the operator Service an in-cluster origin names, or why not."""
    match = ORIGIN.match(url)
    if match is None:
        return None, "is not http://<Service>[:80] (the operator's Service speaks plain HTTP on port 80)"
    if match["port"] is not None and int(match["port"]) != OPERATOR_SERVICE_PORT:
        return None, f"uses port {match['port']}; the operator's Service listens on {OPERATOR_SERVICE_PORT}"
    host = match["host"]
    parts = host.split(".")
    service = parts[0]
    suffixes = ("", f".{namespace}", f".{namespace}.svc", f".{namespace}.svc.cluster.local")
    if host[len(service):] not in suffixes:
        return None, f"names {host}, not a Service of namespace {namespace}"
    return service, ""


def _exports_telemetry(ctx: Context, app: Obj) -> bool:
    executor = executor_of(ctx, app)
    return bool((executor.spec.get("deploymentConfig") or {}).get("otel") if executor else None)


def _origin_findings(
    ctx: Context, rule_id: str, owner: Obj, what: str, url: str | None, where: str, path: str = ""
) -> tuple[list[Finding], Obj | None]:
    """Checks that `url` is <a forwarder SpinApp's Service origin><path>; returns the forwarder."""
    forwarders = _forwarders(ctx, owner.namespace)
    names = ", ".join(sorted(a.name for a in forwarders)) or "none"
    if url is None:
        return [warning(rule_id, owner.ref, f"{what} comes from {where}, which this check cannot read")], None
    if not url:
        return [error(rule_id, owner.ref, f"{what} is empty ({where})")], None
    if path and not url.endswith(path):
        return [error(rule_id, owner.ref, f"{what} {url!r} ({where}) does not end in {path}")], None
    origin = url[: len(url) - len(path)] if path else url
    service, problem = _service_origin_of(ctx, owner.namespace, origin)
    if service is None:
        return [error(rule_id, owner.ref, f"{what} {url!r} ({where}) {problem}")], None
    target = next((a for a in forwarders if a.name == service), None)
    if target is None:
        return [
            error(
                rule_id,
                owner.ref,
                f"{what} {url!r} ({where}) names Service {service}, which is not the Service of a SpinApp "
                f"serving the forwarder's routes (forwarder SpinApps: {names}); a namePrefix/nameSuffix "
                "renames the SpinApp, not this value",
            )
        ], None
    return [], target


@rule("forwarding")
def check_forwarding(ctx: Context) -> list[Finding]:
    """forward_dispatch_url names the forwarder SpinApp's Service, and its pods may reach it.

    A component whose allowed_outbound_hosts is templated on a variable that names the forwarder
    (spin.toml: `forward_dispatch_url`) calls the forwarder's internal routes. On the cluster that
    is the Service the operator names after the forwarder SpinApp (http://<name>, port 80):
    spin.toml's default (http://self, Spin's self-request) would reach the caller's own pod,
    where no forwarder runs. The NetworkPolicies must let the caller's pods reach the forwarder's.
    """
    findings: list[Finding] = []
    for app in ctx.spinapps:
        supplied = {str((v or {}).get("name")): v for v in app.spec.get("variables") or []}
        for component_id in sorted(ctx.retained(app)):
            component = ctx.spin.components[component_id]
            for template in sorted(component.outbound_templates()):
                for name in sorted(component.outbound_app_variables(template) or {template}):
                    if name != "forward_dispatch_url":
                        continue
                    entry = supplied.get(name)
                    if entry is None:
                        default = (ctx.spin.variables.get(name) or None) and ctx.spin.variables[name].default
                        findings.append(
                            error(
                                "forwarding",
                                app.ref,
                                f"{component_id} calls the forwarder at {name}, which is not supplied: spin.toml's "
                                f"default {default!r} does not reach the forwarder's pods; give it the forwarder "
                                "SpinApp's Service (http://<name>)",
                            )
                        )
                        continue
                    value, where = _resolve(ctx, app.namespace, entry)
                    found, forwarder = _origin_findings(ctx, "forwarding", app, f"variable {name}", value, where)
                    findings.extend(found)
                    if forwarder is not None:
                        refused = allowed(
                            ctx,
                            (app.namespace, app_pod_labels(app)),
                            (forwarder.namespace, app_pod_labels(forwarder)),
                            APP_PORT,
                        )
                        if refused:
                            findings.append(
                                error(
                                    "forwarding",
                                    app.ref,
                                    f"its pods cannot reach SpinApp {forwarder.name}'s pods on port {APP_PORT}: "
                                    f"{refused}",
                                )
                            )
    findings.extend(_forwarder_admits_only_its_callers(ctx))
    return findings


def _calls_forwarder(ctx: Context, app: Obj) -> bool:
    """Whether a retained component's allowed_outbound_hosts is templated on forward_dispatch_url."""
    for component_id in ctx.retained(app):
        component = ctx.spin.components[component_id]
        for template in component.outbound_templates():
            if "forward_dispatch_url" in (component.outbound_app_variables(template) or {template}):
                return True
    return False


def _forwarder_admits_only_its_callers(ctx: Context) -> list[Finding]:
    """The forwarder's pods accept port 80 from its callers only (no Ingress, no other pod).

    Its routes have no public use (the tick is the ticker's, inside each forwarder pod on
    loopback, which NetworkPolicies do not see; the per-event dispatch is the webhook and api
    pods', with the API token like the tick), so every
    NetworkPolicy ingress rule that selects a forwarder pod and opens its port may admit only pods
    of this namespace that call it: SpinApps whose components call forward_dispatch_url (the
    webhook and api pods). A rule without `from`, or with a namespaceSelector or ipBlock peer (the
    ingress controller, the KEDA interceptor, anything outside), or whose podSelector also matches
    another pod of the overlay, is an error. No ingress policy at all selecting it: anyone.
    """
    findings: list[Finding] = []
    pods = pod_sets(ctx)
    for forwarder in _forwarders_all(ctx):
        labels = app_pod_labels(forwarder)
        callers = {a.ref for a in ctx.spinapps if a.namespace == forwarder.namespace and _calls_forwarder(ctx, a)}
        policies = policies_for(ctx, forwarder.namespace, labels, "Ingress")
        if not policies:
            findings.append(
                error(
                    "forwarding",
                    forwarder.ref,
                    "no NetworkPolicy restricts who reaches its pods: anyone in the cluster can",
                )
            )
        for policy in policies:
            for rule_ in policy.spec.get("ingress") or []:
                if not port_allowed(rule_, APP_PORT):
                    continue
                peers = rule_.get("from")
                if not peers:
                    findings.append(
                        error("forwarding", policy.ref, f"admits anyone to {forwarder.name}'s pods on port {APP_PORT}")
                    )
                    continue
                for peer in peers:
                    peer = peer or {}
                    if "ipBlock" in peer or "namespaceSelector" in peer:
                        findings.append(
                            error(
                                "forwarding",
                                policy.ref,
                                f"admits pods outside namespace {forwarder.namespace} (or addresses) to "
                                f"{forwarder.name}: its "
                                "routes are for in-cluster callers only (the webhook and api pods), never the "
                                "ingress controller or the KEDA interceptor",
                            )
                        )
                        continue
                    for what, namespace, pod_labels in pods:
                        if namespace != forwarder.namespace or what in callers or what == forwarder.ref:
                            continue
                        if selector_matches(peer.get("podSelector") or {}, pod_labels):
                            findings.append(
                                error(
                                    "forwarding",
                                    policy.ref,
                                    f"admits {what} to {forwarder.name}'s pods on port {APP_PORT}, which does not call "
                                    "it "
                                    "(callers: SpinApps whose components call forward_dispatch_url; the ticker calls "
                                    "its own pod on loopback)",
                                )
                            )
    return findings


@rule("ticker")
def check_ticker(ctx: Context) -> list[Finding]:
    """The SpinApp that serves POST /api/dispatch (the forwarder) also runs what calls it (the ticker).

    Retries and retention's age rules only run when something calls POST /api/dispatch
    (docs/architecture.md, "What drives retries"). On the cluster that is the ticker: a component
    spin.toml gives no trigger, whose tool table says it runs on a command trigger inside the
    artifact of the component serving that route (`trigger = "command"`, `with = "forwarder"`).
    The SpinApp retaining the forwarder must retain it too, or its pods never tick. It calls its
    own pod's listener, so its allowed_outbound_hosts must allow http://127.0.0.1:80 (where the
    operator makes Spin listen); it presents the first token of the same application variable
    the forwarder checks; and the SpinApp must keep at least one pod (no pod, no tick).
    """
    findings: list[Finding] = []
    route = best_route(ctx.spin.routes, DISPATCH_PATH)
    if route is None:
        return findings
    serving = route.component
    tickers = [c for c in ctx.spin.carried_by(serving) if ctx.spin.components[c].trigger == "command"]
    for app in ctx.spinapps:
        retained = ctx.retained(app)
        if serving not in retained:
            continue
        if not tickers:
            findings.append(
                error(
                    "ticker",
                    app.ref,
                    f"nothing calls POST {DISPATCH_PATH} of {serving}: spin.toml has no component that runs on a "
                    f'command trigger with it ([component.<id>.tool.webhook-inbox] trigger = "command", with = '
                    f'"{serving}"), so no retry is ever sent and retention\'s age rules never run',
                )
            )
            continue
        for ticker in tickers:
            if ticker not in retained:
                findings.append(
                    error(
                        "ticker",
                        app.ref,
                        f"runs {serving} without {ticker} (components: "
                        f"{', '.join(map(str, app.spec.get('components') or []))}): "
                        f"nothing calls POST {DISPATCH_PATH} in its pods, so no retry is ever sent and retention's "
                        f"age rules never run; add {ticker} to its components",
                    )
                )
                continue
            component = ctx.spin.components[ticker]
            if not any(POD_LISTENER.match(host) for host in component.allowed_outbound_hosts):
                hosts = ", ".join(component.allowed_outbound_hosts) or "none"
                findings.append(
                    error(
                        "ticker",
                        app.ref,
                        f"{ticker}'s allowed_outbound_hosts ({hosts}) do not allow http://127.0.0.1:80, the pod's own "
                        "listener it calls (spin-operator sets SPIN_HTTP_LISTEN_ADDR=0.0.0.0:80)",
                    )
                )
            wanted = TEMPLATE_REF.findall(ctx.spin.components[serving].variables.get("api_token", ""))
            presented = TEMPLATE_REF.findall(component.variables.get("api_token", ""))
            if not presented or presented != wanted:
                findings.append(
                    error(
                        "ticker",
                        app.ref,
                        f"{ticker}'s api_token reads {presented or 'nothing'}, {serving}'s reads {wanted or 'nothing'} "
                        "(spin.toml): the ticker must present a token from the variable the forwarder checks",
                    )
                )
        if min_replicas(ctx, app) == 0:
            findings.append(
                error(
                    "ticker",
                    app.ref,
                    f"may run no pod (replicas or its autoscaler's minimum is 0): its ticker runs in its pods, so "
                    f"at zero nothing calls POST {DISPATCH_PATH} and nothing would wake it",
                )
            )
    return findings


def _forwarders_all(ctx: Context) -> list[Obj]:
    namespaces = {a.namespace for a in ctx.spinapps}
    return [a for ns in namespaces for a in _forwarders(ctx, ns)]


def _sends_outside(ctx: Context, app: Obj) -> bool:
    """Whether a retained component may connect beyond loopback and the forwarder's Service."""
    for component_id in ctx.retained(app):
        component = ctx.spin.components[component_id]
        for host in component.allowed_outbound_hosts:
            names = set()
            for template in TEMPLATE_REF.findall(host):
                names |= component.outbound_app_variables(template) or {template}
            if names and names <= {"forward_dispatch_url"}:
                continue
            if not names and re.match(r"^[a-z+]+://(127\.0\.0\.1|localhost|\[::1\])(:|/|$)", host):
                continue
            return True
    return False


def _needs_network(ctx: Context, app: Obj) -> bool:
    return any(
        ctx.spin.components[c].key_value_stores or ctx.spin.components[c].allowed_outbound_hosts
        for c in ctx.retained(app)
    )


def _destination_ports(ctx: Context, app: Obj) -> list[tuple[int, str]]:
    """(port, where) of each allowed_outbound_hosts slot a retained component resolves to a destination."""
    ports = []
    supplied = {str((v or {}).get("name")): v for v in app.spec.get("variables") or []}
    for component_id in sorted(ctx.retained(app)):
        component = ctx.spin.components[component_id]
        for host in component.allowed_outbound_hosts:
            templates = TEMPLATE_REF.findall(host)
            if len(templates) != 1 or TEMPLATE_REF.sub("", host).strip():
                continue  # only entries that are one whole template: a destination slot
            names = component.outbound_app_variables(templates[0]) or {templates[0]}
            if names & {"forward_dispatch_url"}:
                continue
            for name in names:
                entry = supplied.get(name)
                value = None
                where = f"variable {name}"
                if entry is not None:
                    value, where = _resolve(ctx, app.namespace, entry)
                    where = f"variable {name} ({where})"
                elif name in ctx.spin.variables:
                    value = ctx.spin.variables[name].default
                    where = f"variable {name} (spin.toml default)"
                match = re.match(r"^(?P<scheme>[a-z+*]+)://(?P<host>[^/:]+)(:(?P<port>[0-9]+|\*))?", value or "")
                if match is None or match["host"].endswith(".invalid"):
                    continue
                port = match["port"] or {"https": "443", "http": "80"}.get(match["scheme"], "*")
                ports.append((-1 if port == "*" else int(port), f"{where} = {value}"))
    return ports


@rule("egress")
def check_egress(ctx: Context) -> list[Finding]:
    """Egress outside the cluster only for the pods that send to destinations; none for the console.

    From spin.toml: a broad ipBlock egress rule (0.0.0.0/0, ::/0) may select only the pods of
    SpinApps whose components may connect beyond loopback and the forwarder (the forwarder), it
    must except the private and link-local ranges, and it must allow the port of every
    destination slot (forward_allowed_host_*) those pods are given. A SpinApp whose components
    use no key-value store and no outbound host (the console) gets no egress but telemetry.
    """
    findings: list[Finding] = []
    pods = pod_sets(ctx)
    by_ref = {a.ref: a for a in ctx.spinapps}
    for policy in ctx.of_kind("NetworkPolicy", "networking.k8s.io"):
        for rule_ in policy.spec.get("egress") or []:
            broad = [
                p["ipBlock"]
                for p in rule_.get("to") or []
                if isinstance((p or {}).get("ipBlock"), dict) and str(p["ipBlock"].get("cidr", "")).endswith("/0")
            ]
            if not broad:
                continue
            for block in broad:
                missing = [
                    r
                    for r in PRIVATE_RANGES
                    if block.get("cidr") == "0.0.0.0/0" and r not in (block.get("except") or [])
                ]
                if missing:
                    findings.append(
                        error(
                            "egress",
                            policy.ref,
                            f"ipBlock {block.get('cidr')} does not except {', '.join(missing)}: it would open other "
                            "pods, "
                            "nodes or the cloud metadata endpoint to the selected pods",
                        )
                    )
            for what, namespace, labels in pods:
                if namespace != policy.namespace or not selector_matches(policy.spec.get("podSelector") or {}, labels):
                    continue
                app = by_ref.get(what)
                if app is None or not _sends_outside(ctx, app):
                    findings.append(
                        error(
                            "egress",
                            policy.ref,
                            f"gives {what} egress to any address outside the cluster; only pods whose components "
                            "send to destinations (spin.toml allowed_outbound_hosts beyond loopback: the forwarder) "
                            "may have it",
                        )
                    )
    for app in ctx.spinapps:
        labels = app_pod_labels(app)
        peers = egress_peers(ctx, app.namespace, labels)
        if not _needs_network(ctx, app):
            telemetry = _exports_telemetry(ctx, app)
            for policy, peer, _rule in peers:
                kind = peer_kind(ctx, peer, app.namespace)
                if kind == "telemetry" or (kind == "dns" and telemetry):
                    continue
                findings.append(
                    error(
                        "egress",
                        app.ref,
                        f"NetworkPolicy {policy.name} lets it reach {kind}, but its components "
                        f"({', '.join(sorted(ctx.retained(app)))}) use no key-value store and no outbound host: no "
                        "egress",
                    )
                )
            continue
        ports = _destination_ports(ctx, app)
        if not ports:
            continue
        open_ports = [
            r
            for policy, peer, r in peers
            if peer_kind(ctx, peer, app.namespace) in ("ip", "anywhere")
        ]
        for port, where in ports:
            if port < 0:
                findings.append(
                    warning(
                        "egress",
                        app.ref,
                        f"{where} allows any port; its egress NetworkPolicy cannot be checked against it",
                    )
                )
            elif not any(port_allowed(r, port) for r in open_ports):
                findings.append(
                    error(
                        "egress",
                        app.ref,
                        f"{where}: no egress rule to outside the cluster allows TCP {port} "
                        "(add the port to allow-forwarder-egress-to-destinations, docs/deploy.md)",
                    )
                )
    return findings
