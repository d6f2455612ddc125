//! The native baseline: the three services, unchanged, on hyper instead of Spin.
//!
//! Requests are routed as `spin.toml` routes them, each request gets a fresh service value (as
//! Spin gives each request a fresh instance), and the store is Spin's own SQLite layout
//! ([`SqliteKv`]), so what separates the two measurements is the Wasm sandbox and Spin's host.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use inbox_core::clock::SystemClock;
use inbox_core::config::{StaticVariables, WebhookLimits};
use inbox_core::http::{BodyError, Head, Method, Response};
use inbox_core::kv::KeyValue;
use inbox_core::problem::Problem;
use tokio::net::TcpListener;

use crate::sqlite_kv::SqliteKv;

/// What every request shares: the store (Spin's SQLite layout, or a wrapper around it such as
/// the operation counter of [`crate::opcount`]) and the variables.
#[derive(Debug)]
pub struct NativeApp<K = SqliteKv> {
    kv: K,
    vars: StaticVariables,
}

impl<K: KeyValue> NativeApp<K> {
    /// The app over `kv`, configured as `spin up` configures it: the manifest's variable
    /// defaults, overridden by `SPIN_VARIABLE_*` environment variables.
    pub fn from_env(kv: K) -> Result<Self, ManifestError> {
        let vars = std::env::vars().filter_map(|(name, value)| {
            let variable = name.strip_prefix("SPIN_VARIABLE_")?.to_ascii_lowercase();
            Some((variable, value))
        });
        Self::with_variables(kv, vars)
    }

    /// The app over `kv` with the manifest's variable defaults, overridden by `overrides`.
    pub fn with_variables(
        kv: K,
        overrides: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ManifestError> {
        let mut pairs = manifest_defaults()?;
        pairs.extend(overrides);
        Ok(Self {
            kv,
            vars: StaticVariables::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        })
    }

    /// The store.
    pub fn store(&self) -> &K {
        &self.kv
    }

    /// Routes one request the way spin.toml does and runs it through the shared pipeline.
    pub fn respond(&self, head: Head, body: Result<Vec<u8>, BodyError>) -> Response {
        let read_body = move |limit: usize| {
            let body = body?;
            if body.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(body)
        };
        let store = &self.kv;
        let vars = self.vars.clone();
        if under(&head.path, "/api") {
            let service = api::Api::new(
                store,
                vars,
                SystemClock,
                inbox_core::forwarding::poke::NoPoke,
            );
            inbox_core::http::serve(&service, head, read_body)
        } else if under(&head.path, "/webhooks") {
            let service = webhook::Webhooks::new(
                store,
                vars,
                SystemClock,
                inbox_core::forwarding::poke::NoPoke,
            );
            inbox_core::http::serve(&service, head, read_body)
        } else {
            let build = inbox_core::build_info!();
            let service = health::Health::new(store, vars, SystemClock, build);
            inbox_core::http::serve(&service, head, read_body)
        }
    }
}

/// The app's `spin.toml`, read for its variable defaults.
const MANIFEST: &str = include_str!("../../spin.toml");

/// The manifest could not be read.
#[derive(Debug, thiserror::Error)]
#[error("spin.toml: {0}")]
pub struct ManifestError(String);

/// The `[variables]` defaults of the app's `spin.toml`.
pub fn manifest_defaults() -> Result<BTreeMap<String, String>, ManifestError> {
    let manifest: toml::Table = MANIFEST
        .parse()
        .map_err(|error: toml::de::Error| ManifestError(error.to_string()))?;
    let variables = manifest
        .get("variables")
        .and_then(toml::Value::as_table)
        .ok_or_else(|| ManifestError("no [variables] table".into()))?;
    Ok(variables
        .iter()
        .filter_map(|(name, spec)| {
            let default = spec.get("default")?.as_str()?;
            Some((name.clone(), default.to_owned()))
        })
        .collect())
}

/// Whether `path` is `prefix` or below it (Spin's `prefix/...` route).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Serves `app` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, app: Arc<NativeApp>) -> std::io::Result<()> {
    loop {
        let (stream, _peer): (_, SocketAddr) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&app), request));
            // A connection error is the client's business (it went away); nothing to report.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    app: Arc<NativeApp>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let response = match Method::parse(parts.method.as_str()) {
        Some(method) => {
            let mut head = Head::new(method, target);
            for (name, value) in &parts.headers {
                if let Ok(value) = value.to_str() {
                    head.headers.append(name.as_str(), value);
                }
            }
            // Read up to the largest body any configuration admits; the service applies the
            // configured limit.
            let cap = usize::try_from(WebhookLimits::MAX_MAX_BODY_BYTES).unwrap_or(usize::MAX);
            let body = match Limited::new(body, cap).collect().await {
                Ok(collected) => Ok(collected.to_bytes().to_vec()),
                Err(_) => Err(BodyError::TooLarge { limit: cap }),
            };
            app.respond(head, body)
        }
        None => {
            Problem::invalid("the request method is not a valid token", Vec::new()).into_response()
        }
    };
    Ok(to_hyper(response))
}

fn to_hyper(mut response: Response) -> hyper::Response<Full<Bytes>> {
    let body = std::mem::take(response.body_mut());
    let mut builder = hyper::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers().iter() {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| {
            let mut fallback = hyper::Response::new(Full::new(Bytes::new()));
            *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn routes_like_spin_toml() {
        assert!(under("/api", "/api") && under("/api/events", "/api"));
        assert!(!under("/apix", "/api"));
        let dir = tempfile::tempdir().unwrap();
        let mut vars = manifest_defaults().unwrap();
        assert_eq!(vars["webhook_max_body_bytes"], "1048576");
        vars.insert("api_token".into(), "t".into());
        let app = NativeApp {
            kv: SqliteKv::open(&dir.path().join("kv.db")).unwrap(),
            vars: StaticVariables::from_pairs(vars.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        };
        let get = |path: &str| app.respond(Head::new(Method::GET, path), Ok(Vec::new()));
        assert_eq!(get("/healthz").status().as_u16(), 200);
        assert_eq!(get("/readyz").status().as_u16(), 200);
        assert_eq!(get("/api/events").status().as_u16(), 401);
        assert_eq!(get("/webhooks/github").status().as_u16(), 405);
        assert_eq!(get("/nowhere").status().as_u16(), 404);
    }
}
