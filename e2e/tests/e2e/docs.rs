//! The docs against the code, the way `docs/problems.md` is checked by a unit test: every list or
//! table in README.md and docs/*.md marked `<!-- checked: KIND -->` is compared with what it lists
//! (spin.toml, the API contract's `Operation::ALL`, `Provider::ALL`, the components' probes), so a
//! stale row or a forgotten name fails here. Runs without Spin.
//!
//! Markers:
//!
//! - inline, around a list in prose or a table cell:
//!   `<!-- checked: KIND -->GitHub, Stripe and Linear<!-- /checked -->`;
//! - on its own line right before a table or a fenced block (several may be stacked):
//!   `<!-- checked: KIND -->` for a table, `<!-- checked: KIND, each: TEMPLATE -->` (every match of
//!   TEMPLATE, `{}` being one name) or `<!-- checked: KIND, list: TEMPLATE -->` (the first match,
//!   `{}` being a list, up to what follows it in TEMPLATE or the end of the line). A space in
//!   TEMPLATE matches any run of whitespace.
//!
//! A list is split on commas, "and", "or" and `<br/>`, with parentheses left out. Kinds:
//!
//! | kind | what it is compared with |
//! |---|---|
//! | `providers` | `Provider::ALL`, by slug or by its row's name, all and nothing else (a table: its first column) |
//! | `components` | spin.toml's components: every one with an HTTP trigger, nothing that is none (the ticker, which has no trigger, may be named) |
//! | `artifacts` | the `component=sha256:` pairs name every artifact (a component not carried by another) |
//! | `probes` | the backticked paths are every component's liveness and readiness paths |
//! | `routes` | a table: spin.toml's `[[trigger.http]]`, `Operation::ALL`, the providers' and probes' paths (`/webhooks/{provider}` stands for every provider's) |
//! | `variables` | a table: spin.toml's `[variables]`, their `secret` and `default`, and a "read by" column if any (`webhook_<provider>_secret` stands for every provider's) |
//! | `stats` | a fenced block holding an `/api/stats` answer: the fields `api_contract::Stats` has |
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use api_contract::{Operation, Server};
use inbox_core::clock::ManualClock;
use inbox_core::config::StaticVariables;
use inbox_core::events::{Provider, PruneReason};
use inbox_core::forwarding::poke::NoPoke;
use inbox_core::kv::NoStore;
use inbox_core::probes::Probed;

// ---------------------------------------------------------------------------------------------
// The sources

/// The repository, or `DOCS_CHECK_ROOT` (a copy of its Markdown and spin.toml, to try an edit
/// against these checks without touching the checkout).
fn root() -> PathBuf {
    std::env::var_os("DOCS_CHECK_ROOT").map_or_else(e2e::repo_root, PathBuf::from)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn spin_toml() -> toml::Table {
    read(&root().join("spin.toml")).parse().unwrap()
}

/// What the checks compare the docs with, read once per test.
#[derive(Debug)]
struct Sources {
    manifest: toml::Table,
}

impl Sources {
    fn load() -> Self {
        Self {
            manifest: spin_toml(),
        }
    }

    /// Every spin.toml component, in its order.
    fn components(&self) -> Vec<String> {
        self.manifest["component"]
            .as_table()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    /// `(route, component)` of every `[[trigger.http]]`.
    fn triggers(&self) -> Vec<(String, String)> {
        self.manifest["trigger"]["http"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["route"].as_str().unwrap().to_owned(),
                    t["component"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The components with an HTTP trigger: every list of components must name them.
    fn http_components(&self) -> BTreeSet<String> {
        self.triggers().into_iter().map(|(_, c)| c).collect()
    }

    /// The components that are an artifact of their own (scripts/ci/components.py `list`): not
    /// carried in another's (`[component.X.tool.webhook-inbox] with = ...`).
    fn artifacts(&self) -> BTreeSet<String> {
        self.components()
            .into_iter()
            .filter(|id| {
                self.manifest["component"][id.as_str()]
                    .get("tool")
                    .and_then(|t| t.get("webhook-inbox"))
                    .and_then(|t| t.get("with"))
                    .is_none()
            })
            .collect()
    }

    /// The components whose spin.toml `variables` grant `name`.
    fn readers(&self, name: &str) -> BTreeSet<String> {
        self.components()
            .into_iter()
            .filter(|id| {
                self.manifest["component"][id.as_str()]
                    .get("variables")
                    .and_then(|v| v.as_table())
                    .is_some_and(|v| v.contains_key(name))
            })
            .collect()
    }
}

/// Each HTTP component's liveness and readiness paths, from its `Probed` implementation.
fn probes() -> Vec<(&'static str, &'static str, &'static str)> {
    type Vars = StaticVariables;
    type Clock = ManualClock;
    fn of<P: Probed>(id: &'static str) -> (&'static str, &'static str, &'static str) {
        (id, P::LIVENESS, P::READINESS)
    }
    vec![
        of::<health::service::Health<NoStore, Vars, Clock>>("health"),
        of::<api::service::Api<NoStore, Vars, Clock, NoPoke>>("api"),
        of::<webhook::service::Webhooks<NoStore, Vars, Clock, NoPoke>>("webhook"),
        of::<console::service::Console<Vars, Clock>>("console"),
        of::<forwarder::service::Forwarder<NoStore, Vars, Clock, forwarder::sender::SpinSender>>(
            "forwarder",
        ),
    ]
}

/// How the docs write each provider's name: its catalogue row's `name`.
fn display_names() -> Vec<(&'static str, &'static str)> {
    Provider::ALL
        .iter()
        .map(|p| (p.as_str(), p.name()))
        .collect()
}

fn providers() -> BTreeSet<String> {
    Provider::ALL
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect()
}

/// The provider an item names, by its name (`github`) or its display name (`GitHub`).
fn provider_named(item: &str) -> Option<String> {
    Provider::ALL
        .iter()
        .map(|p| p.as_str())
        .find(|name| *name == item)
        .or_else(|| {
            display_names()
                .into_iter()
                .find(|(_, display)| *display == item)
                .map(|(name, _)| name)
        })
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Markers

/// One marked list or table.
#[derive(Debug, Clone)]
struct Marked {
    /// `file:line` of the marker.
    at: String,
    kind: String,
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Shape {
    /// The text between `<!-- checked: KIND -->` and `<!-- /checked -->`.
    Inline(String),
    /// The table or fenced block after a marker line: the whole of it.
    Block(String),
    /// Every match of the template in the block.
    Each { template: String, block: String },
    /// The first match of the template in the block, a list.
    List { template: String, block: String },
}

const OPEN: &str = "<!-- checked:";
const CLOSE: &str = "<!-- /checked -->";

/// The markers of one Markdown document.
fn markers(name: &str, text: &str) -> Result<Vec<Marked>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut offset = 0;
    for (number, line) in lines.iter().enumerate() {
        let mut search = 0;
        while let Some(start) = line[search..].find(OPEN).map(|s| s + search) {
            let at = format!("{name}:{}", number + 1);
            // Inside a code span (`<!-- checked: ... -->` written about) it is text.
            if line[..start].matches('`').count() % 2 == 1 {
                search = start + OPEN.len();
                continue;
            }
            let end = line[start..]
                .find("-->")
                .map(|e| e + start)
                .ok_or_else(|| format!("{at}: a `{OPEN}` marker must end on its line"))?;
            let header = line[start + OPEN.len()..end].trim();
            let (kind, mode) = match header.split_once(", ") {
                Some((kind, mode)) => (kind.trim().to_owned(), Some(mode.trim())),
                None => (header.to_owned(), None),
            };
            let alone = line.trim() == &line[start..end + 3];
            let next = lines[number + 1..]
                .iter()
                .position(|l| !(l.trim().starts_with(OPEN) && l.trim().ends_with("-->")))
                .map(|p| p + number + 1);
            let block = next.and_then(|first| block_at(&lines, first));
            let shape = match (mode, alone, block) {
                (None, true, Some(block)) => Shape::Block(block),
                (Some(mode), true, Some(block)) => match mode.split_once(':') {
                    Some(("each", template)) => Shape::Each {
                        template: template.trim().to_owned(),
                        block,
                    },
                    Some(("list", template)) => Shape::List {
                        template: template.trim().to_owned(),
                        block,
                    },
                    _ => return Err(format!("{at}: unknown marker mode {mode:?}")),
                },
                (Some(_), _, _) => {
                    return Err(format!(
                        "{at}: a marker with a template goes on its own line before a table or a \
                         fenced block"
                    ))
                }
                (None, _, _) => {
                    let from = offset + line[..end + 3].len();
                    let rest = &text[from..];
                    let stop = rest
                        .find(CLOSE)
                        .ok_or_else(|| format!("{at}: no `{CLOSE}` after this marker"))?;
                    Shape::Inline(rest[..stop].to_owned())
                }
            };
            found.push(Marked { at, kind, shape });
            search = end + 3;
        }
        offset += line.len() + 1;
    }
    Ok(found)
}

/// The table (lines starting with `|`) or fenced block starting at line `first`.
fn block_at(lines: &[&str], first: usize) -> Option<String> {
    let line = lines.get(first)?.trim_start();
    if line.starts_with('|') {
        let table: Vec<&str> = lines[first..]
            .iter()
            .take_while(|l| l.trim_start().starts_with('|'))
            .copied()
            .collect();
        return Some(table.join("\n"));
    }
    if line.starts_with("```") {
        let end = lines[first + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with("```"))?;
        return Some(lines[first + 1..first + 1 + end].join("\n"));
    }
    None
}

/// Every Markdown document the checks read: the top-level ones and docs/.
fn documents() -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [root(), root().join("docs")] {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let text = read(&path);
            (name, text)
        })
        .collect()
}

fn all_markers() -> Vec<Marked> {
    documents()
        .iter()
        .flat_map(|(name, text)| markers(name, text).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Lists and templates

/// The items of a written list: split on commas, "and", "or", `<br/>` and line ends, with
/// parenthetical remarks and backticks left out.
fn list_items(text: &str) -> Vec<String> {
    let mut flat = String::new();
    let mut depth = 0usize;
    for c in text.replace("<br/>", ",").chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '\n' if depth == 0 => flat.push(' '),
            _ if depth == 0 => flat.push(c),
            _ => {}
        }
    }
    flat.split(',')
        .flat_map(|piece| {
            let piece = format!(" {} ", piece.trim());
            piece
                .replace(" and ", ",")
                .replace(" or ", ",")
                .split(',')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|item| {
            item.trim_matches(|c: char| c.is_whitespace() || matches!(c, '`' | '*' | '.' | ':'))
                .to_owned()
        })
        .filter(|item| !item.is_empty())
        .collect()
}

/// Where `pattern` matches `text` from `at` (a space in `pattern` matches any run of
/// whitespace): the end of the match.
fn match_at(text: &str, at: usize, pattern: &str) -> Option<usize> {
    let mut pos = at;
    let mut chars = pattern.chars().peekable();
    while let Some(p) = chars.next() {
        if p == ' ' {
            let ws = text[pos..].len() - text[pos..].trim_start().len();
            if ws == 0 {
                return None;
            }
            pos += ws;
            while chars.peek() == Some(&' ') {
                chars.next();
            }
        } else {
            let c = text[pos..].chars().next()?;
            if c != p {
                return None;
            }
            pos += c.len_utf8();
        }
    }
    Some(pos)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

/// Every name `{}` stands for where `template` matches `block`.
fn each_match(template: &str, block: &str) -> Vec<String> {
    let (prefix, suffix) = template.split_once("{}").expect("a template has a `{}`");
    let mut names = Vec::new();
    for (start, _) in block.char_indices() {
        let Some(name_start) = match_at(block, start, prefix) else {
            continue;
        };
        if prefix.is_empty() && block[..start].chars().next_back().is_some_and(is_name_char) {
            continue;
        }
        let name_len = block[name_start..]
            .find(|c: char| !is_name_char(c))
            .unwrap_or(block.len() - name_start);
        if name_len == 0 {
            continue;
        }
        let name = &block[name_start..name_start + name_len];
        if match_at(block, name_start + name_len, suffix).is_some() {
            names.push(name.to_owned());
        }
    }
    names
}

/// The text `{}` stands for at the first match of `template` in `block`.
fn list_match(template: &str, block: &str) -> Option<String> {
    let (prefix, suffix) = template.split_once("{}").expect("a template has a `{}`");
    for (start, _) in block.char_indices() {
        let Some(from) = match_at(block, start, prefix) else {
            continue;
        };
        let line_end = block[from..].find('\n').map_or(block.len(), |e| e + from);
        if suffix.is_empty() {
            return Some(block[from..line_end].to_owned());
        }
        for (offset, _) in block[from..].char_indices() {
            if match_at(block, from + offset, suffix).is_some() {
                return Some(block[from..from + offset].to_owned());
            }
        }
    }
    None
}

/// The names a marked list holds (the table kinds have their own checks).
fn named(marked: &Marked) -> Result<Vec<String>, String> {
    let at = &marked.at;
    Ok(match &marked.shape {
        Shape::Inline(text) => match marked.kind.as_str() {
            "probes" => backticked(text),
            "artifacts" => assigned(text),
            _ => list_items(text),
        },
        Shape::Each { template, block } => each_match(template, block),
        Shape::List { template, block } => list_items(
            &list_match(template, block)
                .ok_or_else(|| format!("{at}: `{template}` matches nothing in the block"))?,
        ),
        Shape::Block(block) => table_rows(block)
            .iter()
            .filter_map(|row| row.first())
            .map(|cell| cell.trim_matches('`').to_owned())
            .collect(),
    })
}

/// The backticked spans of `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The `NAME` of every `NAME=sha256:...` in `text` (a list of `component=sha256:<digest>`).
fn assigned(text: &str) -> Vec<String> {
    text.split(|c: char| !(is_name_char(c) || c == '='))
        .filter_map(|word| word.split_once('='))
        .filter(|(name, value)| !name.is_empty() && *value == "sha256")
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// What is wrong with a list of `kind` that names `items`.
fn list_problems(sources: &Sources, kind: &str, items: &[String]) -> Vec<String> {
    let (required, allowed, what): (BTreeSet<String>, BTreeSet<String>, &str) = match kind {
        "providers" => (providers(), providers(), "provider"),
        "components" => (
            sources.http_components(),
            sources.components().into_iter().collect(),
            "spin.toml component",
        ),
        "artifacts" => (sources.artifacts(), sources.artifacts(), "artifact"),
        "probes" => {
            let paths: BTreeSet<String> = probes()
                .iter()
                .flat_map(|(_, live, ready)| [live.to_string(), ready.to_string()])
                .collect();
            (paths.clone(), paths, "probe path")
        }
        other => return vec![format!("unknown kind {other:?}")],
    };
    let named: BTreeSet<String> = items
        .iter()
        .map(|item| match kind {
            "providers" => provider_named(item).unwrap_or_else(|| item.clone()),
            _ => item.clone(),
        })
        .collect();
    let mut problems = Vec::new();
    for item in named.difference(&allowed) {
        problems.push(format!("names {item:?}, which is no {what}"));
    }
    for missing in required.difference(&named) {
        problems.push(format!("leaves out {what} {missing:?}"));
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Tables

/// The body rows of a Markdown table, as trimmed cells (header and separator left out).
fn table_rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(2)
        .map(|line| {
            let line = line.trim().trim_start_matches('|').trim_end_matches('|');
            line.split('|').map(|c| c.trim().to_owned()).collect()
        })
        .collect()
}

fn table_header(table: &str) -> Vec<String> {
    let first = table.lines().next().unwrap_or_default().trim();
    first
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split('|')
        .map(|c| c.trim().to_owned())
        .collect()
}

/// A route of the routes table: the row's components, its methods, the path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    components: BTreeSet<String>,
    methods: BTreeSet<String>,
    /// `None` for the fallback row ("any other path").
    path: Option<String>,
}

fn listed_routes(table: &str) -> Result<Vec<Listed>, String> {
    let mut listed = Vec::new();
    for row in table_rows(table) {
        let [components, routes, ..] = row.as_slice() else {
            return Err(format!("a row without a route cell: {row:?}"));
        };
        let components: BTreeSet<String> = list_items(components).into_iter().collect();
        let spans = backticked(routes);
        if spans.is_empty() {
            if routes == "any other path" {
                listed.push(Listed {
                    components,
                    methods: BTreeSet::new(),
                    path: None,
                });
                continue;
            }
            return Err(format!("a route cell without a `METHOD /path`: {routes:?}"));
        }
        let mut methods = BTreeSet::new();
        for span in spans {
            let path = match span.split_once(' ') {
                Some((verbs, path))
                    if verbs.chars().all(|c| c.is_ascii_uppercase() || c == '/') =>
                {
                    methods = verbs.split('/').map(str::to_owned).collect();
                    path.to_owned()
                }
                _ => span,
            };
            if methods.is_empty() || !path.starts_with('/') {
                return Err(format!("{path:?}: a route is `METHOD /path`"));
            }
            // `/webhooks/{provider}`: every provider's path.
            let paths: Vec<String> = if path.contains("{provider}") {
                Provider::ALL
                    .iter()
                    .map(|p| path.replace("{provider}", p.as_str()))
                    .collect()
            } else {
                vec![path]
            };
            for path in paths {
                listed.push(Listed {
                    components: components.clone(),
                    methods: methods.clone(),
                    path: Some(path),
                });
            }
        }
    }
    Ok(listed)
}

/// The spin.toml route that serves `path`: the exact route, a `:param` route, else the longest
/// `/prefix/...` wildcard (Spin's rule: the most specific route wins).
fn serving_route(triggers: &[(String, String)], path: &str) -> Option<(String, String)> {
    let mut best: Option<(usize, &(String, String))> = None;
    for trigger in triggers {
        let route = trigger.0.as_str();
        let specificity = if route == path {
            usize::MAX
        } else if segments_match(route, path) {
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
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, trigger));
        }
    }
    best.map(|(_, t)| t.clone())
}

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

/// A concrete path for a documented one (`{id}` filled in).
fn concrete(path: &str) -> String {
    path.replace("{id}", "evt_00000000000000000000000000000000")
}

/// What the routes table must list: `(component, method, path)`.
fn served() -> Vec<(String, String, String)> {
    let mut served = Vec::new();
    for op in Operation::ALL {
        let component = match op.server() {
            Server::Api => "api",
            Server::Console => "console",
            Server::Forwarder => "forwarder",
        };
        served.push((
            component.to_owned(),
            op.method().as_str().to_owned(),
            op.openapi_path(),
        ));
    }
    for provider in Provider::ALL {
        served.push((
            "webhook".to_owned(),
            "POST".to_owned(),
            format!("/webhooks/{}", provider.as_str()),
        ));
    }
    for (component, live, ready) in probes() {
        for path in [live, ready] {
            served.push((component.to_owned(), "GET".to_owned(), path.to_owned()));
        }
    }
    served
}

/// The console's own pages: `/console` (a redirect), `/console/` and its compiled-in files.
fn console_pages() -> BTreeSet<String> {
    ["/console", "/console/"]
        .into_iter()
        .map(str::to_owned)
        .chain(console::assets::ASSETS.iter().map(|a| a.path.to_owned()))
        .collect()
}

fn routes_problems(sources: &Sources, table: &str) -> Vec<String> {
    let listed = match listed_routes(table) {
        Ok(listed) => listed,
        Err(problem) => return vec![problem],
    };
    let triggers = sources.triggers();
    let served = served();
    let mut problems = Vec::new();
    // Everything the code serves is listed, by the component that serves it.
    for (component, method, path) in &served {
        let found = listed.iter().any(|l| {
            l.path.as_deref() == Some(path.as_str())
                && l.methods.contains(method)
                && l.components.contains(component)
        });
        if !found {
            problems.push(format!("does not list `{method} {path}` ({component})"));
        }
    }
    let pages = console_pages();
    for entry in &listed {
        let Some(path) = &entry.path else {
            // "any other path": the fallback route of its component.
            let fallback = triggers
                .iter()
                .any(|(r, c)| r == "/..." && entry.components.contains(c));
            if !fallback {
                problems.push(format!(
                    "lists \"any other path\" for {:?}, which has no `/...` route",
                    entry.components
                ));
            }
            continue;
        };
        // Nothing is listed that the code does not serve.
        let known: Vec<&String> = served
            .iter()
            .filter(|(_, _, p)| p == path)
            .map(|(_, m, _)| m)
            .collect();
        let allowed: BTreeSet<String> = if known.is_empty() {
            if pages.contains(path) {
                ["GET", "HEAD"].map(str::to_owned).into()
            } else {
                problems.push(format!("lists `{path}`, which nothing serves"));
                continue;
            }
        } else {
            known
                .iter()
                .flat_map(|m| {
                    let head = (m.as_str() == "GET").then(|| "HEAD".to_owned());
                    std::iter::once((*m).clone()).chain(head)
                })
                .collect()
        };
        for method in entry.methods.difference(&allowed) {
            problems.push(format!("lists `{method} {path}`, which is not served"));
        }
        // spin.toml routes it to the component the row names.
        match serving_route(&triggers, &concrete(path)) {
            Some((_, component)) if entry.components.contains(&component) => {}
            Some((route, component)) => problems.push(format!(
                "lists `{path}` under {:?}, spin.toml routes it ({route}) to {component}",
                entry.components
            )),
            None => problems.push(format!("lists `{path}`, which spin.toml routes nowhere")),
        }
    }
    // Every spin.toml route is reached by a listed path.
    for (route, component) in &triggers {
        let reached = listed.iter().any(|entry| match &entry.path {
            Some(path) => {
                serving_route(&triggers, &concrete(path)).is_some_and(|(r, _)| &r == route)
            }
            None => route == "/..." && entry.components.contains(component),
        });
        if !reached {
            problems.push(format!(
                "lists no path of spin.toml's route `{route}` ({component})"
            ));
        }
    }
    problems
}

/// The variable names a table cell holds: backticked names, where "`x_a` ... `_d`" stands for
/// `x_a`, `x_b`, `x_c`, `x_d`, and `webhook_<provider>_secret` for every provider's secret variable.
fn variable_names(cell: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for span in backticked(cell) {
        if span.contains("<provider>") {
            names.extend(
                Provider::ALL
                    .iter()
                    .map(|p| span.replace("<provider>", p.as_str())),
            );
            continue;
        }
        match (span.strip_prefix('_'), names.last()) {
            (Some(last), Some(previous)) if last.len() == 1 => {
                let (base, first) = previous.split_at(previous.len() - 1);
                let (from, to) = (first.as_bytes()[0], last.as_bytes()[0]);
                let base = base.to_owned();
                for letter in from + 1..=to {
                    names.push(format!("{base}{}", char::from(letter)));
                }
            }
            _ => names.push(span),
        }
    }
    names
}

fn variables_problems(sources: &Sources, table: &str) -> Vec<String> {
    let declared = sources.manifest["variables"].as_table().unwrap();
    let header = table_header(table);
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(name_at), Some(secret_at), Some(default_at)) =
        (column("variable"), column("secret"), column("default"))
    else {
        return vec![format!(
            "a variables table has the columns variable, secret, default: {header:?}"
        )];
    };
    let read_by_at = column("read by");
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for row in table_rows(table) {
        let cell = |at: usize| row.get(at).map(String::as_str).unwrap_or_default();
        for name in variable_names(cell(name_at)) {
            if !listed.insert(name.clone()) {
                problems.push(format!("lists `{name}` twice"));
            }
            let Some(spec) = declared.get(&name) else {
                problems.push(format!("lists `{name}`, which spin.toml does not declare"));
                continue;
            };
            let secret = spec.get("secret").and_then(|s| s.as_bool()) == Some(true);
            let written = match cell(secret_at) {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            };
            if written != Some(secret) {
                problems.push(format!(
                    "`{name}`: secret {:?}, spin.toml says {}",
                    cell(secret_at),
                    if secret { "yes" } else { "no" }
                ));
            }
            let default = spec
                .get("default")
                .and_then(|d| d.as_str())
                .unwrap_or_default();
            let written = match cell(default_at) {
                "empty" => String::new(),
                other => other.trim_matches('`').to_owned(),
            };
            if written != default {
                problems.push(format!(
                    "`{name}`: default {:?}, spin.toml says {default:?}",
                    cell(default_at)
                ));
            }
            if let Some(at) = read_by_at {
                let readers = sources.readers(&name);
                let written: BTreeSet<String> = match cell(at) {
                    "all" => sources.components().into_iter().collect(),
                    other => list_items(other).into_iter().collect(),
                };
                if written != readers {
                    problems.push(format!(
                        "`{name}`: read by {:?}, spin.toml grants it to {readers:?}",
                        cell(at)
                    ));
                }
            }
        }
    }
    for name in declared.keys() {
        if !listed.contains(name) {
            problems.push(format!("leaves out spin.toml's variable `{name}`"));
        }
    }
    problems
}

/// An `/api/stats` answer today: every provider, every prune reason, the cap, the forwarding
/// counters (none configured).
fn stats_shape() -> serde_json::Value {
    let mut stats = api_contract::Stats::default();
    for provider in Provider::ALL {
        stats.by_provider.insert(
            provider.as_str().to_owned(),
            api_contract::Counts::default(),
        );
    }
    for reason in PruneReason::ALL {
        stats.pruned.insert(reason.as_str().to_owned(), 0);
    }
    serde_json::to_value(stats).unwrap()
}

/// Where the shapes of two JSON values differ (object members, by path). A sample's
/// `by_provider` may show some of the providers (every one would be a line of 69 members), but
/// at least one, and only providers.
fn shape_problems(path: &str, want: &serde_json::Value, got: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match (want, got) {
        (Value::Object(want), Value::Object(got)) => {
            let mut problems = Vec::new();
            let some_will_do = path == "stats.by_provider" && !got.is_empty();
            for key in want
                .keys()
                .filter(|k| !got.contains_key(*k) && !some_will_do)
            {
                problems.push(format!("{path}: no member {key:?}"));
            }
            for key in got.keys().filter(|k| !want.contains_key(*k)) {
                problems.push(format!("{path}: a member {key:?} the API does not send"));
            }
            for (key, value) in want {
                if let Some(other) = got.get(key) {
                    problems.extend(shape_problems(&format!("{path}.{key}"), value, other));
                }
            }
            problems
        }
        (Value::Object(_), _) => vec![format!("{path}: not an object")],
        (Value::Number(_), Value::Number(_)) => Vec::new(),
        (Value::Number(_), _) => vec![format!("{path}: not a number")],
        _ => Vec::new(),
    }
}

fn stats_problems(block: &str) -> Vec<String> {
    let Some(line) = block
        .lines()
        .find(|l| l.trim_start().starts_with('{') && l.contains("\"by_provider\""))
    else {
        return vec!["holds no `/api/stats` answer (a JSON line with \"by_provider\")".to_owned()];
    };
    match serde_json::from_str(line.trim()) {
        Ok(got) => shape_problems("stats", &stats_shape(), &got),
        Err(error) => vec![format!("the `/api/stats` answer is not JSON: {error}")],
    }
}

/// Everything wrong with one marked list or table.
fn problems(sources: &Sources, marked: &Marked) -> Vec<String> {
    let found = match (marked.kind.as_str(), &marked.shape) {
        ("routes", Shape::Block(table)) => routes_problems(sources, table),
        ("variables", Shape::Block(table)) => variables_problems(sources, table),
        ("stats", Shape::Block(block)) => stats_problems(block),
        ("routes" | "variables" | "stats", _) => {
            vec!["this kind is a table or a block after a marker line".to_owned()]
        }
        (kind, _) => match named(marked) {
            Ok(items) => list_problems(sources, kind, &items),
            Err(problem) => vec![problem],
        },
    };
    found
        .into_iter()
        .map(|problem| format!("{} ({}): {problem}", marked.at, marked.kind))
        .collect()
}

fn problems_of_kind(kinds: &[&str]) -> Vec<String> {
    let sources = Sources::load();
    all_markers()
        .iter()
        .filter(|m| kinds.contains(&m.kind.as_str()))
        .flat_map(|m| problems(&sources, m))
        .collect()
}

fn assert_none(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "the docs disagree with the code:\n  {}",
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// The checks

#[test]
fn readme_routes_table_is_every_route_the_app_serves() {
    assert_none(problems_of_kind(&["routes"]));
}

#[test]
fn variable_tables_are_spin_toml_variables() {
    assert_none(problems_of_kind(&["variables"]));
}

#[test]
fn provider_lists_name_every_provider() {
    assert_none(problems_of_kind(&["providers"]));
}

#[test]
fn component_lists_name_every_component() {
    assert_none(problems_of_kind(&["components", "artifacts", "probes"]));
}

#[test]
fn the_stats_sample_has_the_fields_of_api_stats() {
    assert_none(problems_of_kind(&["stats"]));
}

/// A marker removed with its list would make its check pass silently: each document keeps the
/// checked lists it has, and no marker is of an unknown kind.
#[test]
fn every_document_keeps_its_checked_lists() {
    let wanted: [(&str, &str, usize); 9] = [
        ("docs/providers.md", "providers", 1),
        ("README.md", "components", 2),
        ("README.md", "artifacts", 2),
        ("README.md", "routes", 1),
        ("README.md", "variables", 1),
        ("README.md", "stats", 1),
        ("docs/architecture.md", "components", 1),
        ("docs/operations.md", "variables", 1),
        ("docs/operations.md", "probes", 1),
    ];
    let marked = all_markers();
    for (file, kind, at_least) in wanted {
        let count = marked
            .iter()
            .filter(|m| m.at.starts_with(&format!("{file}:")) && m.kind == kind)
            .count();
        assert!(
            count >= at_least,
            "{file}: {count} `<!-- checked: {kind} -->` list(s), expected at least {at_least}"
        );
    }
    let kinds = [
        "providers",
        "components",
        "artifacts",
        "probes",
        "routes",
        "variables",
        "stats",
    ];
    for m in &marked {
        assert!(
            kinds.contains(&m.kind.as_str()),
            "{}: unknown kind {:?}",
            m.at,
            m.kind
        );
    }
}

/// A name in the docs stands for one provider: no two rows share a name, and no name is
/// another provider's slug.
#[test]
fn every_provider_has_a_name_of_its_own() {
    let names = display_names();
    for (slug, name) in &names {
        assert!(!name.is_empty(), "{slug}: no name");
        assert_eq!(
            names.iter().filter(|(_, other)| other == name).count(),
            1,
            "{name:?} names two providers"
        );
        assert!(
            names
                .iter()
                .all(|(other, _)| other == slug || other != name),
            "{name:?} is another provider's slug"
        );
    }
}

/// The probes' list covers every HTTP component of spin.toml.
#[test]
fn every_http_component_has_its_probes_here() {
    let ids: BTreeSet<String> = probes().iter().map(|(id, _, _)| (*id).to_owned()).collect();
    assert_eq!(ids, Sources::load().http_components());
}

// ---------------------------------------------------------------------------------------------
// The checks fail: the real documents with a row or a name taken out or added

fn readme() -> String {
    read(&root().join("README.md"))
}

fn marked_in(text: &str, kind: &str) -> Vec<Marked> {
    markers("README.md", text)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

fn readme_problems(text: &str, kind: &str) -> Vec<String> {
    let sources = Sources::load();
    marked_in(text, kind)
        .iter()
        .flat_map(|m| problems(&sources, m))
        .collect()
}

/// The README with the table line that contains `needle` removed.
fn without_line(text: &str, needle: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with('|') && l.contains(needle))
        .unwrap_or_else(|| panic!("no table line holds {needle:?}"));
    let mut kept = lines;
    kept.remove(at);
    kept.join("\n")
}

/// The README with `row` added after the table line that contains `needle`.
fn with_line_after(text: &str, needle: &str, row: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with('|') && l.contains(needle))
        .unwrap_or_else(|| panic!("no table line holds {needle:?}"));
    lines.insert(at + 1, row.to_owned());
    lines.join("\n")
}

#[test]
fn the_routes_check_fails_on_a_missing_or_an_extra_row() {
    let text = readme();
    assert!(readme_problems(&text, "routes").is_empty());
    let last = Provider::ALL.last().unwrap().as_str();
    let missing = readme_problems(&without_line(&text, "/webhooks/{provider}`"), "routes");
    assert!(
        missing
            .iter()
            .any(|p| p.contains(&format!("`POST /webhooks/{last}`"))),
        "{missing:?}"
    );
    let op = Operation::ALL.last().unwrap().openapi_path();
    let missing = readme_problems(&without_line(&text, &format!(" {op}`")), "routes");
    assert!(missing.iter().any(|p| p.contains(&op)), "{missing:?}");
    let extra = with_line_after(
        &text,
        "`GET /api/stats`",
        "| api | `GET /api/nothing` | a route nobody serves |",
    );
    assert!(readme_problems(&extra, "routes")
        .iter()
        .any(|p| p.contains("/api/nothing")));
    let wrong = with_line_after(
        &text,
        "`GET /api/stats`",
        "| webhook | `GET /api/stats` | under the wrong component |",
    );
    assert!(readme_problems(&wrong, "routes")
        .iter()
        .any(|p| p.contains("spin.toml routes it")));
}

#[test]
fn the_variables_check_fails_on_a_missing_extra_or_wrong_row() {
    let text = readme();
    assert!(readme_problems(&text, "variables").is_empty());
    let missing = readme_problems(&without_line(&text, "`retention_dedup_days`"), "variables");
    assert!(
        missing.iter().any(|p| p.contains("retention_dedup_days")),
        "{missing:?}"
    );
    let extra = with_line_after(
        &text,
        "`retention_dedup_days`",
        "| `retention_forever` | no | 0 | not a variable |",
    );
    assert!(readme_problems(&extra, "variables")
        .iter()
        .any(|p| p.contains("retention_forever")));
    let wrong = text.replace(
        "| `api_token` | yes | empty |",
        "| `api_token` | no | empty |",
    );
    assert!(readme_problems(&wrong, "variables")
        .iter()
        .any(|p| p.contains("api_token")));
}

#[test]
fn the_list_checks_fail_on_a_missing_or_an_extra_name() {
    let sources = Sources::load();
    let names: Vec<String> = display_names()
        .iter()
        .map(|(_, d)| (*d).to_owned())
        .collect();
    assert!(list_problems(&sources, "providers", &names).is_empty());
    assert!(!list_problems(&sources, "providers", &names[1..]).is_empty());
    let mut extra = names.clone();
    extra.push("Acme Hooks".to_owned());
    assert!(!list_problems(&sources, "providers", &extra).is_empty());

    let components = sources.components();
    assert!(list_problems(&sources, "components", &components).is_empty());
    let http: Vec<String> = sources.http_components().into_iter().collect();
    assert!(list_problems(&sources, "components", &http).is_empty());
    assert!(!list_problems(&sources, "components", &http[1..]).is_empty());
    let mut extra = http.clone();
    extra.push("gateway".to_owned());
    assert!(!list_problems(&sources, "components", &extra).is_empty());

    // The README's own lists, each with its first name taken out.
    for kind in ["providers", "components", "artifacts"] {
        for m in marked_in(&readme(), kind) {
            let items = named(&m).unwrap();
            assert!(list_problems(&sources, kind, &items).is_empty(), "{}", m.at);
            assert!(
                !list_problems(&sources, kind, &items[1..]).is_empty(),
                "{}: {items:?} without its first name passes",
                m.at
            );
        }
    }
}

#[test]
fn the_stats_check_fails_on_a_missing_provider_or_field() {
    let block = format!("$ curl ...\n{}", stats_shape());
    assert!(stats_problems(&block).is_empty());
    // Some providers will do (a readable sample), but not none, and only providers.
    let mut fewer = stats_shape();
    fewer["by_provider"]
        .as_object_mut()
        .unwrap()
        .remove(Provider::ALL[0].as_str());
    assert!(stats_problems(&fewer.to_string()).is_empty());
    let mut none = stats_shape();
    none["by_provider"].as_object_mut().unwrap().clear();
    assert!(!stats_problems(&none.to_string()).is_empty());
    let mut unknown = stats_shape();
    unknown["by_provider"]
        .as_object_mut()
        .unwrap()
        .insert("acme".to_owned(), serde_json::json!({}));
    assert!(!stats_problems(&unknown.to_string()).is_empty());
    let mut older = stats_shape();
    older.as_object_mut().unwrap().remove("pruned");
    assert!(!stats_problems(&older.to_string()).is_empty());
}

#[test]
fn lists_and_templates_read_as_written() {
    assert_eq!(
        list_items("GitHub, Stripe,\nStandard Webhooks (Svix, and others) and `linear`"),
        ["GitHub", "Stripe", "Standard Webhooks", "linear"]
    );
    assert_eq!(
        list_items("health, api (+ contract), console (+ ui/: the page, its tests) or ticker"),
        ["health", "api", "console", "ticker"]
    );
    assert_eq!(
        each_match(
            "services/{}/ component:",
            "services/api/       component: x\nservices/api/contract/  api-contract: y"
        ),
        ["api"]
    );
    assert_eq!(
        each_match(
            "{} component<br/>",
            "WH[webhook component<br/>x] A[the component]"
        ),
        ["webhook"]
    );
    assert_eq!(
        list_match("PR[\"{}\"]", "    PR[\"GitHub, Slack\"] -->|x| WH").as_deref(),
        Some("GitHub, Slack")
    );
    assert_eq!(
        variable_names("`webhook_<provider>_secret`").len(),
        Provider::ALL.len()
    );
    assert_eq!(
        variable_names("`forward_allowed_host_a` ... `_d`"),
        [
            "forward_allowed_host_a",
            "forward_allowed_host_b",
            "forward_allowed_host_c",
            "forward_allowed_host_d"
        ]
    );
    assert_eq!(
        assigned("`gh ... -f environment=prod -f images=\"health=sha256:... api=sha256:...\"`"),
        ["health", "api"]
    );
    let marked = markers(
        "t.md",
        "a <!-- checked: providers -->GitHub\nand Slack<!-- /checked --> b\n\n<!-- checked: routes -->\n| a | b |\n|---|---|\n| x | y |\n",
    )
    .unwrap();
    assert_eq!(marked.len(), 2);
    assert!(matches!(&marked[0].shape, Shape::Inline(t) if t == "GitHub\nand Slack"));
    assert!(matches!(&marked[1].shape, Shape::Block(t) if t.lines().count() == 3));
    assert!(markers("t.md", "<!-- checked: providers -->GitHub").is_err());
}
