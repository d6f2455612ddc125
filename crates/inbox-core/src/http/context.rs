//! What the pipeline knows about a request besides the request itself.

use super::Response;
use crate::problem::Problem;
use crate::request_id::RequestId;

/// The request id, the path, and (once routed) the matched route and its parameters.
#[derive(Debug, Clone)]
pub struct RequestContext {
    request_id: RequestId,
    path: String,
    route: &'static str,
    params: Vec<(String, String)>,
}

impl RequestContext {
    /// A context for a request to `path`, with the given id.
    pub fn new(request_id: RequestId, path: impl Into<String>) -> Self {
        Self {
            request_id,
            path: path.into(),
            route: "unmatched",
            params: Vec::new(),
        }
    }

    /// The request id.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The request path (without the query).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The route template that matched, e.g. `/api/events/:id` (`unmatched` before routing).
    pub fn route(&self) -> &'static str {
        self.route
    }

    /// A path parameter captured by the route.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Records what the router matched.
    pub(super) fn set_route(&mut self, route: &'static str, params: Vec<(String, String)>) {
        self.route = route;
        self.params = params;
    }

    /// Renders a problem for this request: `instance` is the path unless the handler named a
    /// more specific resource, and the request id is included so a caller can quote it.
    pub fn render(&self, problem: Problem) -> Response {
        let problem = if problem.has_instance() {
            problem
        } else {
            problem.with_instance(self.path.clone())
        };
        problem
            .with_request_id(self.request_id.as_str())
            .into_response()
    }
}
