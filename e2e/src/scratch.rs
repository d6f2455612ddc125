//! A scratch copy of the checkout in its own git repository, for tests that commit a change and
//! release again (the per-component release on the real cluster).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo_root;

/// A scratch copy of the checkout (what `git ls-files` lists, uncommitted changes included) at a
/// fixed place under target/, so its own target/ keeps the dependencies built between runs.
pub fn scratch_copy() -> PathBuf {
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
