//! The OpenAPI 3.1 document, generated from [`Operation::ALL`] and the wire types' derived
//! schemas. Nothing here is hand-written JSON: change a type or an operation and the document
//! follows.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathsBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Ref,
    RefOr, Required, ResponseBuilder, Schema,
};

use crate::{
    patterns, CatalogueEntry, Counts, DeadLetterPage, DeadLetterReplay, Deliveries, Delivery,
    DeliveryAttempt, DeliveryState, DestinationDisabled, DestinationEnabled, DestinationSettings,
    DispatchReport, EventDetail, EventPage, EventPatch, EventSummary, FieldError, ForwardingCounts,
    HandedOverSecret, HandedOverSecrets, Operation, Payload, Problem, Provider, ProviderCatalogue,
    ReplayRequest, ReplaySkips, ReplayedDelivery, SourceEntry, Stats, Status, BULK_REPLAY_DEFAULT,
    BULK_REPLAY_MAX, BULK_REPLAY_MAX_SCAN,
};

const JSON: &str = "application/json";
const PROBLEM_JSON: &str = "application/problem+json";
const MERGE_PATCH_JSON: &str = "application/merge-patch+json";
const BEARER: &str = "bearer";

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(string_schema())
        .description(Some(description))
        .build()
}

fn json_response(description: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        JSON,
        ContentBuilder::new()
            .schema(Some(schema_ref(schema)))
            .build(),
    )
}

fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(schema_ref("Problem")))
            .build(),
    )
}

fn query(name: &str, description: &str, schema: ObjectBuilder) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
}

fn path(name: &str, description: &str, pattern: &str) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(string_schema().pattern(Some(pattern))))
}

/// A JSON request body that may be left out.
fn optional_json_body(schema: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::False))
        .content(
            JSON,
            ContentBuilder::new()
                .schema(Some(schema_ref(schema)))
                .build(),
        )
        .build()
}

fn enum_schema(values: &[&str]) -> ObjectBuilder {
    string_schema().enum_values(Some(values.iter().copied()))
}

fn date_time() -> ObjectBuilder {
    string_schema().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
}

/// `DeadLetterReplayRequest`, written here: its filter's pattern is built from the providers.
fn dead_letter_replay_request() -> Schema {
    ObjectBuilder::new()
        .description(Some(
            "Which dead letters to replay, and how many this call. Every member may be left out \
             (none: the newest dead letters of every destination); none may be null.",
        ))
        .property(
            "destination",
            string_schema()
                .pattern(Some(patterns::DESTINATION))
                .description(Some("Only this destination's dead letters.")),
        )
        .property(
            "since",
            date_time().description(Some(
                "Only those that became dead letters at or after this (RFC 3339).",
            )),
        )
        .property(
            "until",
            date_time().description(Some(
                "Only those that became dead letters before this (RFC 3339). An `until` at or \
                 before `since` selects none.",
            )),
        )
        .property(
            "filter",
            ArrayBuilder::new()
                .items(
                    string_schema()
                        .pattern(Some(patterns::filter_pattern()))
                        .max_length(Some(patterns::FILTER_PATTERN_MAX)),
                )
                .min_items(Some(1))
                .max_items(Some(patterns::FILTER_PATTERNS_MAX))
                .description(Some(
                    "Only those of events one of these patterns matches, in the grammar of a \
                     destination's `filter`: `provider:type`, `provider` or `type`; `type` may \
                     end in `*` (a prefix), `*` is any (`stripe:invoice.*`, `github`, `push`).",
                )),
        )
        .property(
            "limit",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(BULK_REPLAY_MAX))
                .description(Some(format!(
                    "Replay at most this many, 1 to {BULK_REPLAY_MAX} (default \
                     {BULK_REPLAY_DEFAULT})."
                ))),
        )
        .property(
            "cursor",
            string_schema()
                .pattern(Some(patterns::DEAD_CURSOR))
                .description(Some(
                    "`next_cursor` of the previous call (with the same selection).",
                )),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

/// A link (for clients and stateful testers) to `target`, passing `id` from `expression`.
fn link(target: Operation, expression: &str) -> LinkBuilder {
    LinkBuilder::new()
        .operation_id(target.id())
        .parameter("id", expression)
}

/// The operation's documentation: parameters, body and every response it can give.
fn operation(op: Operation) -> OperationBuilder {
    let mut builder = OperationBuilder::new()
        .operation_id(Some(op.id()))
        .tag(op.tag());
    if op.authenticated() {
        builder = builder.security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
    }
    let id_parameter = path("id", "The event id.", patterns::EVENT_ID);
    let etag = header("A strong validator of this representation.");
    let if_match = || {
        ParameterBuilder::new()
            .name("If-Match")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Only act if the event's current ETag is one of these (or `*`).",
            ))
            .schema(Some(string_schema().pattern(Some(patterns::ENTITY_TAGS))))
    };

    builder = match op {
        Operation::ListEvents => builder
            .summary(Some("List events, newest first"))
            .description(Some(
                "Cursor-paginated. A page reads only the events it returns plus, when filters \
                 skip events, at most 500 index entries; when that bound is reached before the \
                 page is full, the page is returned short with a `next_cursor`.",
            ))
            .parameter(query(
                "limit",
                "Page size, 1 to 200 (default 50).",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(200)),
            ))
            .parameter(query(
                "cursor",
                "`next_cursor` of the previous page (opaque).",
                string_schema().pattern(Some(patterns::CURSOR)),
            ))
            .parameter(query(
                "provider",
                "Only this provider.",
                enum_schema(
                    &inbox_core::events::Provider::ALL
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>(),
                ),
            ))
            .parameter(query(
                "type",
                "Only this event type.",
                string_schema().pattern(Some(patterns::EVENT_TYPE)),
            ))
            .parameter(query(
                "has_type",
                "`false`: only events whose delivery named no type (Standard Webhooks only \
                 recommends one); `true`: only events with a type. With `type`, `false` \
                 matches nothing.",
                ObjectBuilder::new().schema_type(Type::Boolean),
            ))
            .parameter(query(
                "action",
                "Only this action (GitHub's `action`, e.g. `type=issues&action=opened`; \
                 Linear's, e.g. `create`).",
                string_schema().pattern(Some(patterns::ACTION)),
            ))
            .parameter(query(
                "source",
                "Only events verified by the secret with this label (`label=secret` in the \
                 provider's secret list).",
                string_schema().pattern(Some(patterns::SOURCE)),
            ))
            .parameter(query(
                "status",
                "Only this status.",
                enum_schema(&["pending", "processed"]),
            ))
            .parameter(query(
                "since",
                "Received at or after (RFC 3339).",
                date_time(),
            ))
            .parameter(query(
                "until",
                "Received before (RFC 3339). An `until` at or before `since` matches nothing.",
                date_time(),
            ))
            .response(
                "200",
                json_response("A page of events.", "EventPage")
                    .header(
                        "Link",
                        header("`<...>; rel=\"next\"` when there is a next page."),
                    )
                    .link(
                        "GetFirstEvent",
                        link(Operation::GetEvent, "$response.body#/items/0/id").build(),
                    )
                    .link(
                        "DeleteFirstEvent",
                        link(Operation::DeleteEvent, "$response.body#/items/0/id").build(),
                    ),
            )
            .response(
                "400",
                problem(
                    "A query parameter is invalid, unknown or repeated (each is named in \
                     `errors`).",
                ),
            ),
        Operation::GetEvent => builder
            .summary(Some("Get one event with its payload"))
            .parameter(id_parameter)
            .parameter(
                ParameterBuilder::new()
                    .name("If-None-Match")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "Answer 304 if the event still has one of these ETags.",
                    ))
                    .schema(Some(string_schema().pattern(Some(patterns::ENTITY_TAGS)))),
            )
            .response(
                "200",
                json_response("The event.", "EventDetail")
                    .header("ETag", etag.clone())
                    .link(
                        "UpdateThisEvent",
                        link(Operation::UpdateEvent, "$request.path.id")
                            .parameter("header.If-Match", "$response.header.ETag")
                            .build(),
                    )
                    .link(
                        "DeleteThisEvent",
                        link(Operation::DeleteEvent, "$request.path.id")
                            .parameter("header.If-Match", "$response.header.ETag")
                            .build(),
                    ),
            )
            .response(
                "304",
                ResponseBuilder::new()
                    .description("Not modified.")
                    .header("ETag", etag.clone()),
            )
            .response(
                "400",
                problem("If-None-Match is not `*` or a list of entity tags."),
            )
            .response("404", problem("No event with this id.")),
        Operation::UpdateEvent => builder
            .summary(Some("Mark an event processed"))
            .parameter(id_parameter)
            .parameter(if_match())
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        MERGE_PATCH_JSON,
                        ContentBuilder::new()
                            .schema(Some(schema_ref("EventPatch")))
                            .build(),
                    )
                    .content(
                        JSON,
                        ContentBuilder::new()
                            .schema(Some(schema_ref("EventPatch")))
                            .build(),
                    )
                    .build(),
            ))
            .response(
                "200",
                json_response("The updated event.", "EventDetail").header("ETag", etag),
            )
            .response(
                "400",
                problem(
                    "The patch is not valid JSON, has unknown members, an invalid or null status, \
                     or If-Match is not `*` or a list of entity tags.",
                ),
            )
            .response("404", problem("No event with this id."))
            .response(
                "409",
                problem("A processed event cannot return to pending."),
            )
            .response("411", problem("The request has no Content-Length."))
            .response("412", problem("If-Match did not match the current ETag."))
            .response("413", problem("The patch is larger than 16 KiB."))
            .response(
                "415",
                problem("The body is not application/merge-patch+json or application/json."),
            ),
        Operation::DeleteEvent => builder
            .summary(Some("Delete an event"))
            .parameter(id_parameter)
            .parameter(if_match())
            .response("204", ResponseBuilder::new().description("Deleted."))
            .response(
                "400",
                problem("If-Match is not `*` or a list of entity tags."),
            )
            .response("404", problem("No event with this id."))
            .response("412", problem("If-Match did not match the current ETag.")),
        Operation::GetStats => builder
            .summary(Some(
                "Event counts per provider and status, retention and forwarding counts",
            ))
            .response("200", json_response("The counts.", "Stats")),
        Operation::GetMetrics => builder
            .summary(Some("The counts of /api/stats for Prometheus"))
            .description(Some(
                "Prometheus text exposition (0.0.4): webhook_inbox_events{provider,status}, \
                 webhook_inbox_events_pruned_total{reason}, webhook_inbox_retention_max_events, \
                 webhook_inbox_forward_deliveries{destination,state}, \
                 webhook_inbox_forward_attempts_total{destination,result}, \
                 webhook_inbox_forward_destination_disabled{destination} (1 while disabled for \
                 failing).",
            ))
            .response(
                "200",
                ResponseBuilder::new().description("The metrics.").content(
                    "text/plain; version=0.0.4",
                    ContentBuilder::new().schema(Some(string_schema())).build(),
                ),
            ),
        Operation::ListProviders => builder
            .summary(Some(
                "The providers the webhook component verifies, and which are configured",
            ))
            .description(Some(
                "Every provider of the catalogue, in its order: slug, name, scheme family, secret \
                 variable, handshake and proof kind. Whether \
                 each is configured comes from the webhook component (the api is not granted \
                 the secrets): it records the configured providers whenever its readiness check \
                 validates its configuration, and `configured_as_of` says since when that \
                 record holds; until it first reports, `configured` and `configured_as_of` are \
                 `null`.",
            ))
            .response("200", json_response("The catalogue.", "ProviderCatalogue")),
        Operation::ListHandshakes => builder
            .summary(Some("Secrets providers handed over in their handshakes"))
            .description(Some(
                "Asana (`X-Hook-Secret`) and Notion (`verification_token`) send the secret \
                 they will sign with to the endpoint, unsigned, when a subscription is created. \
                 The webhook component answers the handshake and keeps the newest few secrets \
                 per provider here; none is trusted by itself (anyone who can reach the \
                 endpoint can send one). Configure the provider's one as its secret \
                 (`webhook_asana_secret`, `webhook_notion_secret`; for Notion, also paste it \
                 into Notion to confirm the subscription).",
            ))
            .response(
                "200",
                json_response(
                    "The secrets, newest first per provider.",
                    "HandedOverSecrets",
                ),
            ),
        Operation::GetDeliveries => builder
            .summary(Some(
                "An event's deliveries to the destinations that receive it",
            ))
            .parameter(id_parameter)
            .response(
                "200",
                json_response(
                    "One delivery per destination an attempt was made to (the first attempt \
                     follows the event's storing at once; none while forwarding is off).",
                    "Deliveries",
                ),
            )
            .response("404", problem("No event with this id.")),
        Operation::ReplayEvent => builder
            .summary(Some("Deliver an event again"))
            .description(Some(
                "Queues the event's deliveries again (every one that was attempted, or the one \
                 to the destination named), due now, and asks the forwarder to send them at \
                 once; the attempt history is kept. The body may be left out.",
            ))
            .parameter(id_parameter)
            .request_body(Some(optional_json_body("ReplayRequest")))
            .response("202", json_response("Queued.", "Deliveries"))
            .response(
                "400",
                problem("The body is not a replay request (`destination`, if given, is a name)."),
            )
            .response("404", problem("No event with this id."))
            .response(
                "409",
                problem(
                    "No delivery of this event (to that destination) was ever attempted, or an \
                     attempt is in flight (`Retry-After`: replay once it has an outcome).",
                ),
            )
            .response("413", problem("The body is larger than 16 KiB."))
            .response("415", problem("The body is not application/json.")),
        Operation::DispatchEvent => builder
            .summary(Some("Make an event's first delivery attempts now"))
            .description(Some(
                "What the webhook component asks right after it stored an event, and the api \
                 component after a replay, with the API token (as the dispatch tick presents \
                 it): without it the answer is 401 whether or not the event is stored. Answered \
                 at once; the attempts follow.",
            ))
            .parameter(id_parameter)
            .response(
                "202",
                ResponseBuilder::new().description("The attempts are being made."),
            )
            .response("404", problem("No event with this id.")),
        Operation::ListDeadLetters => builder
            .summary(Some("Deliveries that will not be retried, newest first"))
            .parameter(query(
                "destination",
                "Only this destination.",
                string_schema().pattern(Some(patterns::DESTINATION)),
            ))
            .parameter(query(
                "limit",
                "Page size, 1 to 200 (default 50).",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(200)),
            ))
            .parameter(query(
                "cursor",
                "`next_cursor` of the previous page.",
                string_schema().pattern(Some(patterns::DEAD_CURSOR)),
            ))
            .response(
                "200",
                json_response("A page of dead letters.", "DeadLetterPage"),
            )
            .response(
                "400",
                problem("A query parameter is invalid, unknown or repeated."),
            ),
        Operation::ReplayDeadLetters => builder
            .summary(Some("Replay dead letters in bounded, resumable batches"))
            .description(Some(format!(
                "Queues dead letters again, due now, exactly as a replay by id does, and asks the \
                 forwarder to send each at once: those of one destination, or every \
                 destination's, that became dead letters within `since`/`until`, of events the \
                 filter matches. Newest first: at most `limit` per call, reading at most \
                 {BULK_REPLAY_MAX_SCAN} dead-letter entries; while entries remain, `next_cursor` \
                 says where to go on (call again with it and the same selection). Only dead \
                 letters are replayed, never a delivered or pending delivery. Resuming with a \
                 cursor already used (after a crash, say) sends nothing twice: a dead letter \
                 queued again is no longer dead and is counted in `skipped.no_longer_dead`; two \
                 calls at once queue each dead letter once."
            )))
            .request_body(Some(optional_json_body("DeadLetterReplayRequest")))
            .response(
                "200",
                json_response(
                    "What was replayed, what was passed over and why, and where to go on.",
                    "DeadLetterReplay",
                ),
            )
            .response(
                "400",
                problem(
                    "The body is not a bulk replay request: unknown or null members, a \
                     destination, time, filter pattern, limit or cursor of the wrong shape \
                     (each is named in `errors`).",
                ),
            )
            .response("413", problem("The body is larger than 16 KiB."))
            .response("415", problem("The body is not application/json.")),
        Operation::EnableDestination => builder
            .summary(Some("Re-enable a destination disabled for failing"))
            .description(Some(
                "A destination with `disable_after_failures` or `disable_after_seconds` is \
                 disabled once it fails that often or that long: its deliveries wait, kept due \
                 (not attempted, not counted, not dead-lettered), and `/api/stats` shows it \
                 under `forwarding.{name}.disabled`. Re-enabled, its failure count starts \
                 again and the forwarder drains what waited from its next dispatch round on, each delivery \
                 once (in order, if it is ordered). Re-enabling one that is not disabled \
                 changes nothing.",
            ))
            .parameter(path(
                "name",
                "The destination's name in `forward_destinations`.",
                patterns::DESTINATION,
            ))
            .response(
                "200",
                json_response(
                    "Enabled; what it had been disabled for.",
                    "DestinationEnabled",
                ),
            )
            .response(
                "404",
                problem("No destination by this name has been configured."),
            ),
        Operation::Dispatch => builder
            .summary(Some("Send what is due"))
            .description(Some(
                "One bounded round: first attempts of new events, due retries, and a retention \
                 sweep. A ticker calls it every few seconds (scripts/dev locally; on Kubernetes \
                 the ticker component inside each forwarder pod, on the pod's own listener); calls \
                 at once are safe.",
            ))
            .response(
                "200",
                json_response("What this round did.", "DispatchReport"),
            ),
        Operation::GetOpenApi => builder.summary(Some("This document")).response(
            "200",
            ResponseBuilder::new()
                .description("The OpenAPI 3.1 document.")
                .content(
                    JSON,
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                        .build(),
                ),
        ),
    };
    if op.authenticated() {
        builder = builder
            .response(
                "401",
                problem("The bearer token is missing or wrong.").header(
                    "WWW-Authenticate",
                    header("`Bearer realm=\"webhook-inbox\"`"),
                ),
            )
            .response(
                "503",
                problem(
                    "No API token is configured (the API fails closed), forwarding is \
                     misconfigured, or the store failed.",
                )
                .header("Retry-After", header("Seconds to wait before retrying.")),
            );
    }
    builder
        .response(
            "405",
            problem("The path does not support this method.")
                .header("Allow", header("The methods it supports.")),
        )
        .response("406", problem("The Accept header excludes JSON."))
}

/// The whole document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    let mut by_path: Vec<(String, PathItem)> = Vec::new();
    for op in Operation::ALL {
        let method = match op.method() {
            crate::HttpMethod::Get => HttpMethod::Get,
            crate::HttpMethod::Post => HttpMethod::Post,
            crate::HttpMethod::Patch => HttpMethod::Patch,
            crate::HttpMethod::Delete => HttpMethod::Delete,
        };
        let built = operation(op).build();
        let path = op.openapi_path();
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, item)) => item.merge_operations(PathItem::new(method, built)),
            None => by_path.push((path, PathItem::new(method, built))),
        }
    }
    for (path, item) in by_path {
        paths = paths.path(path, item);
    }

    let components = ComponentsBuilder::new()
        .schema_from::<Provider>()
        .schema_from::<Status>()
        .schema_from::<EventSummary>()
        .schema_from::<EventDetail>()
        .schema_from::<Payload>()
        .schema_from::<EventPage>()
        .schema_from::<EventPatch>()
        .schema_from::<Counts>()
        .schema_from::<Stats>()
        .schema_from::<ForwardingCounts>()
        .schema_from::<DestinationSettings>()
        .schema_from::<DestinationDisabled>()
        .schema_from::<DestinationEnabled>()
        .schema_from::<CatalogueEntry>()
        .schema_from::<ProviderCatalogue>()
        .schema_from::<SourceEntry>()
        .schema_from::<HandedOverSecret>()
        .schema_from::<HandedOverSecrets>()
        .schema_from::<DeliveryState>()
        .schema_from::<DeliveryAttempt>()
        .schema_from::<Delivery>()
        .schema_from::<Deliveries>()
        .schema_from::<DeadLetterPage>()
        .schema_from::<ReplayRequest>()
        .schema("DeadLetterReplayRequest", dead_letter_replay_request())
        .schema_from::<ReplayedDelivery>()
        .schema_from::<ReplaySkips>()
        .schema_from::<DeadLetterReplay>()
        .schema_from::<DispatchReport>()
        .schema_from::<FieldError>()
        .schema_from::<Problem>()
        .security_scheme(
            BEARER,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .build();

    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("webhook-inbox API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "An authenticated inbox over the webhook deliveries the webhook processor \
                     verified and stored. Every error is an RFC 9457 problem.",
                ))
                .license(Some(LicenseBuilder::new().name("Apache-2.0").build())),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

/// The document as JSON, with utoipa 5.5's Link objects fixed: it serializes their fields in
/// snake case (`operation_id`, `operation_ref`, `request_body`), which OpenAPI tools ignore or
/// refuse, so the links are renamed to `operationId`, `operationRef` and `requestBody`.
pub fn document_value() -> serde_json::Value {
    let mut value = serde_json::to_value(document()).unwrap_or_default();
    fix_links(&mut value);
    value
}

fn fix_links(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(members) => {
            if let Some(serde_json::Value::Object(links)) = members.get_mut("links") {
                for link in links.values_mut() {
                    if let serde_json::Value::Object(fields) = link {
                        for (from, to) in [
                            ("operation_id", "operationId"),
                            ("operation_ref", "operationRef"),
                            ("request_body", "requestBody"),
                        ] {
                            if let Some(field) = fields.remove(from) {
                                fields.insert(to.to_owned(), field);
                            }
                        }
                    }
                }
            }
            members.values_mut().for_each(fix_links);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(fix_links),
        _ => {}
    }
}

/// The document as pretty-printed JSON.
pub fn document_json() -> String {
    serde_json::to_string_pretty(&document_value()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_every_operation_and_schema() {
        let json: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        for op in Operation::ALL {
            let path = &json["paths"][op.openapi_path()][op.method().as_str().to_ascii_lowercase()];
            assert_eq!(path["operationId"], op.id(), "{}", op.id());
            assert_eq!(
                path["security"].is_array(),
                op.authenticated(),
                "{}",
                op.id()
            );
        }
        for schema in [
            "EventPage",
            "EventDetail",
            "EventPatch",
            "Stats",
            "ProviderCatalogue",
            "Problem",
            "Provider",
        ] {
            assert!(
                json["components"]["schemas"][schema].is_object(),
                "{schema}"
            );
        }
        assert_eq!(
            json["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        // Links name their target the way OpenAPI spells it, and the target exists.
        let links = &json["paths"]["/api/events"]["get"]["responses"]["200"]["links"];
        let target = links["GetFirstEvent"]["operationId"].as_str().unwrap();
        assert!(Operation::ALL.iter().any(|op| op.id() == target));
        assert!(!document_json().contains("operation_id"));
    }
}
