"""The YAML the deploy scripts read and write, with a real YAML parser (PyYAML), never awk/sed.

Called by deploy/lib.sh as `deploy/manifest.py COMMAND ...` (the same as
`python -m inbox_tools.deploy_manifest`); each command prints plain lines a shell reads with `read`:

  namespace KUSTOMIZATION                  the overlay's `namespace:`
  spinapps RENDERED                        per SpinApp: name, component (the one whose artifact
                                           it runs: the forwarder's also retains the ticker its
                                           artifact carries), image, liveness path, readiness
                                           path (tab-separated)
  placeholders RENDERED                    SpinApps and plain workloads whose image digest is a
                                           placeholder (one repeated hex digit); exit 1 when
                                           there is one
  interceptor-targets RENDERED             the SpinApps an HTTPScaledObject routes to (staging:
                                           reached through the KEDA interceptor), one per line
  public-spinapps RENDERED                 the SpinApps an outside request can reach: an Ingress
                                           backend's Service, or an HTTPScaledObject's behind the
                                           interceptor (not the forwarder), one per line
  coverage RENDERED SPIN_TOML              every component of SPIN_TOML (scripts/ci/components.py
                                           list --all) is run by a SpinApp; exit 1 naming the
                                           missing ones
  image-overlay RENDERED OVERLAY_DIR OUT_DIR IMAGE...
                                           writes OUT_DIR/kustomization.yaml: a wrapper over
                                           OVERLAY_DIR whose `images:` point each SpinApp at the
                                           artifact of its component, with OVERLAY_DIR's
                                           sortOptions repeated (they are not inherited). IMAGE is
                                           COMPONENT=REF (REF: repo@sha256:<64 hex> or repo:tag)
                                           or a bare PREFIX:TAG / PREFIX@... for every component
                                           (PREFIX/<component>:TAG)
  pods RENDERED                            JSON: per SpinApp what spin-operator v0.6.1 gives its pod
                                           (internal/controller/deployment.go): the environment
                                           (SPIN_VARIABLE_<NAME> per variable, ConfigMap values
                                           resolved from the rendered ConfigMaps, Secret refs left
                                           as {"secret": NAME, "key": KEY} for the caller to fill),
                                           SPIN_COMPONENTS_TO_RETAIN, the key-value stores of the
                                           runtime config, the probe paths and the image
  add-component KUSTOMIZATION PATH         add PATH to the kustomization's `components:`
  executor-hash RENDERED OUT               copy RENDERED to OUT with every SpinApp annotated with
                                           a hash of its SpinAppExecutor's spec (see below)
  stale-runtime-configs SECRETS_JSON DEPLOYMENTS_JSON
                                           the runtime-config Secrets the spin-operator made
                                           (<spinapp>-<hash>, owned by that SpinApp) that no
                                           Deployment mounts any more, one name per line

Why executor-hash: spin-operator v0.6.1 does not watch SpinAppExecutors (its SpinApp controller
watches SpinApps and what they own: internal/controller/spinapp_controller.go SetupWithManager);
it reads the executor only when it next reconciles a SpinApp. An annotation that changes with the
executor's spec makes `kubectl apply` update the SpinApps exactly when the executor changed, and
the operator then rebuilds their Deployments with the new executor settings.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

try:
    import yaml
except ImportError:  # pragma: no cover - the shell helper checks this first
    sys.exit("deploy/manifest.py: PyYAML is missing: pip install -r deploy/requirements.txt")

# The project's models of spin.toml and of rendered output (standard library and PyYAML only).
from inbox_tools import ROOT
from inbox_tools.manifests import ManifestLoadError, load_objects
from inbox_tools.spin_manifest import SpinManifest

SPIN_GROUP = "core.spinkube.dev"
EXECUTOR_HASH = "webhook-inbox.dev/executor-spec-hash"
DIGEST = re.compile(r"^(?P<repo>[a-z0-9][^@\s]*)@(?P<digest>sha256:[0-9a-f]{64})$")
TAGGED = re.compile(r"^(?P<repo>[a-z0-9][^@\s]*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$")
PLACEHOLDER = re.compile(r"@sha256:([0-9a-f])\1{63}$")


class Error(ValueError):
    pass


def docs(path: str) -> list[dict[str, Any]]:
    """The objects of a rendered file (the project's rendered-output model), as their tables."""
    return [o.doc for o in load_objects(path)]


def is_spinapp(doc: dict[str, Any]) -> bool:
    return doc.get("kind") == "SpinApp" and str(doc.get("apiVersion", "")).startswith(SPIN_GROUP + "/")


def spinapps(rendered: str) -> list[dict[str, Any]]:
    return [d for d in docs(rendered) if is_spinapp(d)]


SPIN_TOML = ROOT / "spin.toml"


def component_of(app: dict[str, Any], spin_toml: Path = SPIN_TOML) -> str:
    """The component whose artifact the SpinApp runs: the one it retains that rides in no other's
    (the forwarder's SpinApp also retains the ticker, which the forwarder's artifact carries)."""
    components = [str(c) for c in (app.get("spec") or {}).get("components") or []]
    spin = SpinManifest.load(spin_toml)
    artifacts = [c for c in components if c not in spin.components or spin.components[c].carried_with is None]
    if len(artifacts) != 1:
        raise Error(
            f"SpinApp {app['metadata']['name']} retains {len(components)} components "
            f"({', '.join(components) or 'none'}): "
            "one artifact per SpinApp needs exactly one that is an artifact (scripts/ci/components.py list), "
            "plus what that artifact carries"
        )
    return artifacts[0]


def split_ref(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    repo, digest = (image.split("@", 1) + [None])[:2] if "@" in image else (image, None)
    tag = None
    if ":" in repo.rsplit("/", 1)[-1]:
        repo, tag = repo.rsplit(":", 1)
    return repo, tag, digest


def cmd_namespace(kustomization: str) -> int:
    with open(kustomization) as f:
        data = yaml.safe_load(f) or {}
    namespace = data.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise Error(f"{kustomization} has no namespace:")
    print(namespace)
    return 0


def probe_path(app: dict[str, Any], probe: str) -> str:
    return str((((app.get("spec") or {}).get("checks") or {}).get(probe) or {}).get("httpGet", {}).get("path") or "-")


def cmd_spinapps(rendered: str) -> int:
    for app in spinapps(rendered):
        spec = app.get("spec") or {}
        component = component_of(app) if spec.get("components") else "-"
        print("\t".join([app["metadata"]["name"], component, str(spec.get("image", "-")),
                         probe_path(app, "liveness"), probe_path(app, "readiness")]))
    return 0


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def workloads(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in documents if d.get("kind") in WORKLOAD_KINDS and str(d.get("apiVersion", "")) == "apps/v1"]


def cmd_placeholders(rendered: str) -> int:
    found = 0
    documents = docs(rendered)
    for app in (d for d in documents if is_spinapp(d)):
        image = str((app.get("spec") or {}).get("image", ""))
        if PLACEHOLDER.search(image):
            print(f"{app['metadata']['name']}\t{image}")
            found += 1
    for workload in workloads(documents):
        pod = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            image = str(container.get("image", ""))
            if PLACEHOLDER.search(image):
                print(f"{workload['kind'].lower()}/{workload['metadata']['name']}\t{image}")
                found += 1
    return 1 if found else 0


def cmd_interceptor_targets(rendered: str) -> int:
    documents = docs(rendered)
    names = {d["metadata"]["name"] for d in documents if is_spinapp(d)}
    for d in documents:
        if d.get("kind") == "HTTPScaledObject" and str(d.get("apiVersion", "")).startswith("http.keda.sh/"):
            target = ((d.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
            if target in names:
                print(target)
    return 0


def cmd_public_spinapps(rendered: str) -> int:
    documents = docs(rendered)
    names = [d["metadata"]["name"] for d in documents if is_spinapp(d)]
    services: set[str] = set()
    for d in documents:
        spec = d.get("spec") or {}
        if d.get("kind") == "Ingress":
            backends = [((spec.get("defaultBackend") or {}).get("service") or {}).get("name")]
            for rule in spec.get("rules") or []:
                for path in ((rule or {}).get("http") or {}).get("paths") or []:
                    backends.append((((path or {}).get("backend") or {}).get("service") or {}).get("name"))
            services.update(str(b) for b in backends if b)
        elif d.get("kind") == "HTTPScaledObject" and str(d.get("apiVersion", "")).startswith("http.keda.sh/"):
            target = (spec.get("scaleTargetRef") or {}).get("service")
            if target:
                services.add(str(target))
    for name in names:
        if name in services:
            print(name)
    return 0


def spin_components(spin_toml: str) -> list[str]:
    """Component ids of spin.toml, in its order (the project's spin.toml model), not a copy of them."""
    return list(SpinManifest.load(spin_toml).components)


def cmd_coverage(rendered: str, spin_toml: str) -> int:
    run = {c for app in spinapps(rendered) for c in ((app.get("spec") or {}).get("components") or [])}
    missing = [c for c in spin_components(spin_toml) if c not in run]
    for component in missing:
        print(component)
    return 1 if missing else 0


def parse_images(specs: list[str], components: list[str]) -> dict[str, str]:
    """component -> image reference, from COMPONENT=REF items or a PREFIX for every component."""
    wanted: dict[str, str] = {}
    for spec in (item for s in specs for item in s.split()):
        if "=" in spec:
            component, ref = spec.split("=", 1)
            if component not in components:
                raise Error(
                    f"--image {spec}: no SpinApp runs component {component!r} (components: {', '.join(components)})"
                )
            if component in wanted:
                raise Error(f"--image names component {component} twice")
            if not (DIGEST.match(ref) or (TAGGED.match(ref) and "@" not in ref)):
                raise Error(f"--image {spec}: needs a tag or a digest (repo:tag or repo@sha256:<64 hex>)")
            wanted[component] = ref
        else:
            match = DIGEST.match(spec) or TAGGED.match(spec)
            if match is None or spec.count("@") > 1 or ("@" in spec and ":" in spec.split("@")[0].rsplit("/", 1)[-1]):
                raise Error(
                    f"an image reference needs a tag or a digest (repo:tag or repo@sha256:<64 hex>), got {spec!r}"
                )
            if "digest" in match.groupdict():
                raise Error(
                    f"--image {spec}: one digest cannot name every component's artifact; give COMPONENT=REPO@DIGEST "
                    "for each (the release summary prints them)"
                )
            for component in components:
                wanted.setdefault(component, f"{match['repo']}/{component}:{match['tag']}")
    missing = [c for c in components if c not in wanted]
    if missing:
        raise Error(f"no image for component(s) {', '.join(missing)}: give COMPONENT=REF for every SpinApp's component")
    return wanted


def cmd_image_overlay(rendered: str, overlay_dir: str, out_dir: str, specs: list[str]) -> int:
    apps = spinapps(rendered)
    if not apps:
        raise Error(f"{rendered} has no SpinApp")
    by_component: dict[str, set[str]] = {}
    for app in apps:
        repo, _tag, _digest = split_ref(str(app["spec"].get("image", "")))
        by_component.setdefault(component_of(app), set()).add(repo)
    wanted = parse_images(specs, sorted(by_component))
    images = []
    for component in sorted(by_component):
        ref = wanted[component]
        new_repo, tag, digest = split_ref(ref)
        for current in sorted(by_component[component]):
            entry: dict[str, str] = {"name": current, "newName": new_repo}
            if digest:
                entry["digest"] = digest
            else:
                entry["newTag"] = str(tag)
            images.append(entry)
    repos_per_current = [e["name"] for e in images]
    if len(set(repos_per_current)) != len(repos_per_current):
        raise Error("two components share an image name in the overlay: each SpinApp must run its component's artifact")
    with open(Path(overlay_dir) / "kustomization.yaml") as f:
        overlay = yaml.safe_load(f) or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wrapper: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [str(Path("..") / Path(overlay_dir).name)],
        "images": images,
    }
    if "sortOptions" in overlay:
        wrapper["sortOptions"] = overlay["sortOptions"]
    (out / "kustomization.yaml").write_text(yaml.safe_dump(wrapper, sort_keys=False))
    for component in sorted(by_component):
        print(f"{component}\t{wanted[component]}")
    return 0


def _value_of(entry: dict[str, Any], config_maps: dict[str, dict]) -> Any:
    if "value" in entry:
        return str(entry["value"])
    source = entry.get("valueFrom") or {}
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        data = config_maps.get(ref["name"])
        if data is None or ref["key"] not in data:
            raise Error(f"ConfigMap {ref['name']} key {ref['key']} is not in the rendered overlay")
        return str(data[ref["key"]])
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        # optional: a key the Secret lacks leaves the variable unset (the kubelet's rule).
        return {"secret": ref["name"], "key": ref["key"], "optional": bool(ref.get("optional", False))}
    raise Error(f"unsupported value source {source}")


def cmd_pods(rendered: str) -> int:
    documents = docs(rendered)
    config_maps = {d["metadata"]["name"]: d.get("data") or {} for d in documents if d.get("kind") == "ConfigMap"}
    pods = []
    for app in (d for d in documents if is_spinapp(d)):
        spec = app.get("spec") or {}
        env: dict[str, Any] = {}
        for variable in spec.get("variables") or []:
            # deployment.go: SPIN_VARIABLE_<upper-cased name>, valueFrom kept as an env source.
            env[f"SPIN_VARIABLE_{variable['name'].upper()}"] = _value_of(variable, config_maps)
        if spec.get("components"):
            # spinapp_controller.go: SPIN_COMPONENTS_TO_RETAIN, the components joined by commas.
            env["SPIN_COMPONENTS_TO_RETAIN"] = ",".join(map(str, spec["components"]))
        stores = []
        for store in (spec.get("runtimeConfig") or {}).get("keyValueStores") or []:
            stores.append({"name": store["name"], "type": store["type"],
                           "options": {o["name"]: _value_of(o, config_maps) for o in store.get("options") or []}})
        pods.append({"name": app["metadata"]["name"], "image": spec.get("image"), "env": env,
                     "key_value_stores": stores, "liveness": probe_path(app, "liveness"),
                     "readiness": probe_path(app, "readiness"),
                     "components": [str(c) for c in spec.get("components") or []]})
    print(json.dumps(pods, indent=2))
    return 0


def cmd_add_component(kustomization: str, path: str) -> int:
    file = Path(kustomization)
    data = yaml.safe_load(file.read_text()) or {}
    components = data.setdefault("components", [])
    if path not in components:
        components.append(path)
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    return 0


def cmd_executor_hash(rendered: str, out: str) -> int:
    documents = docs(rendered)
    hashes = {}
    for d in documents:
        if d.get("kind") == "SpinAppExecutor":
            key = ((d.get("metadata") or {}).get("namespace"), d["metadata"]["name"])
            spec = json.dumps(d.get("spec") or {}, sort_keys=True, separators=(",", ":"))
            hashes[key] = hashlib.sha256(spec.encode()).hexdigest()[:16]
    for d in documents:
        if is_spinapp(d):
            key = ((d.get("metadata") or {}).get("namespace"), (d.get("spec") or {}).get("executor"))
            if key in hashes:
                d["metadata"].setdefault("annotations", {})[EXECUTOR_HASH] = hashes[key]
                print(f"{d['metadata']['name']}\t{hashes[key]}")
    Path(out).write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return 0


def cmd_stale_runtime_configs(secrets_json: str, deployments_json: str) -> int:
    with open(secrets_json) as f:
        secrets = json.load(f).get("items") or []
    with open(deployments_json) as f:
        deployments = json.load(f).get("items") or []
    mounted: set[str] = set()
    for deployment in deployments:
        pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
        for volume in pod.get("volumes") or []:
            name = (volume.get("secret") or {}).get("secretName")
            if name:
                mounted.add(name)
            for source in (volume.get("projected") or {}).get("sources") or []:
                if (source.get("secret") or {}).get("name"):
                    mounted.add(source["secret"]["name"])
    for secret in secrets:
        meta = secret.get("metadata") or {}
        name = str(meta.get("name", ""))
        owners = [
            o for o in meta.get("ownerReferences") or []
            if o.get("kind") == "SpinApp" and str(o.get("apiVersion", "")).startswith(SPIN_GROUP + "/")
        ]
        # What the operator makes (spinapp_controller.go reconcileDeployment): a Secret named
        # <SpinApp>-<adler32 of the TOML, hex>, owned by that SpinApp, holding runtime-config.toml.
        made_by_operator = any(re.fullmatch(re.escape(o.get("name", "")) + r"-[0-9a-f]{1,8}", name) for o in owners)
        if made_by_operator and "runtime-config.toml" in (secret.get("data") or {}) and name not in mounted:
            print(name)
    return 0


def main(argv: list[str]) -> int:
    commands = {
        "namespace": (cmd_namespace, 1),
        "spinapps": (cmd_spinapps, 1),
        "placeholders": (cmd_placeholders, 1),
        "interceptor-targets": (cmd_interceptor_targets, 1),
        "public-spinapps": (cmd_public_spinapps, 1),
        "coverage": (cmd_coverage, 2),
        "pods": (cmd_pods, 1),
        "add-component": (cmd_add_component, 2),
        "executor-hash": (cmd_executor_hash, 2),
        "stale-runtime-configs": (cmd_stale_runtime_configs, 2),
    }
    try:
        if argv[:1] == ["image-overlay"] and len(argv) >= 5:
            return cmd_image_overlay(argv[1], argv[2], argv[3], argv[4:])
        if argv and argv[0] in commands and len(argv) == commands[argv[0]][1] + 1:
            return commands[argv[0]][0](*argv[1:])
        print(__doc__, file=sys.stderr)
        return 2
    except (Error, ValueError, ManifestLoadError, OSError, KeyError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
