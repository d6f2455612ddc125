//! The Kubernetes path on a real cluster (e2e/src/cluster.rs): a kube-apiserver, spin-operator
//! v0.6.1 with its admission webhooks, and a kubelet running the pods on containerd with the
//! SpinKube shim v0.24.0. What a user does, in order:
//!
//! 1. every component pushed with the project's own script (`scripts/push.sh --build`, as the
//!    release workflow) from a scratch commit of this checkout to the cluster's local registry;
//! 2. the Secrets created as docs/deploy.md says (`kubectl create secret generic --from-file`), the
//!    Redis one pointing at a password-protected redis-server on the node's bridge address (a
//!    managed Redis the pods reach);
//! 3. `deploy/deploy-app.sh dev --image PREFIX:TAG --no-redis --yes`: the dev overlay as committed,
//!    the images pointed at the registry; every SpinApp's Deployment Ready, its probes run by the
//!    kubelet; the script's smoke test through `kubectl port-forward`; and a server-side dry run
//!    shows why every check carries `httpHeaders: []` (without it the operator's defaulting
//!    webhook adds `null`, which its CRD schema refuses);
//! 4. the user's own overlay over dev (`kubectl apply -k`): images by digest and a forwarding
//!    destination on the node (`forward_allowed_host_a`); a signed delivery through the webhook
//!    Service (202, its copy 200 duplicate), read back through the api Service, forwarded signed
//!    and byte-exact by the forwarder pod (driven by the ticker inside it: this cluster has no DNS,
//!    so nothing else can ask the forwarder), the console's page and OpenAPI document;
//! 5. a change to `services/api` only, released and applied: only the api digest changes and
//!    only the api Deployment rolls (the other pods keep their uid and restart count);
//! 6. staging and prod applied as committed to the same cluster (KEDA's and the HTTP add-on's
//!    CRDs vendored at the pinned versions): accepted by the API server and the operator's
//!    webhooks, each SpinApp reconciled into a Deployment.
//!
//! Traffic goes only to loopback (port-forwards, the registry) and to the cluster's own bridge.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::cluster::{self, Cluster, NODE_IP};
use e2e::receiver::{Receiver, Reply};
use e2e::redis::RedisServer;
use e2e::registry::{self, Pushed};
use e2e::scratch;
use e2e::signing;

const NAMESPACE: &str = "webhook-inbox-dev";
/// The destination's signing secret (obviously fake).
const DESTINATION_SECRET: &str = "whsec_ZTJlLWNsdXN0ZXItZGVzdGluYXRpb24ta2V5";
const REDIS_PASSWORD: &str = "e2e-cluster-redis-password";

/// What the test puts in each Secret key the overlay references.
fn secret_value(secret: &str, key: &str, redis: &RedisServer, receiver: &Receiver) -> String {
    match (secret, key) {
        ("webhook-inbox-redis", "url") => redis.url(),
        (_, "api_token") => signing::API_TOKEN.to_owned(),
        (_, "forward_destinations") => format!(
            r#"[{{"name": "node", "url": "{}", "secret": "{DESTINATION_SECRET}", "plain_http": true}}]"#,
            receiver.url("/in")
        ),
        (_, key) => signing::secret_value(key).unwrap_or_else(|| {
            panic!("the overlay references Secret {secret} key {key}, unknown to this test")
        }),
    }
}

/// Every (Secret, key) the rendered overlay's SpinApps reference.
fn referenced_secrets(pods: &serde_json::Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut secrets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pod in pods.as_array().unwrap() {
        let env = pod["env"].as_object().unwrap().values();
        let stores = pod["key_value_stores"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["options"].as_object().unwrap().values());
        for value in env.chain(stores) {
            if let Some(reference) = value.as_object() {
                secrets
                    .entry(reference["secret"].as_str().unwrap().to_owned())
                    .or_default()
                    .insert(reference["key"].as_str().unwrap().to_owned());
            }
        }
    }
    secrets
}

/// docs/deploy.md, "Secrets": each value from a file, never on the command line; applied, so a
/// second call updates them. `forward_destinations` is optional (absent: forwarding off) and only
/// set `with_destination`: a destination no `forward_allowed_host_*` slot allows keeps the
/// forwarder NotReady (its readiness names it), and the dev overlay as committed allows none.
fn apply_secrets(
    cluster: &Cluster,
    namespace: &str,
    pods: &serde_json::Value,
    redis: &RedisServer,
    receiver: &Receiver,
    with_destination: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let apply = |name: &str, manifest: String| {
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, manifest).unwrap();
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]);
    };
    let manifest = cluster.kubectl(&[
        "create",
        "namespace",
        namespace,
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    apply("namespace", manifest);
    for (secret, keys) in referenced_secrets(pods) {
        let mut args = vec![
            "-n".to_owned(),
            namespace.to_owned(),
            "create".to_owned(),
            "secret".to_owned(),
            "generic".to_owned(),
            secret.clone(),
            "--dry-run=client".to_owned(),
            "-o".to_owned(),
            "yaml".to_owned(),
        ];
        for key in keys {
            if key == "forward_destinations" && !with_destination {
                continue;
            }
            let path = dir.path().join(format!("{secret}.{key}"));
            std::fs::write(&path, secret_value(&secret, &key, redis, receiver)).unwrap();
            args.push(format!("--from-file={key}={}", path.display()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        apply(&secret, cluster.kubectl(&args));
    }
}

/// Each Deployment's (pod uid, restart count) per pod, by Deployment name.
fn pods_by_app(cluster: &Cluster) -> BTreeMap<String, Vec<(String, u64)>> {
    let pods = cluster.kubectl_json(&["-n", NAMESPACE, "get", "pods"]);
    let mut by_app: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for pod in pods["items"].as_array().unwrap() {
        if pod["metadata"]["deletionTimestamp"].is_string() {
            continue;
        }
        let Some(app) = pod["metadata"]["labels"]["core.spinkube.dev/app-name"].as_str() else {
            continue;
        };
        let restarts = pod["status"]["containerStatuses"]
            .as_array()
            .map_or(0, |s| {
                s.iter()
                    .map(|c| c["restartCount"].as_u64().unwrap_or(0))
                    .sum()
            });
        by_app.entry(app.to_owned()).or_default().push((
            pod["metadata"]["uid"].as_str().unwrap().to_owned(),
            restarts,
        ));
    }
    by_app
}

/// Every SpinApp of the namespace has a Deployment whose pods are all updated and Ready.
fn all_rolled_out(cluster: &Cluster, namespace: &str) -> bool {
    let Some(apps) = cluster.try_kubectl(&["-n", namespace, "get", "spinapps", "-o", "json"])
    else {
        return false;
    };
    let apps: serde_json::Value = serde_json::from_str(&apps).unwrap();
    let Some(deployments) =
        cluster.try_kubectl(&["-n", namespace, "get", "deployments", "-o", "json"])
    else {
        return false;
    };
    let deployments: serde_json::Value = serde_json::from_str(&deployments).unwrap();
    let names: Vec<&str> = apps["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["metadata"]["name"].as_str().unwrap())
        .collect();
    !names.is_empty()
        && names.iter().all(|name| {
            deployments["items"].as_array().unwrap().iter().any(|d| {
                let status = &d["status"];
                let want = d["spec"]["replicas"].as_u64().unwrap_or(1);
                d["metadata"]["name"] == *name
                    && status["observedGeneration"] == d["metadata"]["generation"]
                    && status["updatedReplicas"].as_u64() == Some(want)
                    && status["readyReplicas"].as_u64() == Some(want)
                    && status["replicas"].as_u64() == Some(want)
            })
        })
}

/// The user's overlay over dev (`kubectl apply -k` of it): images by digest, as a release pins
/// them (written by `deploy/manifest.py image-overlay`, what `deploy-app.sh --image` uses), and
/// the settings a team sets for its destination.
fn user_overlay(
    cluster: &Cluster,
    kustomize: &Path,
    pushed: &Pushed,
    receiver: &Receiver,
) -> std::path::PathBuf {
    let dev = kustomize.join("overlays/dev");
    let rendered = tempfile::NamedTempFile::new().unwrap();
    let output = cluster
        .kubectl_command()
        .arg("kustomize")
        .arg(&dev)
        .output()
        .unwrap();
    cluster.expect_success("kubectl kustomize dev", &output);
    std::fs::write(rendered.path(), &output.stdout).unwrap();
    let out = kustomize.join("overlays/e2e-user");
    let mut command = Command::new(python());
    command
        .arg(e2e::repo_root().join("deploy/manifest.py"))
        .arg("image-overlay")
        .arg(rendered.path())
        .arg(&dev)
        .arg(&out);
    for (component, reference) in &pushed.references {
        command.arg(format!("{component}={reference}"));
    }
    let output = command.output().unwrap();
    cluster.expect_success("deploy/manifest.py image-overlay", &output);
    let file = out.join("kustomization.yaml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!(
        "namespace: {NAMESPACE}\n\
         configMapGenerator:\n\
         - name: webhook-inbox-settings\n  behavior: merge\n  literals:\n\
         \x20 - forward_allowed_host_a={}\n",
        receiver.origin()
    ));
    std::fs::write(&file, text).unwrap();
    out
}

fn python() -> std::path::PathBuf {
    let venv = e2e::repo_root().join(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        "python3".into()
    }
}

fn apply_and_roll(cluster: &Cluster, overlay: &Path, what: &str) -> Duration {
    let started = Instant::now();
    cluster.kubectl(&["apply", "-k", overlay.to_str().unwrap()]);
    cluster.wait(what, Duration::from_secs(240), || {
        all_rolled_out(cluster, NAMESPACE)
    });
    let took = started.elapsed();
    eprintln!("cluster: {what} in {took:?}");
    took
}

#[test]
fn the_overlays_run_on_a_real_cluster() {
    let test = "real cluster";
    let Some(cluster) = Cluster::start(test) else {
        return;
    };
    let Some(redis) = RedisServer::start_on(test, NODE_IP, Some(REDIS_PASSWORD)) else {
        return;
    };
    let receiver = Receiver::start_on(NODE_IP, |_, _| Reply::Status(204));
    let spin = cluster.tools.join("spin-3.6.3");

    // 1. Release one, from a commit of this checkout.
    let scratch = scratch::scratch_copy();
    let base = scratch::git(&scratch, &["rev-parse", "HEAD"]);
    let image = format!("{}/e2e-cluster", cluster.registry);
    eprintln!(
        "cluster: release one (scripts/push.sh --build in {})",
        scratch.display()
    );
    let first = registry::push_from(&scratch, &spin, &image, &["one"], true);

    // 2. The Secrets, for every (Secret, key) the dev overlay references.
    let pods = cluster::rendered_pods(
        &cluster.bin_dir().join("kubectl"),
        &scratch.join("kustomize/overlays/dev"),
    );
    apply_secrets(&cluster, NAMESPACE, &pods, &redis, &receiver, false);

    // 3. What a user runs: the deploy script, on this (non-k3d) context.
    let started = Instant::now();
    let output = Command::new(scratch.join("deploy/deploy-app.sh"))
        .args([
            "dev",
            "--image",
            &format!("{image}:one"),
            "--no-redis",
            "--yes",
        ])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("PATH", cluster.path_env())
        .env("PYTHON", python())
        .env("KUBE_WAIT_TIMEOUT", "240s")
        .current_dir(&scratch)
        .output()
        .unwrap();
    cluster.expect_success("deploy/deploy-app.sh dev", &output);
    let said = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "cluster: deploy/deploy-app.sh dev done in {:?}",
        started.elapsed()
    );
    for pod in pods.as_array().unwrap() {
        let (name, ready) = (
            pod["name"].as_str().unwrap(),
            pod["readiness"].as_str().unwrap(),
        );
        assert!(
            said.contains(&format!("GET {ready} -> 200 (service/{name}")),
            "deploy-app.sh did not check {name}'s readiness through its Service:\n{said}"
        );
    }
    assert!(
        all_rolled_out(&cluster, NAMESPACE),
        "{}",
        cluster.diagnostics()
    );
    // The kubelet runs each SpinApp's checks as the pod's probes: the operator copied them.
    let deployments = cluster.kubectl_json(&["-n", NAMESPACE, "get", "deployments"]);
    for pod in pods.as_array().unwrap() {
        let name = pod["name"].as_str().unwrap();
        let deployment = deployments["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Deployment {name}"));
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["readinessProbe"]["httpGet"]["path"], pod["readiness"],
            "{name}"
        );
        assert_eq!(
            container["livenessProbe"]["httpGet"]["path"], pod["liveness"],
            "{name}"
        );
        assert_eq!(
            deployment["spec"]["template"]["spec"]["runtimeClassName"],
            "wasmtime-spin-v2"
        );
    }

    // Why every check carries `httpHeaders: []` (deploy-check rule `probes`): without it the
    // operator's defaulting webhook adds `null`, which its own CRD schema refuses. A server-side
    // dry run of a running SpinApp, with and without the lists, through the real admission chain.
    let mut app =
        cluster.kubectl_json(&["-n", NAMESPACE, "get", "spinapp", "webhook-inbox-health"]);
    let metadata = serde_json::json!({"name": "e2e-headers-check", "namespace": NAMESPACE});
    app["metadata"] = metadata;
    app.as_object_mut().unwrap().remove("status");
    let dry_run = |app: &serde_json::Value| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), app.to_string()).unwrap();
        cluster
            .kubectl_command()
            .args(["apply", "--dry-run=server", "-f"])
            .arg(file.path())
            .output()
            .unwrap()
    };
    let accepted = dry_run(&app);
    cluster.expect_success("a SpinApp with httpHeaders: [] (server dry run)", &accepted);
    for probe in ["readiness", "liveness"] {
        app["spec"]["checks"][probe]["httpGet"]
            .as_object_mut()
            .unwrap()
            .remove("httpHeaders");
    }
    let refused = dry_run(&app);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("httpHeaders"),
        "a SpinApp check without httpHeaders was accepted, or refused for another reason: the \
         operator's webhook changed; revisit deploy-check rule `probes`:\n{said}"
    );

    // 4. The user's overlay: images by digest and a destination on the node (the Secret gets the
    // destination; the settings change rolls every pod, which then reads it).
    apply_secrets(&cluster, NAMESPACE, &pods, &redis, &receiver, true);
    let overlay = user_overlay(&cluster, &scratch.join("kustomize"), &first, &receiver);
    apply_and_roll(
        &cluster,
        &overlay,
        "the user's overlay (release one by digest, a destination) rolled out",
    );

    let webhook = cluster.port_forward(NAMESPACE, "service/webhook-inbox-webhook");
    let body = r#"{"ref":"refs/heads/main","via":"a real cluster"}"#;
    let delivery = signing::github(&webhook.client(), "e2e-cluster-1", "push", body);
    let accepted = delivery.clone().send().unwrap();
    assert_eq!(
        accepted.status,
        202,
        "{}\n{}",
        accepted.text(),
        cluster.diagnostics()
    );
    let id = accepted.json()["id"].as_str().unwrap().to_owned();
    let duplicate = delivery.send().unwrap();
    assert_eq!(duplicate.status, 200, "{}", duplicate.text());
    assert_eq!(duplicate.json()["duplicate"], true);
    assert_eq!(duplicate.json()["id"], id.as_str());

    let api = cluster.port_forward(NAMESPACE, "service/webhook-inbox-api");
    let event = api
        .client()
        .get(&format!("/api/events/{id}"))
        .bearer(signing::API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(event.status, 200, "{}", event.text());
    assert_eq!(event.json()["delivery_id"], "e2e-cluster-1");
    let elsewhere = api
        .client()
        .post("/webhooks/github")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(
        elsewhere.status,
        404,
        "the api pod serves only the api: {}",
        elsewhere.text()
    );

    // Forwarded by the forwarder pod, its rounds driven by the ticker inside it (no DNS here: the
    // webhook pod's ask to http://webhook-inbox-forwarder cannot resolve).
    let got = receiver.wait_for("/in", 1, Duration::from_secs(90));
    assert_eq!(
        got.len(),
        1,
        "the destination got {} requests\n{}",
        got.len(),
        cluster.diagnostics()
    );
    got[0].verify(DESTINATION_SECRET).unwrap();
    assert_eq!(got[0].body, body.as_bytes(), "forwarded byte-exact");

    let forwarder = cluster.port_forward(NAMESPACE, "service/webhook-inbox-forwarder");
    let refused = forwarder.client().post("/api/dispatch").send().unwrap();
    assert_eq!(
        refused.status,
        401,
        "the tick needs the token: {}",
        refused.text()
    );
    let deliveries = api
        .client()
        .get(&format!("/api/events/{id}/deliveries"))
        .bearer(signing::API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(deliveries.status, 200, "{}", deliveries.text());
    assert!(
        deliveries.text().contains("\"node\""),
        "{}",
        deliveries.text()
    );

    let console = cluster.port_forward(NAMESPACE, "service/webhook-inbox-console");
    let page = console.client().get("/console/").send().unwrap();
    assert_eq!(page.status, 200, "{}", page.text());
    let openapi = console.client().get("/api/openapi.json").send().unwrap();
    assert_eq!(openapi.status, 200, "{}", openapi.text());
    assert!(openapi.json()["paths"]["/api/events"].is_object());
    drop((webhook, api, forwarder, console));
    // Only the one delivery, once (the ticks after it found nothing due).
    assert_eq!(receiver.received("/in").len(), 1);

    // 5. A release that changes services/api only rolls only the api.
    let lib = scratch.join("services/api/src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str("\n// e2e: a change to services/api only\n");
    std::fs::write(&lib, source).unwrap();
    let next = scratch::commit(&scratch, "change services/api only");
    // Health and webhook are rebuilt from scratch, so their equal digests below prove a
    // reproducible build, not a build cargo skipped.
    let cleaned = Command::new("cargo")
        .args(["clean", "--release", "--target", "wasm32-wasip2"])
        .args(["-p", "health", "-p", "webhook"])
        .current_dir(&scratch)
        .status()
        .unwrap();
    assert!(cleaned.success(), "cargo clean -p health -p webhook");
    eprintln!("cluster: release two (services/api changed; health and webhook rebuilt from clean)");
    let second = registry::push_from(&scratch, &spin, &image, &["two"], true);
    for (component, _) in &first.references {
        let (before, after) = (first.digest(component), second.digest(component));
        if component == "api" {
            assert_ne!(before, after, "api changed: its digest must change");
            assert_eq!(second.output("commit_api"), Some(next.as_str()));
        } else {
            assert_eq!(
                before, after,
                "{component} did not change: its digest must not"
            );
            assert_eq!(
                second.output(&format!("commit_{component}")),
                Some(base.as_str())
            );
        }
    }
    let before = pods_by_app(&cluster);
    let overlay = user_overlay(&cluster, &scratch.join("kustomize"), &second, &receiver);
    apply_and_roll(&cluster, &overlay, "release two rolled out");
    let after = pods_by_app(&cluster);
    for (app, pods) in &before {
        if app == "webhook-inbox-api" {
            assert!(
                after[app].iter().all(|p| !pods.contains(p)),
                "the api pods must be new: {pods:?} -> {:?}",
                after[app]
            );
        } else {
            assert_eq!(
                &after[app], pods,
                "{app} must keep its pods (uid, restart count)"
            );
        }
    }
    let api = cluster.port_forward(NAMESPACE, "service/webhook-inbox-api");
    let health = api.client().get("/api/healthz").send().unwrap();
    assert_eq!(health.json()["commit"], next.as_str(), "{}", health.text());
    drop(api);

    // 6. Staging and prod as committed: accepted, and reconciled into Deployments.
    let keda = e2e::repo_root().join("tools/deploy-check/vendor/keda-crds");
    cluster.kubectl(&["apply", "--server-side", "-f", keda.to_str().unwrap()]);
    cluster.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd",
        "--all",
        "--timeout=60s",
    ]);
    for overlay in ["staging", "prod"] {
        // Their Secrets first, as docs/deploy.md says for staging and prod: without the Redis one
        // the operator cannot render a SpinApp's runtime config and makes no Deployment.
        let namespace = format!("webhook-inbox-{overlay}");
        apply_secrets(&cluster, &namespace, &pods, &redis, &receiver, false);
        let dir = scratch.join("kustomize/overlays").join(overlay);
        let output = cluster
            .kubectl_command()
            .args(["apply", "-k"])
            .arg(&dir)
            .output()
            .unwrap();
        cluster.expect_success(
            &format!("kubectl apply -k kustomize/overlays/{overlay}"),
            &output,
        );
        let apps = cluster.kubectl_json(&["-n", &namespace, "get", "spinapps"]);
        let names: Vec<String> = apps["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            names.len(),
            pods.as_array().unwrap().len(),
            "{overlay}: {names:?}"
        );
        cluster.wait(
            &format!("the operator's Deployments in {namespace}"),
            Duration::from_secs(60),
            || {
                names.iter().all(|name| {
                    cluster
                        .try_kubectl(&["-n", &namespace, "get", "deployment", name])
                        .is_some()
                })
            },
        );
        eprintln!(
            "cluster: {overlay} accepted ({} SpinApps reconciled)",
            names.len()
        );
        // Prod's placeholder digests and staging's images cannot be pulled here: stop their pods.
        cluster.kubectl(&["delete", "namespace", &namespace, "--wait=false"]);
    }
}
