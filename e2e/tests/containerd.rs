//! What a cluster does, minus the kubelet: each component's released artifact pushed with the
//! project's own script to a local registry, pulled by a private containerd 1.7, and one
//! container per SpinApp of the rendered overlay run on the SpinKube shim
//! (`io.containerd.spin.v2`, v0.24.0, Spin 3.6.3) with what the spin-operator gives its pod:
//! `SPIN_COMPONENTS_TO_RETAIN` from `components:`, the variables as `SPIN_VARIABLE_*`, the
//! Redis key-value store as `/runtime-config.toml`, `SPIN_HTTP_LISTEN_ADDR` on a free loopback
//! port. Every SpinApp's probes answer, and a signed delivery through the webhook container is
//! read back through the api container: the cluster's data path across pods sharing one Redis.
//!
//! The containers start one after the other: Spin containers started at the same moment make
//! shim v0.24.0 fail one of them (`Failed to read Spin app manifest from "/spin.toml"`; seen
//! through ctr and through containerd's CRI plugin; docs/operations.md, "Pods starting together
//! on one node").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use e2e::containerd::{self, Containerd};
use e2e::redis::RedisServer;
use e2e::registry::{self, OciRegistry};
use e2e::signing;
use e2e::{build_app, free_port, require_program, Client};

/// The values the cluster's Secrets hold in this test (the overlay only references them). The
/// optional forward_destinations key is absent (no destination: forwarding off), so the kubelet
/// leaves that variable unset.
fn secret_value(name: &str, key: &str, optional: bool, redis: &RedisServer) -> Option<String> {
    let value = match (name, key) {
        ("webhook-inbox-redis", "url") => redis.url(),
        (_, "api_token") => signing::API_TOKEN.to_owned(),
        (_, "webhook_github_secret") => signing::GITHUB_SECRET.to_owned(),
        (_, "webhook_stripe_secret") => signing::STRIPE_SECRET.to_owned(),
        (_, "webhook_standard_secret") => signing::STANDARD_SECRET.to_owned(),
        (_, "webhook_shopify_secret") => signing::SHOPIFY_SECRET.to_owned(),
        (_, "webhook_slack_secret") => signing::SLACK_SECRET.to_owned(),
        (_, "webhook_linear_secret") => signing::LINEAR_SECRET.to_owned(),
        _ if optional => return None,
        _ => panic!("the overlay references Secret {name} key {key}, unknown to this test"),
    };
    Some(value)
}

/// What the pod sees for one variable: a ConfigMap's value, with `http://<Service>` of another
/// SpinApp of the overlay replaced by that container's loopback port (the cluster's DNS and
/// Services; forward_dispatch_url names the forwarder's), or a Secret's.
fn resolve(
    value: &serde_json::Value,
    redis: &RedisServer,
    services: &std::collections::HashMap<String, u16>,
) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(
            s.strip_prefix("http://")
                .and_then(|host| services.get(host.trim_end_matches('/')))
                .map_or_else(|| s.clone(), |port| format!("http://127.0.0.1:{port}")),
        ),
        serde_json::Value::Object(o) => secret_value(
            o["secret"].as_str().unwrap(),
            o["key"].as_str().unwrap(),
            o.get("optional")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            redis,
        ),
        other => panic!("unexpected value {other}"),
    }
}

/// The runtime config the operator renders for the pod (internal/runtimeconfig): one
/// `[key_value_store.<name>]` table per store, its options as keys.
fn runtime_config(pod: &serde_json::Value, redis: &RedisServer) -> String {
    let mut toml = String::new();
    for store in pod["key_value_stores"].as_array().unwrap() {
        toml.push_str(&format!(
            "[key_value_store.{}]\ntype = \"{}\"\n",
            store["name"].as_str().unwrap(),
            store["type"].as_str().unwrap()
        ));
        for (option, value) in store["options"].as_object().unwrap() {
            let value = resolve(value, redis, &Default::default()).expect("a store option");
            toml.push_str(&format!("{option} = {value:?}\n"));
        }
    }
    toml
}

fn wait_for_200(node: &mut Containerd, name: &str, port: u16, path: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        assert!(
            !node.exited(name),
            "container {name} exited before {path} answered:\n{}",
            node.log()
        );
        if Client::new(port)
            .get(path)
            .send()
            .is_ok_and(|r| r.status == 200)
        {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{name}: {path} did not answer 200 within 60 s:\n{}",
        node.log()
    );
}

#[test]
fn every_spinapp_of_the_rendered_overlay_serves_under_the_shim() {
    let test = "containerd + shim";
    let Some(tools) = containerd::tools(test) else {
        return;
    };
    let Some(spin) = require_program("SPIN_BIN", "spin", test) else {
        return;
    };
    let Some(pods) = containerd::rendered_pods("dev", test) else {
        return;
    };
    let Some(oci) = OciRegistry::start(test) else {
        return;
    };
    let Some(redis) = RedisServer::start(test) else {
        return;
    };
    build_app(&spin);
    // Pushed by the release workflow's script with the Spin the release workflow uses (3.6.3,
    // the one inside the shim), whatever Spin runs the rest of the suite.
    let image = format!("{}/e2e/containerd", oci.host());
    let pushed = registry::push(&tools.join("spin-3.6.3"), &image, &["e2e"]);

    let mut node = Containerd::start(&tools);
    let mut ports = std::collections::HashMap::new();
    let pods = pods.as_array().unwrap();
    // One SpinApp per component of spin.toml (deploy-check rule `components` checks the overlay
    // against it too): all five, the console and the forwarder included.
    let manifest: toml::Table = std::fs::read_to_string(e2e::repo_root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut expected: Vec<&str> = manifest["component"]
        .as_table()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut run: Vec<&str> = pods
        .iter()
        .map(|p| p["components"][0].as_str().unwrap())
        .collect();
    expected.sort_unstable();
    run.sort_unstable();
    assert_eq!(
        run, expected,
        "the dev overlay's SpinApps against spin.toml"
    );
    // Each SpinApp's Service, as its container's loopback port (chosen up front: the api starts
    // before the forwarder it calls).
    let services: std::collections::HashMap<String, u16> = pods
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), free_port()))
        .collect();
    for pod in pods {
        let name = pod["name"].as_str().unwrap();
        let components: Vec<&str> = pod["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(components.len(), 1, "{name} must run one component");
        let reference = pushed.reference(components[0]);
        node.pull(reference);

        let config = node.dir.path().join(format!("{name}.runtime-config.toml"));
        std::fs::write(&config, runtime_config(pod, &redis)).unwrap();
        let port = services[name];
        let mut env: Vec<(String, String)> = pod["env"]
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), resolve(v, &redis, &services)?)))
            .collect();
        env.push(("SPIN_HTTP_LISTEN_ADDR".into(), format!("127.0.0.1:{port}")));
        assert!(
            env.iter()
                .any(|(k, v)| k == "SPIN_COMPONENTS_TO_RETAIN" && v == components[0]),
            "{env:?}"
        );
        // One after the other: the next container starts once this one serves.
        node.run(name, reference, &env, &config);
        let took = wait_for_200(&mut node, name, port, pod["liveness"].as_str().unwrap());
        eprintln!("e2e: {name} ({reference}) serves after {took:?}");
        ports.insert(components[0].to_owned(), port);

        let client = Client::new(port);
        for probe in ["liveness", "readiness"] {
            let path = pod[probe].as_str().unwrap();
            let response = client.get(path).send().unwrap();
            assert_eq!(
                response.status,
                200,
                "{name} {probe} {path}: {}",
                response.text()
            );
        }
    }

    // The data path across pods: a signed delivery into the webhook container, read back
    // through the api container, both on one Redis.
    let webhook = Client::new(ports["webhook"]);
    let delivery = signing::github(
        &webhook,
        "e2e-containerd-1",
        "push",
        r#"{"ref":"refs/heads/main","via":"containerd"}"#,
    );
    let accepted = delivery.clone().send().unwrap();
    assert_eq!(accepted.status, 202, "{}\n{}", accepted.text(), node.log());
    let id = accepted.json()["id"].as_str().unwrap().to_owned();
    let duplicate = delivery.send().unwrap();
    assert_eq!(duplicate.status, 200, "{}", duplicate.text());
    assert_eq!(duplicate.json()["duplicate"], true);
    assert_eq!(duplicate.json()["id"], id.as_str());

    let api = Client::new(ports["api"]);
    let event = api
        .get(&format!("/api/events/{id}"))
        .bearer(signing::API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(event.status, 200, "{}", event.text());
    assert_eq!(event.json()["delivery_id"], "e2e-containerd-1");
    // Each pod serves only its own component: the api pod does not route webhooks.
    let elsewhere = api.post("/webhooks/github").body("{}").send().unwrap();
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.text());

    // The ticker's call: the forwarder's dispatch round with the API token (none without it).
    let forwarder = Client::new(ports["forwarder"]);
    let refused = forwarder.post("/api/dispatch").send().unwrap();
    assert_eq!(refused.status, 401, "{}", refused.text());
    let round = forwarder
        .post("/api/dispatch")
        .bearer(signing::API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(round.status, 200, "{}\n{}", round.text(), node.log());
    // The console serves the page and the API's OpenAPI document.
    let console = Client::new(ports["console"]);
    let page = console.get("/console/").send().unwrap();
    assert_eq!(page.status, 200, "{}", page.text());
    let openapi = console.get("/api/openapi.json").send().unwrap();
    assert_eq!(openapi.status, 200, "{}", openapi.text());
    assert!(openapi.json()["paths"]["/api/events"].is_object());
}
