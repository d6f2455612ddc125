//! Liveness and readiness at `/healthz` and `/readyz` (answered by [`inbox_core::probes`]), and the
//! RFC 9457 404 for every path no other component serves.
//!
//! The health SpinApp probes these; the API and webhook components answer the same probes under
//! their own prefixes, so each pod runs one component.

use inbox_core::build_info::BuildInfo;
use inbox_core::clock::Clock;
use inbox_core::config::{names, ConfigError, LogLevel, Variables, WebhookLimits};
use inbox_core::forwarding::{self, status::Status};
use inbox_core::http::{BodyPolicy, Head, Request, RequestContext, Response, Router, Service};
use inbox_core::kv::KeyValue;
use inbox_core::probes::{self, Probed};
use inbox_core::problem::Problem;

/// The variables the health component is granted in spin.toml; each must resolve.
pub const VARIABLES: [&str; 3] = [
    names::LOG_LEVEL,
    names::WEBHOOK_MAX_BODY_BYTES,
    names::WEBHOOK_TIMESTAMP_TOLERANCE_SECS,
];

/// The health component's state for one request.
pub struct Health<K, V, C> {
    store: K,
    vars: V,
    clock: C,
    build: BuildInfo,
    router: Router<Self>,
}

impl<K, V, C> std::fmt::Debug for Health<K, V, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("build", &self.build)
            .finish_non_exhaustive()
    }
}

impl<K: KeyValue, V: Variables, C: Clock> Health<K, V, C> {
    /// The component over a store, variables, a clock and its build.
    pub fn new(store: K, vars: V, clock: C, build: BuildInfo) -> Self {
        let router = probes::route(Router::new());
        Self {
            store,
            vars,
            clock,
            build,
            router,
        }
    }
}

impl<K: KeyValue, V: Variables, C: Clock> Probed for Health<K, V, C> {
    type Store = K;
    type Vars = V;
    type Clock = C;
    const LIVENESS: &'static str = "/healthz";
    const READINESS: &'static str = "/readyz";
    fn visible_variables() -> Vec<&'static str> {
        VARIABLES.to_vec()
    }

    fn store(&self) -> Option<&K> {
        Some(&self.store)
    }

    fn vars(&self) -> &V {
        &self.vars
    }

    fn clock(&self) -> &C {
        &self.clock
    }

    fn build(&self) -> BuildInfo {
        self.build
    }

    /// The settings the health component can see parse.
    fn validate(vars: &V) -> Result<(), ConfigError> {
        LogLevel::load(vars)?;
        WebhookLimits::load(vars).map(drop)
    }

    /// When the forwarder refuses its configuration (a destination not allowed, or pointing back
    /// at this app), as its readiness last recorded: said here, without failing (ingestion
    /// works; events wait, stored, until forwarding is fixed). A store that cannot be read is
    /// the store check's failure, not a warning.
    fn warnings(&self) -> Vec<(&'static str, String)> {
        match forwarding::status::load(&self.store) {
            Ok(Some(Status {
                refused: Some(reason),
                since,
            })) => vec![(
                "forwarding",
                format!(
                    "the forwarder refuses its configuration since {}: {reason}",
                    since.to_rfc3339_seconds()
                ),
            )],
            _ => Vec::new(),
        }
    }
}

impl<K: KeyValue, V: Variables, C: Clock> Service for Health<K, V, C> {
    fn body_policy(&self, _: &Head) -> Result<BodyPolicy, Problem> {
        Ok(BodyPolicy::SMALL)
    }

    fn handle(&self, ctx: &mut RequestContext, request: Request) -> Response {
        self.router.dispatch(self, ctx, request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inbox_core::clock::ManualClock;
    use inbox_core::config::StaticVariables;
    use inbox_core::http::testing::{body_json, call, header_of, request};
    use inbox_core::http::{Method, StatusCode};
    use inbox_core::kv::testing::{FaultyKv, Op};
    use inbox_core::kv::MemoryKv;

    fn good_vars() -> StaticVariables {
        StaticVariables::from_pairs([
            (names::LOG_LEVEL, "info"),
            (names::WEBHOOK_MAX_BODY_BYTES, "1048576"),
            (names::WEBHOOK_TIMESTAMP_TOLERANCE_SECS, "300"),
        ])
    }

    fn health<K: KeyValue>(
        store: K,
        vars: StaticVariables,
    ) -> Health<K, StaticVariables, ManualClock> {
        Health::new(
            store,
            vars,
            ManualClock::at_unix(1_800_000_000),
            BuildInfo::new("9.9.9", Some("abc1234")),
        )
    }

    #[test]
    fn every_route_template_is_well_formed() {
        let kv = MemoryKv::new();
        for template in health(&kv, good_vars()).router.templates() {
            assert_eq!(inbox_core::http::template_error(template), None);
        }
    }

    #[test]
    fn healthz_reports_status_time_and_build() {
        let kv = MemoryKv::new();
        let response = call(
            &health(&kv, good_vars()),
            request(Method::GET, "/healthz", &[], b""),
        );
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_of(&response, "cache-control"), Some("no-store"));
        let body = body_json(&response);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["timestamp"], "2027-01-15T08:00:00Z");
        assert_eq!(body["version"], "9.9.9");
        assert_eq!(body["commit"], "abc1234");
    }

    #[test]
    fn healthz_does_not_touch_the_store() {
        let kv = MemoryKv::new();
        let faulty = FaultyKv::new(&kv, |_, _, _| true);
        let response = call(
            &health(&faulty, good_vars()),
            request(Method::GET, "/healthz", &[], b""),
        );
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(faulty.operations(), 0);
    }

    #[test]
    fn head_healthz_has_headers_and_no_body() {
        let kv = MemoryKv::new();
        let response = call(
            &health(&kv, good_vars()),
            request(Method::HEAD, "/healthz", &[], b""),
        );
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_of(&response, "cache-control"), Some("no-store"));
        assert_eq!(
            header_of(&response, "content-type"),
            Some("application/json")
        );
        assert!(response.body().is_empty());
    }

    #[test]
    fn readyz_passes_and_leaves_no_probe_key_behind() {
        let kv = MemoryKv::new();
        let response = call(
            &health(&kv, good_vars()),
            request(Method::GET, "/readyz", &[], b""),
        );
        assert_eq!(response.status(), StatusCode::OK);
        let body = body_json(&response);
        assert_eq!(body["status"], "ready");
        assert_eq!(body["checks"][0]["name"], "key_value");
        assert_eq!(body["checks"][0]["status"], "ok");
        assert_eq!(body["checks"][1]["name"], "variables");
        assert_eq!(body["checks"][1]["status"], "ok");
        assert!(kv.keys().is_empty(), "{:?}", kv.keys());
        // Members in the order of their names, as readiness has always written them.
        let text = String::from_utf8_lossy(response.body());
        assert!(text.starts_with(r#"{"checks":[{"duration_ms":"#), "{text}");
        assert!(
            text.ends_with(r#","name":"variables","status":"ok"}],"status":"ready"}"#),
            "{text}"
        );
    }

    #[test]
    fn readyz_says_when_the_forwarder_refuses_its_configuration_without_failing() {
        let kv = MemoryKv::new();
        let ready = |kv: &MemoryKv| {
            call(
                &health(kv, good_vars()),
                request(Method::GET, "/readyz", &[], b""),
            )
        };
        let t0 = inbox_core::time::Timestamp::from_unix_seconds(1_800_000_000);
        // Taken: nothing to say.
        forwarding::status::record(&kv, None, t0).unwrap();
        let body = body_json(&ready(&kv));
        assert_eq!(body["checks"].as_array().unwrap().len(), 2);
        // Refused: a warning naming why, and still ready (ingestion works).
        let reason = "variable `forward_destinations` is malformed: entry 1 (url): this app's own webhook route";
        forwarding::status::record(&kv, Some(reason), t0).unwrap();
        let response = ready(&kv);
        assert_eq!(response.status(), StatusCode::OK);
        let body = body_json(&response);
        assert_eq!(body["status"], "ready");
        assert_eq!(body["checks"][2]["name"], "forwarding");
        assert_eq!(body["checks"][2]["status"], "warn");
        let warning = body["checks"][2]["error"].as_str().unwrap();
        assert!(warning.contains(reason), "{warning}");
        assert!(warning.contains("since 2027-01-15T08:00:00Z"), "{warning}");
    }

    #[test]
    fn readyz_fails_with_503_naming_the_store_when_a_write_fails() {
        let kv = MemoryKv::new();
        let faulty = FaultyKv::new(&kv, |op, _, _| op == Op::Set);
        let response = call(
            &health(&faulty, good_vars()),
            request(Method::GET, "/readyz", &[], b""),
        );
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            header_of(&response, "content-type"),
            Some("application/problem+json")
        );
        assert_eq!(header_of(&response, "retry-after"), Some("5"));
        let body = body_json(&response);
        assert_eq!(body["type"], "urn:webhook-inbox:problem:not-ready");
        assert_eq!(body["detail"], "not ready: key_value failed");
        assert_eq!(body["checks"][0]["status"], "fail");
        assert!(body["checks"][0]["error"]
            .as_str()
            .unwrap()
            .contains("injected failure"));
        assert_eq!(body["checks"][1]["status"], "ok");
    }

    #[test]
    fn successful_probes_are_not_logged_but_failures_and_other_paths_are() {
        use inbox_core::logging::CapturedLogs;
        let kv = MemoryKv::new();
        let logged = |service: &Health<&MemoryKv, StaticVariables, ManualClock>, path: &str| {
            let (response, logs) =
                CapturedLogs::capture(|| call(service, request(Method::GET, path, &[], b"")));
            (response.status().as_u16(), logs.lines().len())
        };
        let healthy = health(&kv, good_vars());
        assert_eq!(logged(&healthy, "/healthz"), (200, 0));
        assert_eq!(logged(&healthy, "/readyz"), (200, 0));
        assert_eq!(logged(&healthy, "/nowhere"), (404, 1));
        let mut vars = good_vars();
        vars.set(names::WEBHOOK_MAX_BODY_BYTES, "lots");
        assert_eq!(logged(&health(&kv, vars), "/readyz"), (503, 1));
    }

    #[test]
    fn readyz_names_a_malformed_or_missing_variable() {
        let kv = MemoryKv::new();
        let mut vars = good_vars();
        vars.set(names::WEBHOOK_MAX_BODY_BYTES, "lots");
        let response = call(
            &health(&kv, vars),
            request(Method::GET, "/readyz", &[], b""),
        );
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = body_json(&response);
        assert_eq!(body["type"], "urn:webhook-inbox:problem:not-ready");
        assert_eq!(body["detail"], "not ready: variables failed");
        let error = body["checks"][1]["error"].as_str().unwrap();
        assert!(
            error.contains("`webhook_max_body_bytes` is malformed"),
            "{error}"
        );

        let vars = StaticVariables::from_pairs([(names::LOG_LEVEL, "info")]);
        let response = call(
            &health(&kv, vars),
            request(Method::GET, "/readyz", &[], b""),
        );
        let error = body_json(&response)["checks"][1]["error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            error.contains("`webhook_max_body_bytes` is not set"),
            "{error}"
        );
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        let kv = MemoryKv::new();
        for path in ["/healthz", "/readyz"] {
            let response = call(
                &health(&kv, good_vars()),
                request(Method::POST, path, &[], b""),
            );
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(header_of(&response, "allow"), Some("GET, HEAD"));
            assert_eq!(
                header_of(&response, "content-type"),
                Some("application/problem+json")
            );
        }
    }

    #[test]
    fn unknown_paths_get_a_problem_404() {
        let kv = MemoryKv::new();
        let response = call(
            &health(&kv, good_vars()),
            request(Method::GET, "/nope/x", &[], b""),
        );
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            body_json(&response)["type"],
            "urn:webhook-inbox:problem:not-found"
        );
    }
}
