//! Liveness and readiness answers, for every component that a pod runs on its own.
//!
//! On SpinKube each SpinApp runs its own component's artifact, and its probes must hit a route
//! that component serves: each HTTP component answers both under its own route prefix
//! ([`Probed::LIVENESS`], [`Probed::READINESS`]): `health` at `/healthz` and `/readyz`, every
//! other one under the prefix spin.toml routes to it (`/api/healthz`, `/api/readyz`). They all
//! answer the same way:
//!
//! - liveness checks nothing external, so a broken store never makes Kubernetes restart healthy
//!   pods;
//! - readiness does a write/read/delete round trip on the `default` key-value store (for a
//!   component granted one: [`Probed::store`]; the console has none) and checks that every
//!   variable the component can see resolves and parses. It answers 200 with the per-check list,
//!   or 503 (problem+json, `Retry-After`) naming the failing checks, so a replica whose store is
//!   down, or whose own configuration is malformed, gets no traffic.

use std::time::Instant;

use serde::Serialize;

use crate::build_info::BuildInfo;
use crate::clock::Clock;
use crate::config::{self, ConfigError, Variables};
use crate::http::{json, Method, Request, RequestContext, Response, Router, StatusCode};
use crate::kv::{KeyValue, KvError};
use crate::problem::{Problem, ProblemKind};

/// A component that answers the probes: where they are and what readiness checks.
pub trait Probed: Sized {
    /// The key-value store the readiness round trip uses.
    type Store: KeyValue;
    /// Where the component's variables come from.
    type Vars: Variables;
    /// The component's clock.
    type Clock: Clock;
    /// The liveness path, e.g. `/api/healthz`.
    const LIVENESS: &'static str;
    /// The readiness path, e.g. `/api/readyz`.
    const READINESS: &'static str;
    /// The variables the component is granted in spin.toml; each must resolve. (A test per
    /// component checks them against spin.toml.)
    fn visible_variables() -> Vec<&'static str>;

    /// The store its readiness round-trips, or `None` for a component granted no store (its
    /// readiness is then its variables alone).
    fn store(&self) -> Option<&Self::Store>;
    /// The variables.
    fn vars(&self) -> &Self::Vars;
    /// The clock.
    fn clock(&self) -> &Self::Clock;
    /// The component's version and commit (`inbox_core::build_info!()` in the component's crate).
    fn build(&self) -> BuildInfo;
    /// Parses the settings the way the component will use them.
    fn validate(vars: &Self::Vars) -> Result<(), ConfigError>;

    /// What readiness runs once every visible variable resolved: [`Probed::validate`], and
    /// whatever the component records about a configuration that validated (the webhook
    /// component: which providers are configured, `crate::configured`).
    fn check_configuration(&self) -> Result<(), ConfigError> {
        Self::validate(self.vars())
    }

    /// What readiness reports without failing: a named warning about another part of the app
    /// (the health component: the forwarder refusing its configuration). None by default.
    fn warnings(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Adds the component's two probes to its router.
pub fn route<S: Probed>(router: Router<S>) -> Router<S> {
    router
        .route(S::LIVENESS, Method::GET, live::<S>)
        .route(S::READINESS, Method::GET, ready::<S>)
}

fn live<S: Probed>(component: &S, _: &RequestContext, _: Request) -> Result<Response, Problem> {
    liveness(component.clock(), component.build())
}

/// `GET …/readyz`: 200 with the checks, or 503 naming the failing ones.
fn ready<S: Probed>(component: &S, ctx: &RequestContext, _: Request) -> Result<Response, Problem> {
    let mut checks = Vec::with_capacity(2);
    if let Some(store) = component.store() {
        checks.push(check_store(ctx, store, component.clock()));
    }
    checks.push(check_variables(component));
    checks.extend(
        component
            .warnings()
            .into_iter()
            .map(|(name, warning)| Check {
                name,
                status: CheckStatus::Warn,
                duration_ms: 0.0,
                error: Some(warning),
            }),
    );
    let failed: Vec<&str> = checks
        .iter()
        .filter(|check| check.status == CheckStatus::Fail)
        .map(|check| check.name)
        .collect();
    if failed.is_empty() {
        /// Members in the order of their names, as before (see `Check`).
        #[derive(Serialize)]
        struct Ready<'a> {
            checks: &'a [Check],
            status: &'a str,
        }
        return json(
            StatusCode::OK,
            &Ready {
                checks: &checks,
                status: "ready",
            },
        );
    }
    Err(Problem::of(
        ProblemKind::NotReady,
        format!("not ready: {} failed", failed.join(", ")),
    )
    .with_extension("checks", &checks)
    .with_retry_after(5))
}

/// `GET …/healthz`: 200 with the build, as long as the component runs.
fn liveness(clock: &impl Clock, build: BuildInfo) -> Result<Response, Problem> {
    #[derive(Serialize)]
    struct Liveness<'a> {
        status: &'a str,
        timestamp: String,
        version: &'a str,
        commit: &'a str,
    }
    json(
        StatusCode::OK,
        &Liveness {
            status: "ok",
            timestamp: clock.now().to_rfc3339_seconds(),
            version: build.version,
            commit: build.commit,
        },
    )
}

/// Every visible variable resolves, and the settings parse.
fn check_variables<S: Probed>(component: &S) -> Check {
    let started = Instant::now();
    let result = S::visible_variables()
        .iter()
        .try_for_each(|name| config::required(component.vars(), name).map(drop))
        .and_then(|()| component.check_configuration());
    Check::from_result(
        "variables",
        started,
        result.map_err(|e: ConfigError| e.to_string()),
    )
}

/// Whether an answer is a probe that succeeded, which components do not log (the kubelet asks
/// every few seconds; failures are logged).
pub fn is_quiet(route: &str, status: StatusCode) -> bool {
    let probe = route.ends_with("/healthz") || route.ends_with("/readyz");
    probe && status.as_u16() < 300
}

/// Write, read back and delete a probe key unique to this request.
fn check_store<K: KeyValue>(ctx: &RequestContext, store: &K, clock: &impl Clock) -> Check {
    let started = Instant::now();
    let round_trip = || {
        let key = format!("health:probe:{}", ctx.request_id());
        let value = clock.now().to_rfc3339_millis().into_bytes();
        store.set(&key, &value)?;
        let read = store.get(&key)?;
        store.delete(&key)?;
        if read.as_deref() == Some(value.as_slice()) {
            Ok(())
        } else {
            Err(KvError::Unavailable(
                "the probe value read back differs from the one written".into(),
            ))
        }
    };
    let result: Result<(), KvError> = round_trip();
    Check::from_result("key_value", started, result.map_err(|e| e.to_string()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum CheckStatus {
    Ok,
    Fail,
    /// Reported, not failed: readiness stays 200.
    Warn,
}

/// One check. Its members are declared in the order of their names, the order readiness has
/// always written them in (it once built a `serde_json::Value`, whose maps are sorted), and
/// serialized straight from this type: a `Value` would link serde_json's `Value` serializer into
/// every component (and with it, in the health and console components, its parser: 40 KB).
#[derive(Debug, Serialize)]
struct Check {
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    name: &'static str,
    status: CheckStatus,
}

impl Check {
    fn from_result(name: &'static str, started: Instant, result: Result<(), String>) -> Self {
        let duration_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let (status, error) = match result {
            Ok(()) => (CheckStatus::Ok, None),
            Err(error) => (CheckStatus::Fail, Some(error)),
        };
        Self {
            name,
            status,
            duration_ms,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_successful_probe_answers_are_quiet() {
        assert!(is_quiet("/healthz", StatusCode::OK));
        assert!(is_quiet("/api/readyz", StatusCode::OK));
        assert!(!is_quiet("/api/readyz", StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_quiet("/api/events", StatusCode::OK));
        assert!(!is_quiet("unmatched", StatusCode::NOT_FOUND));
    }
}
