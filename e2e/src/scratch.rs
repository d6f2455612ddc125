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
///
/// The checkout may be building while this copies (the test suite runs the bench's release
/// builds beside the cluster test): rustc's temporaries vanish under the copy, and a unit being
/// compiled has half-written outputs. So what vanishes is skipped (`cp -a` failed the test on it),
/// and `.fingerprint` is copied first: cargo writes a unit's fingerprint after its outputs are
/// complete, so every fingerprint in the copy vouches for outputs that were whole before the copy
/// of `deps` began, and a unit without one is compiled again. Modification times are kept: cargo
/// compares them between a unit and its dependencies.
fn seed_target(from: &Path, to: &Path) {
    if to.exists() {
        return;
    }
    for dir in ["wasm32-wasip2/release", "release"] {
        for part in [".fingerprint", "build", "deps"] {
            let source = from.join(dir).join(part);
            if !source.is_dir() {
                continue;
            }
            let target = to.join(dir).join(part);
            if let Err(error) = copy_tree(&source, &target) {
                panic!(
                    "copying {} to {}: {error}",
                    source.display(),
                    target.display()
                );
            }
        }
    }
}

/// Copies the tree `from` into `to` (files with their permissions and modification times,
/// directories, symbolic links), skipping every entry that vanishes while it is copied.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let Some(entries) = unless_vanished(std::fs::read_dir(from))? else {
        return Ok(());
    };
    for entry in entries {
        let Some(entry) = unless_vanished(entry)? else {
            continue;
        };
        let Some(kind) = unless_vanished(entry.file_type())? else {
            continue;
        };
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_symlink() {
            if let Some(link) = unless_vanished(std::fs::read_link(&source))? {
                std::os::unix::fs::symlink(link, &target)?;
            }
        } else {
            copy_file(&source, &target)?;
        }
    }
    Ok(())
}

/// Copies one file with its permissions and modification time; `false` if it was gone. Once
/// open, the file's contents stay whole even if it is deleted meanwhile.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<bool> {
    let Some(mut source) = unless_vanished(std::fs::File::open(from))? else {
        return Ok(false);
    };
    let metadata = source.metadata()?;
    let mut target = std::fs::File::create(to)?;
    std::io::copy(&mut source, &mut target)?;
    target.set_permissions(metadata.permissions())?;
    target.set_modified(metadata.modified()?)?;
    Ok(true)
}

/// `Ok(None)` for an entry that no longer exists, the result otherwise.
fn unless_vanished<T>(result: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn the_seed_keeps_contents_permissions_times_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        let deps = from.join("release/deps");
        let build = from.join("release/build/pkg-1/out");
        std::fs::create_dir_all(&deps).unwrap();
        std::fs::create_dir_all(&build).unwrap();
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let script = from.join("release/build/pkg-1/build-script-build");
        std::fs::write(&script, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(deps.join("libx.rlib"), b"rlib").unwrap();
        std::fs::File::options()
            .write(true)
            .open(deps.join("libx.rlib"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::fs::write(build.join("generated.rs"), b"// generated").unwrap();
        std::os::unix::fs::symlink("libx.rlib", deps.join("liblink.rlib")).unwrap();

        seed_target(&from, &to);

        let copied = to.join("release/deps/libx.rlib");
        assert_eq!(std::fs::read(&copied).unwrap(), b"rlib");
        assert_eq!(std::fs::metadata(&copied).unwrap().modified().unwrap(), old);
        let mode = std::fs::metadata(to.join("release/build/pkg-1/build-script-build"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read(to.join("release/build/pkg-1/out/generated.rs")).unwrap(),
            b"// generated"
        );
        assert_eq!(
            std::fs::read_link(to.join("release/deps/liblink.rlib")).unwrap(),
            Path::new("libx.rlib")
        );
        assert!(!to.join("wasm32-wasip2").exists(), "nothing to copy there");
    }

    #[test]
    fn a_file_gone_before_its_copy_is_skipped_and_other_errors_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.o");
        assert!(!copy_file(&gone, &dir.path().join("copy.o")).unwrap());
        assert!(!dir.path().join("copy.o").exists());
        std::fs::write(dir.path().join("present.o"), b"o").unwrap();
        let into_missing_dir = copy_file(
            &dir.path().join("present.o"),
            &dir.path().join("no/such/dir/present.o"),
        );
        assert!(into_missing_dir.is_err(), "only the source may vanish");
    }

    /// What failed the cluster test in CI: the bench's release build ran beside it, and rustc's
    /// temporaries (`*.rcgu.o`) vanished between `cp -a` listing `deps` and copying them.
    #[test]
    fn the_seed_survives_a_build_creating_and_deleting_files_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        let deps = from.join("release/deps");
        std::fs::create_dir_all(&deps).unwrap();
        for n in 0..200 {
            std::fs::write(deps.join(format!("libdep{n}.rlib")), b"rlib").unwrap();
        }
        let building = AtomicBool::new(true);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut n = 0_u64;
                while building.load(Ordering::Relaxed) {
                    let temporary = deps.join(format!("x.cgu.{}.rcgu.o", (n / 2) % 64));
                    if n.is_multiple_of(2) {
                        let _ = std::fs::write(&temporary, b"object");
                    } else {
                        let _ = std::fs::remove_file(&temporary);
                    }
                    n += 1;
                }
            });
            // Stops the build when the copies are done, or when one panicked (the scope waits).
            let _stop = StopOnDrop(&building);
            for round in 0..20 {
                let to = dir.path().join(format!("to-{round}"));
                seed_target(&from, &to);
                for n in 0..200 {
                    assert!(to.join(format!("release/deps/libdep{n}.rlib")).is_file());
                }
            }
        });
    }

    struct StopOnDrop<'a>(&'a AtomicBool);

    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Relaxed);
        }
    }
}
