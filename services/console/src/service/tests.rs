// Test code: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;
use crate::assets::{ASSETS, CSS, HTML, JAVASCRIPT, SVG};
use inbox_core::clock::ManualClock;
use inbox_core::config::StaticVariables;
use inbox_core::http::testing::{assert_problem, body_json, call, header_of, request};

fn console_with(vars: StaticVariables) -> Console<StaticVariables, ManualClock> {
    Console::new(
        vars,
        ManualClock::at_unix(1_800_000_000),
        BuildInfo::new("9.9.9", Some("abc1234")),
    )
}

fn console() -> Console<StaticVariables, ManualClock> {
    console_with(StaticVariables::from_pairs([(names::LOG_LEVEL, "info")]))
}

fn get(path: &str, headers: &[(&str, &str)]) -> Response {
    call(&console(), request(Method::GET, path, headers, b""))
}

fn text_of(response: &Response) -> String {
    String::from_utf8(response.body().to_vec()).unwrap()
}

fn ui(file: &str) -> &'static str {
    let asset = assets::find(&format!("/console/{file}")).unwrap();
    std::str::from_utf8(asset.body).unwrap()
}

fn assert_security_headers(response: &Response) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(header_of(response, name), Some(value), "{name}");
    }
}

#[test]
fn every_route_template_is_well_formed() {
    let templates: Vec<_> = console().router.templates().collect();
    assert!(templates.len() > 5);
    for template in templates {
        assert_eq!(inbox_core::http::template_error(template), None);
    }
}

#[test]
fn the_page_is_served_at_console_slash_and_at_its_file_name() {
    for path in ["/console/", "/console/index.html"] {
        let response = get(path, &[]);
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&response, "content-type"), Some(HTML));
        assert_eq!(response.body(), assets::find(assets::INDEX).unwrap().body);
        assert!(text_of(&response).contains("<label for=\"token\">API token</label>"));
        assert_security_headers(&response);
    }
}

#[test]
fn every_file_has_its_type_a_validator_and_the_security_headers() {
    let expected = [
        ("/console/index.html", HTML),
        ("/console/app.js", JAVASCRIPT),
        ("/console/logic.js", JAVASCRIPT),
        ("/console/console.css", CSS),
        ("/console/icon.svg", SVG),
    ];
    assert_eq!(ASSETS.len(), expected.len());
    for (path, content_type) in expected {
        let response = get(path, &[]);
        let asset = assets::find(path).unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&response, "content-type"), Some(content_type));
        assert_eq!(header_of(&response, "etag"), Some(asset.etag().as_str()));
        assert_eq!(header_of(&response, "cache-control"), Some("no-cache"));
        assert_eq!(
            header_of(&response, "content-length"),
            Some(asset.body.len().to_string().as_str())
        );
        assert_eq!(response.body(), asset.body);
        assert_security_headers(&response);
    }
}

#[test]
fn a_current_copy_gets_304_and_a_stale_one_the_file() {
    let asset = assets::find("/console/app.js").unwrap();
    let tag = asset.etag();
    let weak = format!("W/{tag}");
    let listed = format!("\"0000000000000000\", {tag}");
    for header in [tag.as_str(), weak.as_str(), listed.as_str(), "*"] {
        let response = get("/console/app.js", &[("if-none-match", header)]);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{header}");
        assert!(response.body().is_empty());
        assert_eq!(header_of(&response, "etag"), Some(tag.as_str()));
        assert_eq!(header_of(&response, "cache-control"), Some("no-cache"));
        assert_security_headers(&response);
    }
    for header in ["\"0000000000000000\"", ""] {
        let response = get("/console/app.js", &[("if-none-match", header)]);
        assert_eq!(response.status(), StatusCode::OK, "{header:?}");
        assert_eq!(response.body(), asset.body);
    }
    // A malformed one is a problem, as everywhere in the app (RFC 9110's grammar).
    let response = get("/console/app.js", &[("if-none-match", "nonsense")]);
    assert_problem(&response, 400, "invalid-request");
}

#[test]
fn head_has_the_headers_and_no_body() {
    let response = call(
        &console(),
        request(Method::HEAD, "/console/console.css", &[], b""),
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, "content-type"), Some(CSS));
    assert!(header_of(&response, "etag").is_some());
    assert!(response.body().is_empty());
    assert_security_headers(&response);
}

#[test]
fn console_without_slash_leads_to_console_slash() {
    let response = get("/console", &[]);
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header_of(&response, "location"), Some("/console/"));
    assert!(text_of(&response).contains("/console/"));
    assert_security_headers(&response);
}

#[test]
fn other_methods_get_405_with_allow() {
    for path in ["/console/", "/console", "/console/app.js"] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let response = call(&console(), request(method.clone(), path, &[], b""));
            assert_problem(&response, 405, "method-not-allowed");
            assert_eq!(header_of(&response, "allow"), Some("GET, HEAD"), "{path}");
            assert_security_headers(&response);
        }
    }
}

#[test]
fn unknown_files_are_problem_404s_with_the_security_headers() {
    for path in ["/console/nope.js", "/console/app.js/x", "/console//app.js"] {
        let response = get(path, &[]);
        let problem = assert_problem(&response, 404, "not-found");
        assert_eq!(problem["instance"], path);
        assert_security_headers(&response);
    }
}

#[test]
fn the_policy_is_strict() {
    let directives: Vec<&str> = CONTENT_SECURITY_POLICY.split("; ").collect();
    for wanted in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(directives.contains(&wanted), "{wanted} in {directives:?}");
    }
    for loose in [
        "unsafe-inline",
        "unsafe-eval",
        "data:",
        "http:",
        "https:",
        "*",
    ] {
        assert!(!CONTENT_SECURITY_POLICY.contains(loose), "{loose}");
    }
}

/// The page must work under its own policy: no inline script, style or event handler, and
/// every file it names is one the console serves.
#[test]
fn the_page_needs_nothing_the_policy_forbids() {
    let html = ui("index.html");
    assert!(!html.contains("<style"), "inline <style>");
    assert!(!html.contains(" style="), "style attribute");
    for (at, _) in html.match_indices("<script") {
        let tag = &html[at..at + html[at..].find('>').unwrap()];
        assert!(tag.contains(" src=\"/console/"), "inline script: {tag}");
    }
    let lower = html.to_ascii_lowercase();
    for (at, _) in lower.match_indices(" on") {
        let rest = &lower[at + 3..];
        let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        assert!(
            !rest[name_len..].starts_with('='),
            "event handler attribute near {:?}",
            &html[at..(at + 30).min(html.len())]
        );
    }
    assert!(!lower.contains("http://") && !lower.contains("https://"));
    for attribute in [" src=\"", " href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let value = html[at + attribute.len()..].split('"').next().unwrap();
            if value.starts_with('#') {
                continue;
            }
            let served = if value == "/console/" {
                assets::INDEX
            } else {
                value
            };
            assert!(assets::find(served).is_some(), "{value} is not served");
        }
    }
}

#[test]
fn the_scripts_import_only_served_files_and_never_parse_html() {
    for file in ["app.js", "logic.js"] {
        let source = ui(file);
        for (at, _) in source.match_indices(" from '") {
            let specifier = source[at + 7..].split('\'').next().unwrap();
            let path = specifier
                .strip_prefix("./")
                .map(|name| format!("/console/{name}"))
                .unwrap_or_else(|| panic!("{file} imports {specifier}: only ./ imports"));
            assert!(assets::find(&path).is_some(), "{file} imports {specifier}");
        }
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "DOMParser",
            "createContextualFragment",
            "localStorage",
            "document.cookie",
        ] {
            assert!(!source.contains(sink), "{file} uses {sink}");
        }
    }
}

#[test]
fn liveness_reports_the_build_and_touches_nothing() {
    let response = get("/console/healthz", &[]);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, "cache-control"), Some("no-store"));
    let body = body_json(&response);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], "9.9.9");
    assert_eq!(body["commit"], "abc1234");
    assert_security_headers(&response);
}

#[test]
fn readiness_checks_the_variables() {
    let response = get("/console/readyz", &[]);
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(&response);
    assert_eq!(body["status"], "ready");
    // No store is granted, so no store check: the variables are the whole readiness.
    assert_eq!(body["checks"].as_array().unwrap().len(), 1);
    assert_eq!(body["checks"][0]["name"], "variables");

    let response = call(
        &console_with(StaticVariables::from_pairs([(names::LOG_LEVEL, "loud")])),
        request(Method::GET, "/console/readyz", &[], b""),
    );
    let problem = assert_problem(&response, 503, "not-ready");
    assert_eq!(problem["detail"], "not ready: variables failed");
    assert!(problem["checks"][0]["error"]
        .as_str()
        .unwrap()
        .contains("log_level"));

    let response = call(
        &console_with(StaticVariables::from_pairs([])),
        request(Method::GET, "/console/readyz", &[], b""),
    );
    assert_problem(&response, 503, "not-ready");
}

#[test]
fn successful_probes_are_not_logged_but_pages_are() {
    use inbox_core::logging::CapturedLogs;
    let service = console();
    let logged = |path: &str| {
        let (response, logs) =
            CapturedLogs::capture(|| call(&service, request(Method::GET, path, &[], b"")));
        (response.status().as_u16(), logs.lines())
    };
    assert_eq!(logged("/console/healthz").1.len(), 0);
    assert_eq!(logged("/console/readyz").1.len(), 0);
    let (status, lines) = logged("/console/");
    assert_eq!(status, 200);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["route"], "/console/index.html");
}

#[test]
fn the_api_document_is_served_with_content_negotiation() {
    let response = get(OPENAPI_PATH, &[]);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_of(&response, "content-type"),
        Some("application/json")
    );
    let document = body_json(&response);
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/api/events"].is_object());
    let refused = get(OPENAPI_PATH, &[("accept", "text/html")]);
    assert_problem(&refused, 406, "not-acceptable");
}

#[test]
fn the_bulk_replay_bounds_are_the_apis() {
    let logic = ui("logic.js");
    for line in [
        format!(
            "export const BULK_REPLAY_MAX = {};",
            api_contract::BULK_REPLAY_MAX
        ),
        format!(
            "export const BULK_REPLAY_DEFAULT = {};",
            api_contract::BULK_REPLAY_DEFAULT
        ),
    ] {
        assert!(logic.contains(&line), "logic.js lacks {line}");
    }
}
