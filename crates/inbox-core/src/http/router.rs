//! Paths and methods to handlers.
//!
//! Templates are `/`-separated literals and `:name` parameters (the syntax of routefinder,
//! which `spin_sdk::http::Router` uses). This matcher is a few dozen lines rather than
//! routefinder itself because a component's whole route table has a handful of entries, and
//! routefinder's general matcher costs several KB of each component's size budget (measured in
//! docs/architecture.md, "Size budget").
//!
//! Templates are constants, so registering one cannot fail at run time: a malformed template
//! (checked by [`template_error`], which every component's tests call over its routes) would
//! only never match.

use super::{Method, Request, RequestContext, Response};
use crate::problem::Problem;

/// A handler: the service state, the request context and the request, to a response or a
/// problem.
pub type Handler<S> = fn(&S, &RequestContext, Request) -> Result<Response, Problem>;

struct Route<S> {
    template: &'static str,
    segments: Vec<Segment>,
    handlers: Vec<(Method, Handler<S>)>,
}

/// Path parameters captured by a route: `(name, value)`.
type Captures = Vec<(String, String)>;

/// One `/`-separated part of a route template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches exactly this text.
    Literal(&'static str),
    /// `:name`: matches any one non-empty segment and captures it.
    Param(&'static str),
}

/// Why a template is malformed (it must start with `/`, and every segment must be non-empty,
/// a parameter named), or `None` if it is well-formed.
pub fn template_error(template: &str) -> Option<String> {
    let Some(rest) = template.strip_prefix('/') else {
        return Some(format!("route {template:?} must start with /"));
    };
    rest.split('/')
        .any(|segment| segment.is_empty() || segment == ":")
        .then(|| format!("route {template:?} has an empty segment"))
}

fn segments(template: &'static str) -> Vec<Segment> {
    if template_error(template).is_some() {
        // Never matches: `matches` compares segment counts, and a path has at least one.
        return Vec::new();
    }
    template
        .get(1..)
        .unwrap_or_default()
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => Segment::Param(name),
            None => Segment::Literal(segment),
        })
        .collect()
}

impl<S> Route<S> {
    /// The captures if `path` matches, with a specificity score: literal segments earlier in
    /// the path win over parameters (`/api/events/stats` beats `/api/events/:id`).
    fn matches(&self, path: &str) -> Option<(Vec<bool>, Captures)> {
        let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut score = Vec::with_capacity(parts.len());
        let mut captures = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(text) if *text == part => score.push(true),
                Segment::Param(name) if !part.is_empty() => {
                    score.push(false);
                    captures.push(((*name).to_owned(), part.to_owned()));
                }
                _ => return None,
            }
        }
        Some((score, captures))
    }
}

/// Maps paths and methods to handlers; answers 404, and 405 with `Allow`, itself.
pub struct Router<S> {
    table: Vec<Route<S>>,
}

impl<S> std::fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.table.len())
            .finish()
    }
}

impl<S> Default for Router<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Router<S> {
    /// An empty router: every path is a 404.
    pub fn new() -> Self {
        Self { table: Vec::new() }
    }

    /// Serves `method` on `template` with `handler`. `GET` also serves `HEAD`.
    pub fn route(mut self, template: &'static str, method: Method, handler: Handler<S>) -> Self {
        match self
            .table
            .iter_mut()
            .find(|route| route.template == template)
        {
            Some(route) => route.handlers.push((method, handler)),
            None => self.table.push(Route {
                template,
                segments: segments(template),
                handlers: vec![(method, handler)],
            }),
        }
        self
    }

    /// Every template registered, for tests (each must pass [`template_error`]).
    pub fn templates(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.table.iter().map(|route| route.template)
    }

    /// Routes a request: 404 when no template matches, 405 (with `Allow`) when the template
    /// matches but not the method.
    pub fn dispatch(&self, state: &S, ctx: &mut RequestContext, request: Request) -> Response {
        let best = self
            .table
            .iter()
            .filter_map(|route| {
                route
                    .matches(request.path())
                    .map(|(score, captures)| (score, captures, route))
            })
            .max_by(|a, b| a.0.cmp(&b.0));
        let Some((_, captures, route)) = best else {
            return ctx.render(Problem::route_not_found(request.path()));
        };
        ctx.set_route(route.template, captures);

        let wanted = if *request.method() == Method::HEAD {
            Method::GET
        } else {
            request.method().clone()
        };
        let handler = route
            .handlers
            .iter()
            .find(|(method, _)| *method == wanted)
            .map(|(_, handler)| *handler);
        match handler {
            Some(handler) => {
                handler(state, ctx, request).unwrap_or_else(|problem| ctx.render(problem))
            }
            None => {
                let mut allow: Vec<Method> = Vec::new();
                for (method, _) in &route.handlers {
                    allow.push(method.clone());
                    if *method == Method::GET {
                        allow.push(Method::HEAD);
                    }
                }
                ctx.render(Problem::method_not_allowed(request.method(), &allow))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_templates_are_named_and_never_match() {
        for template in ["", "no-slash", "/a//b", "/a/:", "//"] {
            assert!(template_error(template).is_some(), "{template}");
            assert!(segments(template).is_empty(), "{template}");
        }
        for template in ["/a", "/a/:id", "/webhooks/:provider/x"] {
            assert_eq!(template_error(template), None, "{template}");
        }
    }
}
