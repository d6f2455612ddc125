"""A NetworkPolicy reachability evaluator over one rendered overlay: which pods a policy selects,
whether a peer matches, and whether traffic between two pod sets on a port is allowed
(ingress of the destination and egress of the source both)."""

from __future__ import annotations

from inbox_tools.deploy_check.rules.base import WORKLOAD_KINDS, Context, app_pod_labels, selector_matches
from inbox_tools.manifests import Obj


def pod_sets(ctx: Context) -> list[tuple[str, str | None, dict[str, str]]]:
    """(what, namespace, pod labels) of every pod the overlay makes: SpinApps' and workloads'."""
    pods = [(app.ref, app.namespace, app_pod_labels(app)) for app in ctx.spinapps]
    for o in ctx.objects:
        if o.kind in WORKLOAD_KINDS:
            labels = ((o.spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            pods.append((o.ref, o.namespace, {str(k): str(v) for k, v in labels.items()}))
    return pods


def policies_for(ctx: Context, namespace: str | None, labels: dict[str, str], kind: str) -> list[Obj]:
    """NetworkPolicies of `kind` (Ingress or Egress) that select pods with these labels."""
    found = []
    for policy in ctx.of_kind("NetworkPolicy", "networking.k8s.io"):
        types = policy.spec.get("policyTypes") or (["Ingress", "Egress"] if policy.spec.get("egress") else ["Ingress"])
        if (
            policy.namespace == namespace
            and kind in types
            and selector_matches(policy.spec.get("podSelector") or {}, labels)
        ):
            found.append(policy)
    return found


def peer_matches(peer: dict, policy_ns: str | None, labels: dict[str, str], namespace: str | None) -> bool:
    """Whether a NetworkPolicy peer admits pods with `labels` in `namespace` (ipBlocks never do:
    pod addresses are private, and the broad rules except the private ranges)."""
    if "ipBlock" in peer:
        return False
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is None:
        if namespace != policy_ns:
            return False
    elif not selector_matches(ns_selector, {"kubernetes.io/metadata.name": str(namespace)}):
        return False
    pod_selector = peer.get("podSelector")
    return pod_selector is None or selector_matches(pod_selector, labels)


def port_allowed(rule_: dict, port: int) -> bool:
    ports = rule_.get("ports")
    if not ports:
        return True
    for p in ports:
        if (p or {}).get("protocol", "TCP") != "TCP":
            continue
        number, end = (p or {}).get("port"), (p or {}).get("endPort")
        if (
            number is None
            or number == port
            or (isinstance(number, int) and isinstance(end, int) and number <= port <= end)
        ):
            return True
    return False


def allowed(
    ctx: Context, src: tuple[str | None, dict[str, str]], dst: tuple[str | None, dict[str, str]], port: int
) -> str | None:
    """None when the NetworkPolicies let a src pod open TCP `port` on a dst pod, else which side refuses."""
    (src_ns, src_labels), (dst_ns, dst_labels) = src, dst
    egress = policies_for(ctx, src_ns, src_labels, "Egress")
    if egress and not any(
        port_allowed(r, port)
        and (not r.get("to") or any(peer_matches(p, pol.namespace, dst_labels, dst_ns) for p in r["to"]))
        for pol in egress
        for r in pol.spec.get("egress") or []
    ):
        return "no egress rule of the source's NetworkPolicies allows it"
    ingress = policies_for(ctx, dst_ns, dst_labels, "Ingress")
    if ingress and not any(
        port_allowed(r, port)
        and (not r.get("from") or any(peer_matches(p, pol.namespace, src_labels, src_ns) for p in r["from"]))
        for pol in ingress
        for r in pol.spec.get("ingress") or []
    ):
        return "no ingress rule of the destination's NetworkPolicies allows it"
    return None


def egress_peers(ctx: Context, namespace: str | None, labels: dict[str, str]) -> list[tuple[Obj, dict | None, dict]]:
    """(policy, peer or None for anywhere, rule) of every egress rule that applies to these pods."""
    peers = []
    for policy in policies_for(ctx, namespace, labels, "Egress"):
        for rule_ in policy.spec.get("egress") or []:
            for peer in rule_.get("to") or [None]:
                peers.append((policy, peer, rule_))
    return peers


def peer_kind(ctx: Context, peer: dict | None, namespace: str | None) -> str:
    """What an egress peer is: anywhere, ip, dns, telemetry, a SpinApp's name, redis, or other."""
    if peer is None:
        return "anywhere"
    if "ipBlock" in peer:
        return "ip"
    selector = peer.get("podSelector")
    if selector is None:
        return "other"
    if (selector.get("matchLabels") or {}).get("k8s-app") == "kube-dns":
        return "dns"
    if peer.get("namespaceSelector") is None:
        if selector_matches(selector, {"app.kubernetes.io/name": "otel-collector"}):
            return "telemetry"
        if selector_matches(selector, {"app.kubernetes.io/name": "redis"}):
            return "redis"
        apps = [
            a.name for a in ctx.spinapps if a.namespace == namespace and selector_matches(selector, app_pod_labels(a))
        ]
        if len(apps) == 1:
            return f"spinapp:{apps[0]}"
    return "other"
