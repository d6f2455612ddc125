//! spin.toml against the workspace: every component's `watch` list covers every source it is
//! built from, so `spin watch` rebuilds on any change that changes the component; the variables,
//! routes and outbound hosts against the code; and every hand-kept list of secret keys
//! (`deploy/dev-secrets.env.example`, `kustomize/external-refs.yaml`, the e2e secrets (`signing::all_secrets`)) against
//! the providers' secret variables. Runs without Spin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    e2e::repo_root()
}

fn read_toml(path: &Path) -> toml::Table {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.parse()
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The crate directory (relative to the repository root) of the package `name`.
fn crate_dir(name: &str) -> PathBuf {
    let workspace = read_toml(&root().join("Cargo.toml"));
    workspace["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| PathBuf::from(member.as_str().unwrap()))
        .find(|dir| {
            read_toml(&root().join(dir).join("Cargo.toml"))["package"]["name"].as_str()
                == Some(name)
        })
        .unwrap_or_else(|| panic!("no workspace member is called {name}"))
}

/// The directories of `dir`'s crate and of every path dependency it builds with (normal and
/// build dependencies, transitively), relative to the repository root.
fn source_dirs(dir: &Path, seen: &mut BTreeSet<PathBuf>) {
    if !seen.insert(dir.to_path_buf()) {
        return;
    }
    let manifest = read_toml(&root().join(dir).join("Cargo.toml"));
    let workspace = read_toml(&root().join("Cargo.toml"));
    for table in ["dependencies", "build-dependencies"] {
        let Some(deps) = manifest.get(table).and_then(|t| t.as_table()) else {
            continue;
        };
        for (name, spec) in deps {
            let path = if spec.get("workspace").and_then(|w| w.as_bool()) == Some(true) {
                workspace["workspace"]["dependencies"]
                    .get(name)
                    .and_then(|d| d.get("path"))
                    .map(|p| PathBuf::from(p.as_str().unwrap()))
            } else {
                spec.get("path")
                    .map(|p| normalize(&dir.join(p.as_str().unwrap())))
            };
            if let Some(path) = path {
                source_dirs(&path, seen);
            }
        }
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether a watch glob covers `file` (only the `**/*.ext` and literal forms spin.toml uses).
fn covers(glob: &str, file: &str) -> bool {
    match glob.split_once("**/") {
        Some((prefix, pattern)) => {
            file.starts_with(prefix)
                && match pattern.strip_prefix('*') {
                    Some(suffix) => file.ends_with(suffix),
                    None => {
                        file.ends_with(&format!("/{pattern}"))
                            || file == format!("{prefix}{pattern}")
                    }
                }
        }
        None => glob == file,
    }
}

#[test]
fn every_component_watches_every_source_it_is_built_from() {
    let manifest = read_toml(&root().join("spin.toml"));
    let components = manifest["component"].as_table().unwrap();
    assert!(!components.is_empty());
    for (id, component) in components {
        let build = &component["build"];
        let command = build["command"].as_str().unwrap();
        let package = command
            .split_whitespace()
            .skip_while(|word| *word != "-p")
            .nth(1)
            .unwrap_or_else(|| panic!("component {id}: build command names no package: {command}"));
        let watch: Vec<&str> = build["watch"]
            .as_array()
            .unwrap_or_else(|| panic!("component {id} has no watch list"))
            .iter()
            .map(|glob| glob.as_str().unwrap())
            .collect();
        let mut dirs = BTreeSet::new();
        source_dirs(&crate_dir(package), &mut dirs);
        let mut files: Vec<String> = vec!["Cargo.toml".into(), "Cargo.lock".into()];
        for dir in &dirs {
            let dir_text = dir.to_str().unwrap().to_owned();
            files.push(format!("{dir_text}/Cargo.toml"));
            for entry in walk(&root().join(dir)) {
                let relative = entry
                    .strip_prefix(root())
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                if relative.ends_with(".rs") || relative.ends_with(".json") {
                    // Nested crates (a member inside this crate's folder) are checked on their own.
                    files.push(relative);
                }
            }
        }
        let missing: Vec<&String> = files
            .iter()
            .filter(|file| !watch.iter().any(|glob| covers(glob, file)))
            .collect();
        assert!(
            missing.is_empty(),
            "component {id}: spin.toml's watch misses {missing:?} (dirs {dirs:?})"
        );
    }
}

/// Every file under `dir`, skipping build output.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path
            .file_name()
            .is_some_and(|name| name == "target" || name == "node_modules")
        {
            continue;
        }
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn watch_globs_match_as_spin_reads_them() {
    assert!(covers(
        "crates/inbox-core/src/**/*.rs",
        "crates/inbox-core/src/http/mod.rs"
    ));
    assert!(covers(
        "crates/inbox-core/src/**/*.rs",
        "crates/inbox-core/src/lib.rs"
    ));
    assert!(!covers(
        "crates/inbox-core/src/**/*.rs",
        "crates/inbox-core/Cargo.toml"
    ));
    assert!(covers("Cargo.toml", "Cargo.toml"));
    assert!(!covers(
        "services/api/src/**/*.rs",
        "crates/api-contract/src/lib.rs"
    ));
}

/// Spin's rule for variable names: lower-case ASCII words joined by `_`, each word starting with a
/// letter (`forward_allowed_host_1` is refused when the manifest is loaded).
#[test]
fn variable_names_are_ones_spin_accepts() {
    let manifest = read_toml(&root().join("spin.toml"));
    let valid = |name: &str| {
        name.split('_').all(|word| {
            word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
    };
    for name in manifest["variables"].as_table().unwrap().keys() {
        assert!(
            valid(name),
            "spin.toml variable {name:?}: Spin refuses this name"
        );
    }
    assert!(!valid("forward_allowed_host_1"));
}

/// The variables each component is granted in spin.toml, exactly as its code reads them (and so
/// readiness checks them). deploy-check, in turn, checks that each SpinApp passes every variable
/// its component is granted.
#[test]
fn every_component_is_granted_exactly_the_variables_its_code_reads() {
    let manifest = read_toml(&root().join("spin.toml"));
    let declared: BTreeSet<&str> = manifest["variables"]
        .as_table()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let code: [(&str, Vec<&str>); 6] = [
        ("health", health::service::VARIABLES.to_vec()),
        ("api", api::service::VARIABLES.to_vec()),
        ("webhook", webhook::service::variables()),
        ("console", console::service::VARIABLES.to_vec()),
        ("forwarder", forwarder::service::variables()),
        ("ticker", ticker::VARIABLES.to_vec()),
    ];
    let components = manifest["component"].as_table().unwrap();
    assert_eq!(
        components
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        code.iter().map(|(id, _)| *id).collect::<BTreeSet<_>>(),
        "every spin.toml component is checked here"
    );
    for (id, read) in code {
        let granted: BTreeSet<&str> = manifest["component"][id]["variables"]
            .as_table()
            .unwrap_or_else(|| panic!("component {id} has no variables table"))
            .iter()
            .map(|(name, template)| {
                // Each is passed through from the application variable of the same name.
                assert_eq!(
                    template.as_str(),
                    Some(format!("{{{{ {name} }}}}").as_str()),
                    "component {id}: {name}"
                );
                name.as_str()
            })
            .collect();
        let read: BTreeSet<&str> = read.into_iter().collect();
        assert_eq!(
            granted, read,
            "component {id}: spin.toml grants vs the code reads"
        );
        assert!(
            granted.is_subset(&declared),
            "component {id}: undeclared variables"
        );
    }
}

/// The component spin.toml routes `path` to: the exact route, else the longest `/prefix/...`
/// wildcard that covers it (Spin's rule: the most specific route wins).
fn routed_component(manifest: &toml::Table, path: &str) -> Option<String> {
    let triggers = manifest["trigger"]["http"].as_array()?;
    let mut best: Option<(usize, String)> = None;
    for trigger in triggers {
        let route = trigger["route"].as_str()?;
        let component = trigger["component"].as_str()?.to_owned();
        let specificity = if route == path {
            usize::MAX
        } else if segments_match(route, path) {
            // `:param` segments: more specific than any wildcard.
            usize::MAX - 1
        } else if let Some(prefix) = route.strip_suffix("/...") {
            if path == prefix || path.starts_with(&format!("{prefix}/")) {
                prefix.len()
            } else {
                continue;
            }
        } else {
            continue;
        };
        if best.as_ref().is_none_or(|(s, _)| specificity > *s) {
            best = Some((specificity, component));
        }
    }
    best.map(|(_, component)| component)
}

/// Every API operation's path reaches the component the contract says serves it.
#[test]
fn spin_toml_routes_every_api_operation_to_its_component() {
    let manifest = read_toml(&root().join("spin.toml"));
    for op in api_contract::Operation::ALL {
        let path = op
            .route()
            .replace(":id", "evt_00000000000000000000000000000000");
        let wanted = match op.server() {
            api_contract::Server::Api => "api",
            api_contract::Server::Console => "console",
            api_contract::Server::Forwarder => "forwarder",
        };
        assert_eq!(
            routed_component(&manifest, &path).as_deref(),
            Some(wanted),
            "{} ({path})",
            op.id()
        );
    }
    assert_eq!(
        routed_component(&manifest, console::service::OPENAPI_PATH).as_deref(),
        Some("console")
    );
}

/// Whether a route with `:param` segments matches `path` segment for segment.
fn segments_match(route: &str, path: &str) -> bool {
    let (route, path): (Vec<&str>, Vec<&str>) =
        (route.split('/').collect(), path.split('/').collect());
    !route.contains(&"...")
        && route.iter().any(|s| s.starts_with(':'))
        && route.len() == path.len()
        && route
            .iter()
            .zip(&path)
            .all(|(r, p)| r.starts_with(':') && !p.is_empty() || r == p)
}

/// The forwarder may reach exactly the loopback literals and the templated slots its readiness
/// checks destinations against; the webhook and api components only the forwarder.
#[test]
fn allowed_outbound_hosts_are_what_the_code_checks_against() {
    use inbox_core::forwarding::allowed;
    let manifest = read_toml(&root().join("spin.toml"));
    let hosts = |id: &str| -> Vec<String> {
        manifest["component"][id]
            .get("allowed_outbound_hosts")
            .and_then(|hosts| hosts.as_array())
            .map(|hosts| {
                hosts
                    .iter()
                    .map(|h| h.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let expected: Vec<String> = allowed::LITERAL
        .iter()
        .map(|literal| (*literal).to_owned())
        .chain(
            allowed::SLOT_VARIABLES
                .iter()
                .map(|slot| format!("{{{{ {slot} }}}}")),
        )
        .collect();
    assert_eq!(hosts("forwarder"), expected);
    for id in ["webhook", "api"] {
        assert_eq!(hosts(id), ["{{ forward_dispatch_url }}"], "{id}");
    }
    for id in ["health", "console"] {
        assert!(hosts(id).is_empty(), "{id} reaches out to nothing");
    }
    // Every slot's default is the pattern readiness treats as unused.
    for slot in allowed::SLOT_VARIABLES {
        assert_eq!(
            manifest["variables"][slot]["default"].as_str(),
            Some(allowed::UNUSED_SLOT),
            "{slot}"
        );
    }
}

// --- every provider's secret, wherever it is written by hand -------------------------------------

/// Every provider's secret variable, from the webhook component's table (`SPECS`, one row per
/// `Provider::ALL`).
fn provider_secrets() -> BTreeSet<&'static str> {
    let secrets: BTreeSet<&str> = webhook::providers::secret_variables().collect();
    assert_eq!(
        secrets.len(),
        inbox_core::events::Provider::ALL.len(),
        "one secret variable per provider"
    );
    secrets
}

/// spin.toml's variables declared `secret = true`.
fn declared_secrets() -> BTreeSet<String> {
    let manifest = read_toml(&root().join("spin.toml"));
    manifest["variables"]
        .as_table()
        .unwrap()
        .iter()
        .filter(|(_, spec)| spec.get("secret").and_then(toml::Value::as_bool) == Some(true))
        .map(|(name, _)| name.clone())
        .collect()
}

/// What a hand-kept list of Secret keys must hold: every provider's secret variable and the API
/// token, and nothing but secret variables spin.toml declares (`optional` may be there or not).
fn secret_keys_problems(keys: &BTreeSet<String>, optional: &[&str]) -> Vec<String> {
    let declared = declared_secrets();
    let wanted: Vec<&str> = provider_secrets()
        .into_iter()
        .chain(["api_token", "forward_dispatch_token"])
        .collect();
    let mut problems: Vec<String> = wanted
        .iter()
        .filter(|name| !keys.contains(**name))
        .map(|missing| format!("missing {missing}"))
        .collect();
    problems.extend(
        keys.iter()
            .filter(|key| {
                !declared.contains(*key)
                    || !wanted.contains(&key.as_str()) && !optional.contains(&key.as_str())
            })
            .map(|unknown| {
                format!(
                    "{unknown} is not a provider's secret variable, the API token or the dispatch token"
                )
            }),
    );
    problems
}

/// `deploy/dev-secrets.env.example`'s keys (`KEY=VALUE` lines).
fn env_example_keys(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_once('=').map_or(line, |(key, _)| key).to_owned())
        .collect()
}

#[test]
fn the_dev_secrets_example_has_every_provider_secret() {
    let path = root().join("deploy/dev-secrets.env.example");
    let keys = env_example_keys(&std::fs::read_to_string(&path).unwrap());
    let problems = secret_keys_problems(&keys, &["forward_destinations"]);
    assert!(problems.is_empty(), "{}: {problems:?}", path.display());
}

/// The keys of `secret` per overlay in `kustomize/external-refs.yaml`, read line by line: an
/// overlay is a two-space-indented `name:` under `overlays:`, and the secret's keys are the flow
/// list after its `keys: [` (which may span lines).
fn external_secret_keys(text: &str, secret: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    let (mut overlay, mut in_secret, mut list): (Option<String>, bool, Option<String>) =
        (None, false, None);
    for line in text.lines() {
        let content = line.split('#').next().unwrap_or_default();
        if let Some(open) = list.as_mut() {
            open.push_str(content);
        } else if let Some(name) = line
            .strip_prefix("  ")
            .filter(|rest| !rest.starts_with(' '))
            .and_then(|rest| rest.trim_end().strip_suffix(':'))
        {
            overlay = Some(name.to_owned());
            in_secret = false;
        } else if line.trim_end().ends_with(':') && !line.trim_start().starts_with('#') {
            let key = line.trim().trim_end_matches(':');
            if line.starts_with("      ") && !line.starts_with("       ") {
                in_secret = key == secret;
            }
        } else if in_secret {
            if let Some((_, rest)) = content.split_once("keys: [") {
                list = Some(rest.to_owned());
            }
        }
        if let Some(done) = list.as_ref().and_then(|open| open.split_once(']')) {
            let keys = done
                .0
                .split(',')
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(str::to_owned)
                .collect();
            out.push((overlay.clone().unwrap_or_default(), keys));
            list = None;
        }
    }
    out
}

#[test]
fn external_refs_list_every_provider_secret_in_every_overlay() {
    let path = root().join("kustomize/external-refs.yaml");
    let per_overlay = external_secret_keys(
        &std::fs::read_to_string(&path).unwrap(),
        "webhook-inbox-secrets",
    );
    let overlays: BTreeSet<String> = std::fs::read_dir(root().join("kustomize/overlays"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        per_overlay
            .iter()
            .map(|(overlay, _)| overlay.clone())
            .collect::<BTreeSet<_>>(),
        overlays,
        "{}: webhook-inbox-secrets' keys, once for every overlay",
        path.display()
    );
    for (overlay, keys) in per_overlay {
        let problems = secret_keys_problems(&keys, &["forward_destinations"]);
        assert!(
            problems.is_empty(),
            "{}, overlay {overlay}, webhook-inbox-secrets: {problems:?}",
            path.display()
        );
    }
}

#[test]
fn the_e2e_secrets_cover_every_provider_secret() {
    let keys: BTreeSet<String> = e2e::signing::all_secrets()
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    let problems = secret_keys_problems(&keys, &[]);
    assert!(
        problems.is_empty(),
        "e2e/src/signing.rs SECRETS: {problems:?}"
    );
}

/// The readers above, and the check, on inputs that must fail.
#[test]
fn hand_kept_secret_lists_that_drift_are_found() {
    let every: Vec<String> = provider_secrets()
        .into_iter()
        .map(str::to_owned)
        .chain(["api_token".to_owned(), "forward_dispatch_token".to_owned()])
        .collect();
    let dropped = &every[1..];
    let example = format!("# c\n{}=x\n\nwebhook_acme_secret=y\n", dropped.join("=x\n"));
    let problems = secret_keys_problems(&env_example_keys(&example), &[]);
    assert!(
        problems.contains(&format!("missing {}", every[0]))
            && problems
                .iter()
                .any(|p| p.starts_with("webhook_acme_secret ")),
        "{problems:?}"
    );
    let yaml = format!(
        "overlays:\n  dev:\n    secrets:\n      webhook-inbox-secrets:\n        # c\n        keys: [{},\n               {}]\n      webhook-inbox-redis:\n        keys: [url]\n  prod:\n    secrets:\n      webhook-inbox-secrets:\n        keys: [{}]\n",
        every[..2].join(", "),
        every[2..].join(", "),
        dropped.join(", ")
    );
    let read = external_secret_keys(&yaml, "webhook-inbox-secrets");
    assert_eq!(read.len(), 2, "{read:?}");
    assert_eq!(read[0].0, "dev");
    assert!(secret_keys_problems(&read[0].1, &[]).is_empty(), "{read:?}");
    assert_eq!(read[1].0, "prod");
    assert_eq!(
        secret_keys_problems(&read[1].1, &[]),
        [format!("missing {}", every[0])]
    );
}
