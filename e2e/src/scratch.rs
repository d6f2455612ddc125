//! A scratch copy of the checkout in its own git repository, for tests that commit a change and
//! release again (the per-component release on the real cluster).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo_root;

/// A scratch copy of the checkout (what `git ls-files` lists, uncommitted changes included) at a
/// fixed place under target/, so its own target/ keeps the dependencies built between runs. The
/// first time, its target/ is seeded with the checkout's compiled dependencies ([`seed_target`]).
pub fn scratch_copy() -> PathBuf {
    let root = repo_root();
    let scratch = root.join("target/e2e-release/src");
    seed_target(&root.join("target"), &scratch.join("target"));
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

/// What a build in the scratch copy needs to reuse the seeded dependencies: the checkout's own
/// linker for the Wasm target. `.cargo/config.toml` names it relative to the config file, so the
/// scratch copy's resolves to another path (a byte-identical copy of the script), and cargo, which
/// fingerprints the linker's path, would build every dependency again.
pub fn cargo_env() -> [(&'static str, PathBuf); 1] {
    [(
        "CARGO_TARGET_WASM32_WASIP2_LINKER",
        repo_root().join("scripts/build/link-component"),
    )]
}

/// Copies what the checkout's release builds compiled (the Wasm target's and the host's: build
/// scripts, proc macros) into `to`, unless `to` exists. With [`cargo_env`], cargo then reuses
/// every crates.io dependency, whose artifacts do not depend on where the workspace is (the same
/// versions, features, profile, target and linker), and builds the copy's own crates, which do
/// (their paths differ), from their sources: on a fresh clone the release from the scratch copy
/// compiled every dependency again (most of the cluster test's 290 s beside the end-to-end
/// suites).
fn seed_target(from: &Path, to: &Path) {
    if to.exists() {
        return;
    }
    for dir in ["wasm32-wasip2/release", "release"] {
        for part in ["deps", "build", ".fingerprint"] {
            let source = from.join(dir).join(part);
            if !source.is_dir() {
                continue;
            }
            let target = to.join(dir);
            std::fs::create_dir_all(&target).unwrap();
            let copied = Command::new("cp")
                .args(["-a", "--reflink=auto"])
                .arg(&source)
                .arg(&target)
                .status()
                .unwrap();
            assert!(
                copied.success(),
                "cp -a {} {}",
                source.display(),
                target.display()
            );
        }
    }
}

/// Runs git in `dir` with a fixed identity and dates; its trimmed standard output.
pub fn git(dir: &Path, args: &[&str]) -> String {
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

/// Commits everything in `dir`; the new commit.
pub fn commit(dir: &Path, message: &str) -> String {
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
