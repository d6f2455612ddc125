//! The release path, end to end: the app pushed by the release workflow's own script to a real
//! OCI registry, then run from that registry reference by `spin up`, as SpinKube runs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2e::registry::{self, OciRegistry};
use e2e::signing::{self, configured};
use e2e::{build_app, git_commit, require_program, start_or_skip};

const REPOSITORY: &str = "e2e/webhook-inbox";

#[test]
fn the_pushed_app_runs_from_the_registry() {
    let test = "push to registry";
    let Some(spin) = require_program("SPIN_BIN", "spin", test) else {
        return;
    };
    let Some(oci) = OciRegistry::start(test) else {
        return;
    };
    build_app(&spin);

    // Two tags, as a release tag push gets (commit sha and version): one digest for both.
    let image = format!("{}/{REPOSITORY}", oci.host());
    let pushed = registry::push(&spin, &image, &["e2e-sha", "1.2.3"]);
    let digest = oci
        .digest_of(REPOSITORY, "e2e-sha")
        .unwrap_or_else(|| panic!("the registry has no e2e-sha tag:\n{}", oci.logs()));
    assert_eq!(pushed.reference, format!("{image}@{digest}"));
    assert_eq!(
        oci.digest_of(REPOSITORY, "1.2.3").as_deref(),
        Some(digest.as_str())
    );
    // What the workflow publishes as job outputs and in the run summary.
    assert_eq!(
        pushed.outputs,
        format!("image={image}\ndigest={digest}\nreference={image}@{digest}\n")
    );
    assert!(pushed.summary.contains(&format!("`{image}@{digest}`")));

    // Run by digest, the way the deploy workflow pins it.
    let app = start_or_skip!(test, configured().from_registry(&pushed.reference));
    let client = app.client();

    let health = client.get("/healthz").send().unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
    let commit = git_commit().unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(
        health.json()["commit"],
        commit.as_str(),
        "the stamped commit"
    );
    let ready = client.get("/readyz").send().unwrap();
    assert_eq!(ready.status, 200, "{}", ready.text());

    let delivery = signing::github(
        &client,
        "e2e-registry-1",
        "push",
        r#"{"ref":"refs/heads/main"}"#,
    );
    let accepted = delivery.clone().send().unwrap();
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let id = accepted.json()["id"].as_str().unwrap().to_owned();
    let duplicate = delivery.send().unwrap();
    assert_eq!(duplicate.status, 200, "{}", duplicate.text());
    assert_eq!(duplicate.json()["id"], id.as_str());

    // And a delivery signed with the wrong secret is refused by the pulled app too.
    let forged = client
        .post("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-delivery", "e2e-registry-forged")
        .header("x-github-event", "push")
        .header(
            "x-hub-signature-256",
            &webhook_verify::github::sign(b"not-the-secret", b"{}"),
        )
        .body("{}")
        .send()
        .unwrap();
    forged.assert_problem(401);

    let event = client
        .get(&format!("/api/events/{id}"))
        .bearer(signing::API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(event.status, 200, "{}", event.text());
}

#[test]
fn a_reference_the_registry_does_not_have_is_refused() {
    let test = "push to registry (unknown reference)";
    let Some(spin) = require_program("SPIN_BIN", "spin", test) else {
        return;
    };
    let Some(oci) = OciRegistry::start(test) else {
        return;
    };
    let output = std::process::Command::new(&spin)
        .arg("up")
        .arg("--insecure")
        .arg("--from")
        .arg(format!("{}/{REPOSITORY}:never-pushed", oci.host()))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", e2e::free_port()))
        .arg("--cache-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success(), "spin up served a missing image");
}
