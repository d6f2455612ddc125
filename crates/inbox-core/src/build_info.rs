//! What is running: the component's crate version and the git commit it was built from.
//!
//! The commit comes from the `GIT_COMMIT` environment variable at build time (CI sets it to
//! `github.sha`; `scripts/dev` sets it from `git rev-parse`). A build without it reports
//! `unknown` rather than guessing. The [`build_info!`](crate::build_info!) macro expands in the
//! calling crate so that `CARGO_PKG_VERSION` is the component's own version.

use serde::Serialize;

/// Reported when the build did not say which commit it was.
pub const UNKNOWN_COMMIT: &str = "unknown";

/// Version and commit of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BuildInfo {
    /// The crate version (`CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// The git commit, or `unknown`.
    pub commit: &'static str,
}

impl BuildInfo {
    /// Build info from the raw values; an empty or absent commit becomes `unknown`.
    pub const fn new(version: &'static str, commit: Option<&'static str>) -> Self {
        let commit = match commit {
            Some(commit) if !commit.is_empty() => commit,
            _ => UNKNOWN_COMMIT,
        };
        Self { version, commit }
    }
}

/// The calling crate's [`BuildInfo`], read at compile time.
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::build_info::BuildInfo::new(env!("CARGO_PKG_VERSION"), option_env!("GIT_COMMIT"))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_to_unknown_commit() {
        assert_eq!(BuildInfo::new("1.0.0", None).commit, UNKNOWN_COMMIT);
        assert_eq!(BuildInfo::new("1.0.0", Some("")).commit, UNKNOWN_COMMIT);
        assert_eq!(BuildInfo::new("1.0.0", Some("abc123")).commit, "abc123");
    }

    #[test]
    fn macro_reads_this_crates_version() {
        assert_eq!(crate::build_info!().version, env!("CARGO_PKG_VERSION"));
    }
}
