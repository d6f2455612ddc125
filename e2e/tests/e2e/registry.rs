//! The release path, end to end: each component pushed as its own OCI artifact by the release
//! workflow's own script to a real OCI registry, then run from that registry reference by
//! `spin up`, as SpinKube runs it. A release that changes one component changes only that
//! component's digest and rolls only its pods: e2e/tests/cluster.rs, on the real cluster.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use e2e::registry::{self, OciRegistry};
use e2e::signing::configured;
use e2e::{build_app, git_commit, repo_root, require_program, start_or_skip};

const REPOSITORY: &str = "e2e/webhook-inbox";

/// spin.toml's component ids, as the push script reads them.
fn components(dir: &Path) -> Vec<String> {
    let output = Command::new("python3")
        .arg(dir.join("scripts/ci/components.py"))
        .arg("list")
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_component_is_pushed_as_its_own_artifact() {
    let test = "push to registry";
    let Some(spin) = require_program("SPIN_BIN", "spin", test) else {
        return;
    };
    let Some(oci) = OciRegistry::start(test) else {
        return;
    };
    build_app(&spin);

    // Two tags, as a release tag push gets (commit sha and version): one digest per component.
    let image = format!("{}/{REPOSITORY}", oci.host());
    let pushed = registry::push(&spin, &image, &["e2e-sha", "1.2.3"]);
    let ids = components(&repo_root());
    assert_eq!(
        pushed
            .references
            .iter()
            .map(|(c, _)| c.clone())
            .collect::<Vec<_>>(),
        ids
    );
    let mut digests = Vec::new();
    for component in &ids {
        let repository = format!("{REPOSITORY}/{component}");
        let digest = oci
            .digest_of(&repository, "e2e-sha")
            .unwrap_or_else(|| panic!("the registry has no {repository}:e2e-sha:\n{}", oci.logs()));
        assert_eq!(
            oci.digest_of(&repository, "1.2.3").as_deref(),
            Some(digest.as_str())
        );
        assert_eq!(
            pushed.reference(component),
            format!("{image}/{component}@{digest}")
        );
        // What the workflow publishes as job outputs and in the run summary.
        assert_eq!(
            pushed.output(&format!("digest_{component}")),
            Some(digest.as_str())
        );
        assert!(pushed
            .summary
            .contains(&format!("`{image}/{component}@{digest}`")));
        digests.push(digest);
    }
    assert_eq!(pushed.output("components"), Some(ids.join(" ").as_str()));
    digests.sort();
    digests.dedup();
    assert_eq!(
        digests.len(),
        ids.len(),
        "each component has its own artifact"
    );

    // Run by digest, the way the deploy workflow pins it: the health artifact serves health.
    let app = start_or_skip!(test, configured().from_registry(pushed.reference("health")));
    let health = app.client().get("/healthz").send().unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
    let commit = git_commit().unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(
        health.json()["commit"],
        commit.as_str(),
        "the stamped commit"
    );
    assert_eq!(app.client().get("/readyz").send().unwrap().status, 200);
    // It holds health alone: no other component's route.
    let elsewhere = app.client().get("/api/healthz").send().unwrap();
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.text());
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
    let output = Command::new(&spin)
        .arg("up")
        .arg("--insecure")
        .arg("--from")
        .arg(format!("{}/{REPOSITORY}/health:never-pushed", oci.host()))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", e2e::free_port()))
        .arg("--cache-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success(), "spin up served a missing image");
}
