//! What every component that serves some of the [`Operation`]s needs: a router of exactly its
//! own operations, and the `{id}` path parameter read the same way everywhere.

use inbox_core::events::EventId;
use inbox_core::http::{Handler, Method, RequestContext, Router};
use inbox_core::problem::{FieldError, Problem, ProblemKind};

use crate::{HttpMethod, Operation};

impl From<HttpMethod> for Method {
    fn from(method: HttpMethod) -> Self {
        match method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
            HttpMethod::Patch => Method::PATCH,
            HttpMethod::Delete => Method::DELETE,
        }
    }
}

/// A router of the operations `handler` has a handler for: a component's own (the others
/// belong to another component, [`Operation::server`]).
pub fn router<S>(handler: impl Fn(Operation) -> Option<Handler<S>>) -> Router<S> {
    Operation::ALL
        .iter()
        .filter_map(|op| Some((op, handler(*op)?)))
        .fold(Router::new(), |router, (op, handler)| {
            router.route(op.route(), op.method().into(), handler)
        })
}

/// The event the path's `{id}` names; a malformed id names no event (404, saying why).
pub fn path_event_id(ctx: &RequestContext) -> Result<EventId, Problem> {
    EventId::parse(ctx.param("id").unwrap_or_default()).map_err(|error| {
        event_not_found(ctx).with_error(FieldError::new("path:id", error.to_string()))
    })
}

/// 404: no event by the path's `{id}`.
pub fn event_not_found(ctx: &RequestContext) -> Problem {
    Problem::of(
        ProblemKind::NotFound,
        format!("there is no event {}", ctx.param("id").unwrap_or_default()),
    )
}
