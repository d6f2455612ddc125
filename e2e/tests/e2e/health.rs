//! `/healthz`, `/readyz` and the fallback 404 against the real `spin up`.

// Test code: a panic here is a failed test, which is what these would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use e2e::redis::RedisServer;
use e2e::{start_or_skip, SpinOptions};

#[test]
fn healthz_reports_ok_with_build_info_and_no_store() {
    let app = start_or_skip!("healthz", SpinOptions::default());
    let response = app.client().get("/healthz").send().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["commit"].as_str().is_some_and(|c| !c.is_empty()));
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 20,
        "{timestamp}"
    );
}

#[test]
fn head_healthz_has_the_same_status_and_headers_without_body() {
    let app = start_or_skip!("head healthz", SpinOptions::default());
    let response = app.client().request("HEAD", "/healthz").send().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.body.is_empty());
}

#[test]
fn readyz_checks_the_store_and_variables() {
    let app = start_or_skip!("readyz", SpinOptions::default());
    let response = app.client().get("/readyz").send().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["status"], "ready");
    let checks = body["checks"].as_array().unwrap();
    let names: Vec<_> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["key_value", "variables"]);
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{body}");
}

#[test]
fn readyz_is_503_naming_a_malformed_variable() {
    let app = start_or_skip!(
        "readyz misconfigured",
        SpinOptions::default().variable("webhook_timestamp_tolerance_secs", "soon")
    );
    let response = app.client().get("/readyz").send().unwrap();
    let body = response.assert_problem(503);
    assert_eq!(body["detail"], "not ready: variables failed");
    assert_eq!(response.header("retry-after"), Some("5"));
    let error = body["checks"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("`webhook_timestamp_tolerance_secs` is malformed"),
        "{error}"
    );
    // Liveness is unaffected: a config mistake must not make Kubernetes restart the pod.
    assert_eq!(app.client().get("/healthz").send().unwrap().status, 200);
}

/// A Redis that refuses writes (over `maxmemory` with `noeviction`) makes every store operation
/// fail with an error, which is what the components see when a store breaks. (A Redis that is
/// gone entirely makes Spin's client wait forever instead; in a cluster the probe timeout turns
/// that into "not ready" too. See docs/operations.md.)
#[test]
fn readyz_is_503_when_the_store_fails_and_liveness_stays_200() {
    let Some(redis) = RedisServer::start("readyz store down") else {
        return;
    };
    let app = start_or_skip!(
        "readyz store down",
        SpinOptions::default().runtime_config(&redis.runtime_config())
    );
    assert_eq!(app.client().get("/readyz").send().unwrap().status, 200);

    redis.refuse_writes();
    let response = app.client().get("/readyz").send().unwrap();
    let body = response.assert_problem(503);
    assert_eq!(body["detail"], "not ready: key_value failed", "{body}");
    assert_eq!(body["checks"][0]["status"], "fail");
    assert_eq!(body["checks"][1]["status"], "ok");
    assert_eq!(app.client().get("/healthz").send().unwrap().status, 200);
}

#[test]
fn other_methods_get_405_with_allow() {
    let app = start_or_skip!("405", SpinOptions::default());
    for (method, path) in [
        ("POST", "/healthz"),
        ("DELETE", "/readyz"),
        ("PUT", "/healthz"),
    ] {
        let response = app.client().request(method, path).send().unwrap();
        response.assert_problem(405);
        assert_eq!(
            response.header("allow"),
            Some("GET, HEAD"),
            "{method} {path}"
        );
    }
}

#[test]
fn unknown_routes_get_a_problem_404_and_request_ids_are_echoed() {
    let app = start_or_skip!("404", SpinOptions::default());
    let response = app
        .client()
        .get("/no/such/thing")
        .header("x-request-id", "e2e-req-1")
        .send()
        .unwrap();
    let body = response.assert_problem(404);
    assert_eq!(body["instance"], "/no/such/thing");
    assert_eq!(response.header("x-request-id"), Some("e2e-req-1"));
    assert_eq!(body["request_id"], "e2e-req-1");

    let minted = app.client().get("/healthz").send().unwrap();
    assert_eq!(minted.header("x-request-id").map(str::len), Some(32));
}

#[test]
fn logs_one_json_line_per_request_but_not_for_successful_probes() {
    let app = start_or_skip!("logs", SpinOptions::default());
    let client = app.client();
    for path in ["/healthz", "/readyz"] {
        let response = client
            .get(path)
            .header("x-request-id", "log-probe-quiet")
            .send()
            .unwrap();
        assert_eq!(response.status, 200, "{path}");
    }
    client
        .get("/nowhere")
        .header("x-request-id", "log-probe-1")
        .send()
        .unwrap();
    // Spin writes component stderr to the log dir as it arrives; give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let line = loop {
        let logs = app.component_logs();
        if let Some(line) = logs.lines().find(|l| l.contains("log-probe-1")) {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line:\n{}",
            app.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["method"], "GET");
    assert_eq!(json["route"], "unmatched");
    assert_eq!(json["status"], 404);
    assert_eq!(json["component"], "health");
    assert!(json["latency_ms"].is_number());
    // The probes were answered before /nowhere, so their lines would be there by now.
    assert!(
        !app.component_logs().contains("log-probe-quiet"),
        "a successful probe was logged:\n{}",
        app.component_logs()
    );
}

/// The processes serving `--listen 127.0.0.1:<port>` (`spin up` and the `spin trigger http` it
/// starts), from /proc.
fn processes_listening_on(port: u16) -> Vec<String> {
    let needle = format!("127.0.0.1:{port}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmdline| cmdline.contains("spin") && cmdline.contains(&needle))
        .collect()
}

#[test]
fn stopping_the_app_stops_every_spin_process() {
    let app = start_or_skip!("stop", SpinOptions::default());
    let port = app.port;
    assert!(
        processes_listening_on(port).len() >= 2,
        "expected spin up and its trigger: {:?}",
        processes_listening_on(port)
    );
    app.stop();
    // Exited processes can linger as zombies for a moment before their parent reaps them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !processes_listening_on(port).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(processes_listening_on(port), Vec::<String>::new());
}

/// Each component of spin.toml with an HTTP route and its probe prefix (the prefix of its
/// `/...` route: `/api`, `/webhooks`, ...; the health component's catch-all gives ``), and whether
/// it opens the key-value store (its readiness then checks it).
fn probed_components() -> Vec<(String, String, bool)> {
    let manifest: toml::Table = std::fs::read_to_string(e2e::repo_root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let triggers = manifest["trigger"]["http"].as_array().unwrap();
    let mut out = Vec::new();
    for (id, component) in manifest["component"].as_table().unwrap() {
        let prefix = triggers
            .iter()
            .filter(|t| t["component"].as_str() == Some(id))
            .filter_map(|t| t["route"].as_str()?.strip_suffix("/..."))
            .min_by_key(|p| p.len());
        if let Some(prefix) = prefix {
            let stores = component
                .get("key_value_stores")
                .and_then(|s| s.as_array())
                .is_some_and(|s| !s.is_empty());
            out.push((id.clone(), prefix.to_owned(), stores));
        }
    }
    out
}

/// Each SpinApp runs one component (`components:`), so each component answers its own probes,
/// unauthenticated, and a successful probe is not logged. Run here the way SpinKube runs each
/// pod: `spin up --component-id <one>`, for every component spin.toml routes to.
#[test]
fn each_component_alone_answers_its_own_probes() {
    let components = probed_components();
    assert!(components.len() >= 5, "{components:?}");
    for (component, prefix, stores) in components {
        let liveness = format!("{prefix}/healthz");
        let readiness = format!("{prefix}/readyz");
        let app = start_or_skip!(
            "component probes",
            e2e::signing::configured().component(&component, &liveness)
        );
        let client = app.client();
        let live = client.get(&liveness).send().unwrap();
        assert_eq!(live.status, 200, "{component}: {}", live.text());
        assert_eq!(live.json()["status"], "ok");
        let ready = client
            .get(&readiness)
            .header("x-request-id", "component-probe")
            .send()
            .unwrap();
        assert_eq!(ready.status, 200, "{component}: {}", ready.text());
        if stores {
            assert_eq!(ready.json()["checks"][0]["name"], "key_value");
        }
        // Only this component runs: the others' routes are not served.
        if component != "health" {
            assert_eq!(client.get("/healthz").send().unwrap().status, 404);
        }
        // A request the component does log, after the probe: once its line is written, the
        // probe's would be too (one component, one log, in order).
        let marker = format!("log-marker-{component}");
        let unknown = client
            .get(&format!("{prefix}/e2e-no-such-route"))
            .header("x-request-id", &marker)
            .send()
            .unwrap();
        // 404, or 405 where the prefix has a parameter route (`POST /webhooks/{provider}`).
        assert!(
            matches!(unknown.status, 404 | 405),
            "{component}: {} {}",
            unknown.status,
            unknown.text()
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !app.component_logs().contains(&marker) {
            assert!(
                std::time::Instant::now() < deadline,
                "{component}: the 404 was not logged:\n{}",
                app.logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            !app.component_logs().contains("component-probe"),
            "a successful probe was logged:\n{}",
            app.component_logs()
        );
    }
}
