//! The release path, end to end: each component pushed as its own OCI artifact by the release
//! workflow's own script to a real OCI registry, then run from that registry reference by
//! `spin up`, as SpinKube runs it; and a release that changes one component changes only that
//! component's digest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::registry::{self, OciRegistry};
use e2e::signing::{self, configured};
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

/// A scratch copy of the checkout (what `git ls-files` lists, uncommitted changes included) at a
/// fixed place under target/, so its own target/ keeps the dependencies built between runs.
fn scratch_copy() -> PathBuf {
    let root = repo_root();
    let scratch = root.join("target/e2e-release/src");
    if scratch.exists() {
        for entry in std::fs::read_dir(&scratch).unwrap().flatten() {
            if entry.file_name() != "target" {
                let path = entry.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(&path).unwrap();
                } else {
                    std::fs::remove_file(&path).unwrap();
                }
            }
        }
    }
    std::fs::create_dir_all(&scratch).unwrap();
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(listed.status.success(), "git ls-files failed");
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let relative = Path::new(std::str::from_utf8(file).unwrap());
        let from = root.join(relative);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        let to = scratch.join(relative);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    git(&scratch, &["init", "-q", "-b", "main"]);
    commit(&scratch, "base");
    scratch
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        // Fixed identity and dates: the same tree gives the same commit, run after run.
        .env("GIT_AUTHOR_NAME", "e2e")
        .env("GIT_AUTHOR_EMAIL", "e2e@example.invalid")
        .env("GIT_COMMITTER_NAME", "e2e")
        .env("GIT_COMMITTER_EMAIL", "e2e@example.invalid")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "commit",
            "-q",
            "--no-gpg-sign",
            "--allow-empty",
            "-m",
            message,
        ],
    );
    git(dir, &["rev-parse", "HEAD"])
}

#[test]
fn a_release_that_changes_only_the_api_changes_only_the_api_digest() {
    let test = "per-component release";
    let Some(spin) = require_program("SPIN_BIN", "spin", test) else {
        return;
    };
    let Some(oci) = OciRegistry::start(test) else {
        return;
    };
    let scratch = scratch_copy();
    let base = git(&scratch, &["rev-parse", "HEAD"]);
    let image = format!("{}/{REPOSITORY}", oci.host());
    eprintln!(
        "e2e: release 1 (scripts/push.sh --build in {})",
        scratch.display()
    );
    let first = registry::push_from(&scratch, &spin, &image, &["one"], true);

    // A change to services/api only, committed: the next release.
    let lib = scratch.join("services/api/src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str("\n// e2e: a change to services/api only\n");
    std::fs::write(&lib, source).unwrap();
    let next = commit(&scratch, "change services/api only");
    // The unchanged components are rebuilt from scratch, so equal digests prove a reproducible
    // build, not a build cargo skipped.
    let cleaned = Command::new("cargo")
        .args([
            "clean",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "health",
            "-p",
            "webhook",
        ])
        .current_dir(&scratch)
        .status()
        .unwrap();
    assert!(cleaned.success());
    eprintln!("e2e: release 2 (health and webhook rebuilt from clean)");
    let second = registry::push_from(&scratch, &spin, &image, &["two"], true);

    for component in components(&scratch) {
        let (before, after) = (first.digest(&component), second.digest(&component));
        if component == "api" {
            assert_ne!(before, after, "api changed: its digest must change");
        } else {
            assert_eq!(
                before, after,
                "{component} did not change: its digest must not"
            );
        }
        assert_eq!(
            oci.digest_of(&format!("{REPOSITORY}/{component}"), "two")
                .as_deref(),
            Some(after)
        );
    }
    assert_eq!(second.output("commit_api"), Some(next.as_str()));
    assert_eq!(second.output("commit_health"), Some(base.as_str()));
    assert_eq!(second.output("commit_webhook"), Some(base.as_str()));

    // `spin up --from` each artifact of the second release serves its component, and reports
    // that component's own stamp.
    let health = start_or_skip!(test, configured().from_registry(second.reference("health")));
    let answer = health.client().get("/healthz").send().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["commit"], base.as_str());
    drop(health);

    let api = start_or_skip!(
        test,
        configured()
            .from_registry(second.reference("api"))
            .component("api", "/api/healthz")
    );
    let answer = api.client().get("/api/healthz").send().unwrap();
    assert_eq!(answer.json()["commit"], next.as_str());
    let listing = api
        .client()
        .get("/api/events")
        .bearer(signing::API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(listing.status, 200, "{}", listing.text());
    drop(api);

    let webhook = start_or_skip!(
        test,
        configured()
            .from_registry(second.reference("webhook"))
            .component("webhook", "/webhooks/healthz")
    );
    let client = webhook.client();
    assert_eq!(
        client.get("/webhooks/healthz").send().unwrap().json()["commit"],
        base.as_str()
    );
    let delivery = signing::github(
        &client,
        "e2e-registry-1",
        "push",
        r#"{"ref":"refs/heads/main"}"#,
    );
    let accepted = delivery.clone().send().unwrap();
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let duplicate = delivery.send().unwrap();
    assert_eq!(duplicate.status, 200, "{}", duplicate.text());
    // A delivery signed with the wrong secret is refused by the pulled app too.
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
