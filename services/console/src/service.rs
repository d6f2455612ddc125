//! The console's routes: the page and its files under `/console/`, the way in from `/console`,
//! and the pod's probes. Every answer, errors included, carries the security headers of
//! [`SECURITY_HEADERS`].

use inbox_core::build_info::BuildInfo;
use inbox_core::clock::Clock;
use inbox_core::config::{names, ConfigError, LogLevel, Variables};
use inbox_core::http::conditional::none_match_says_not_modified;
use inbox_core::http::{
    accepts_json, BodyPolicy, Head, Method, Request, RequestContext, Response, Router, Service,
    StatusCode,
};
use inbox_core::kv::NoStore;
use inbox_core::probes::{self, Probed};
use inbox_core::problem::Problem;

use crate::assets::{self, Asset};

/// The page's Content-Security-Policy. Only this origin's files run, style and load; the page
/// may only call this origin (the API); no inline script or style, no plugins, no `<base>`, no
/// form submission (the sign-in form is handled by script, so the token can never end up in a
/// URL), no framing. Trusted Types with no policy make every HTML-parsing DOM sink
/// (`innerHTML`, ...) throw in browsers that enforce them: stored data can only become text.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// The headers on every console answer.
pub const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    // For browsers that predate `frame-ancestors`.
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
];

/// The files are not fingerprinted, so a browser keeps them but asks again every time (a 304
/// when unchanged): a new deployment is seen at the next load.
pub const ASSET_CACHE_CONTROL: &str = "no-cache";

/// `/console` (no slash): the page's relative references need `/console/`, so a permanent
/// redirect there, with a link for clients that do not follow it.
pub const REDIRECT_BODY: &str = "The console is at /console/.\n";

/// Where the API's OpenAPI document is served (`api_contract::Operation::GetOpenApi`'s route).
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The variables the console is granted in spin.toml; each must resolve.
pub const VARIABLES: [&str; 1] = [names::LOG_LEVEL];

/// The console component's state for one request. It holds no key-value store: it never reads
/// events (the browser does, through the API), and spin.toml grants it none, so its readiness is
/// its variables alone.
pub struct Console<V, C> {
    vars: V,
    clock: C,
    build: BuildInfo,
    router: Router<Self>,
}

impl<V, C> std::fmt::Debug for Console<V, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("build", &self.build)
            .finish_non_exhaustive()
    }
}

impl<V: Variables, C: Clock> Console<V, C> {
    /// The component over its variables and a clock.
    pub fn new(vars: V, clock: C, build: BuildInfo) -> Self {
        let router = assets::ASSETS
            .iter()
            .fold(Router::new(), |router, asset| {
                router.route(asset.path, Method::GET, Self::asset)
            })
            .route("/console", Method::GET, Self::redirect)
            .route(OPENAPI_PATH, Method::GET, Self::openapi);
        let router = probes::route(router);
        Self {
            vars,
            clock,
            build,
            router,
        }
    }

    /// `GET /console/<file>`: the file, or 304 when the browser's copy is current.
    fn asset(&self, _: &RequestContext, request: Request) -> Result<Response, Problem> {
        let asset: &Asset =
            assets::find(request.path()).ok_or_else(|| Problem::route_not_found(request.path()))?;
        let etag = asset.etag();
        // A malformed If-None-Match is a 400 problem, as everywhere in this app.
        if none_match_says_not_modified(request.headers().get("if-none-match"), &etag)? {
            return Ok(Response::new(StatusCode::NOT_MODIFIED, Vec::new())
                .with_header("etag", &etag)
                .with_header("cache-control", ASSET_CACHE_CONTROL));
        }
        Ok(Response::new(StatusCode::OK, asset.body.to_vec())
            .with_header("content-type", asset.content_type)
            .with_header("etag", &etag)
            .with_header("cache-control", ASSET_CACHE_CONTROL))
    }

    /// `GET /api/openapi.json`: the API's document (no auth; 406 if `Accept` excludes JSON).
    fn openapi(&self, _: &RequestContext, request: Request) -> Result<Response, Problem> {
        accepts_json(request.headers().get("accept"))?;
        Ok(
            Response::new(StatusCode::OK, crate::OPENAPI_JSON.as_bytes().to_vec())
                .with_header("content-type", "application/json")
                .with_header("cache-control", "no-store"),
        )
    }

    /// `GET /console`: on to `/console/` (308, so the method is kept).
    fn redirect(&self, _: &RequestContext, _: Request) -> Result<Response, Problem> {
        Ok(Response::new(
            StatusCode::PERMANENT_REDIRECT,
            REDIRECT_BODY.as_bytes().to_vec(),
        )
        .with_header("location", "/console/")
        .with_header("content-type", "text/plain; charset=utf-8")
        .with_header("cache-control", ASSET_CACHE_CONTROL))
    }
}

impl<V: Variables, C: Clock> Service for Console<V, C> {
    fn body_policy(&self, _: &Head) -> Result<BodyPolicy, Problem> {
        Ok(BodyPolicy::SMALL)
    }

    fn handle(&self, ctx: &mut RequestContext, request: Request) -> Response {
        // `/console/` is the page; the router's templates cannot end in `/`.
        let (mut head, body) = request.into_parts();
        if head.path == "/console/" {
            assets::INDEX.clone_into(&mut head.path);
        }
        let mut response = self
            .router
            .dispatch(self, ctx, Request::from_parts(head, body));
        let headers = response.headers_mut();
        for (name, value) in SECURITY_HEADERS {
            headers.insert(name, value);
        }
        response
    }
}

impl<V: Variables, C: Clock> Probed for Console<V, C> {
    type Store = NoStore;
    type Vars = V;
    type Clock = C;
    const LIVENESS: &'static str = "/console/healthz";
    const READINESS: &'static str = "/console/readyz";
    fn visible_variables() -> Vec<&'static str> {
        VARIABLES.to_vec()
    }

    fn store(&self) -> Option<&NoStore> {
        None
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

    /// The log level parses.
    fn validate(vars: &V) -> Result<(), ConfigError> {
        LogLevel::load(vars).map(drop)
    }
}

#[cfg(test)]
mod tests;
