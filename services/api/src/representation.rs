//! Stored events to wire types. The store's format and the API's are separate on purpose: the
//! storage layout can change without breaking clients, and the other way round.

use api_contract::{
    CatalogueEntry, Counts, DestinationDisabled, DestinationSettings, EventDetail, EventSummary,
    ForwardingCounts, Payload, ProviderCatalogue, SourceEntry, Stats,
};
use inbox_core::configured::Configured;
use inbox_core::events::{EventMeta, EventStatus, Provider, PruneReason, StoredEvent};
use inbox_core::forwarding::circuit::Disabled;
use inbox_core::forwarding::settings::Settings;

fn status(status: EventStatus) -> api_contract::Status {
    match status {
        EventStatus::Pending => api_contract::Status::Pending,
        EventStatus::Processed => api_contract::Status::Processed,
    }
}

/// A listed event.
pub fn summary(meta: &EventMeta) -> EventSummary {
    EventSummary {
        id: meta.id.as_str().to_owned(),
        provider: api_contract::Provider(meta.provider),
        delivery_id: meta.delivery_id.as_str().to_owned(),
        event_type: meta.event_type.as_ref().map(|t| t.as_str().to_owned()),
        action: meta.action.as_ref().map(|a| a.as_str().to_owned()),
        source: meta.source.as_ref().map(|s| s.as_str().to_owned()),
        status: status(meta.status),
        received_at: meta.received_at.to_rfc3339_millis(),
        processed_at: meta.processed_at.map(|at| at.to_rfc3339_millis()),
    }
}

/// A whole event.
pub fn detail(event: StoredEvent) -> EventDetail {
    EventDetail {
        summary: summary(&event.meta),
        payload: Payload {
            content_type: event.body.content_type,
            headers: event.body.headers,
            raw_body: event.body.raw_body,
            json: event.body.json,
        },
    }
}

/// The provider catalogue, with what the webhook component last reported as configured
/// (`None`: it never reported, so whether a provider is configured is unknown).
pub fn catalogue(configured: Option<&Configured>) -> ProviderCatalogue {
    ProviderCatalogue {
        providers: Provider::ALL
            .iter()
            .map(|&provider| {
                // The row's strings, computed at compile time: `spec()` would link every row.
                let listing = provider.listing();
                CatalogueEntry {
                    slug: api_contract::Provider(provider),
                    name: listing.name.to_owned(),
                    scheme_family: listing.scheme_family.to_owned(),
                    // Built, not `secret_variable()`: that is a table of 69 more strings.
                    secret_variable: format!("webhook_{provider}_secret"),
                    configured: configured.map(|known| known.contains(provider.as_str())),
                    handshake: listing.handshake.map(str::to_owned),
                    proof: listing.proof.to_owned(),
                }
            })
            .collect(),
        configured_as_of: configured.map(|known| known.since.to_rfc3339_millis()),
        sources: configured
            .map(|known| {
                known
                    .sources()
                    .map(|(name, family)| SourceEntry {
                        name: name.to_owned(),
                        path: format!("/webhooks/source/{name}"),
                        scheme_family: family.to_owned(),
                        secret_variable: format!("webhook_{}_secret", Provider::Source),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Everything `/api/stats` and `/api/metrics` report, read from counters (no scan).
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Events per provider and status, in the order of `Provider::ALL`.
    pub events: Vec<(Provider, inbox_core::events::Counts)>,
    /// Pruned events per reason.
    pub pruned: Vec<(PruneReason, u64)>,
    /// The retention cap (0: none).
    pub max_events: u64,
    /// Per destination: pending, delivered and dead deliveries.
    pub forwarding: Vec<(String, [u64; 3])>,
    /// The destinations' settings, as the forwarder last recorded them.
    pub settings: Vec<Settings>,
    /// The destinations disabled for failing, with how many deliveries wait for each.
    pub disabled: Vec<(String, Disabled, u64)>,
    /// Per destination: attempts that delivered, were retried, died.
    pub attempts: Vec<(String, [u64; 3])>,
}

/// The figures as `/api/stats` answers them.
pub fn stats(figures: &Figures) -> Stats {
    let mut stats = Stats::default();
    for (provider, counts) in &figures.events {
        let entry = Counts {
            pending: counts.pending,
            processed: counts.processed,
            total: counts.pending + counts.processed,
        };
        stats.total.pending += entry.pending;
        stats.total.processed += entry.processed;
        stats.total.total += entry.total;
        stats
            .by_provider
            .insert(provider.as_str().to_owned(), entry);
    }
    for (reason, count) in &figures.pruned {
        stats.pruned.insert(reason.as_str().to_owned(), *count);
    }
    stats.max_events = figures.max_events;
    for (name, [pending, delivered, dead]) in &figures.forwarding {
        let settings = figures.settings.iter().find(|s| s.name.as_str() == name);
        stats.forwarding.insert(
            name.clone(),
            ForwardingCounts {
                pending: *pending,
                delivered: *delivered,
                dead: *dead,
                ordered: settings.is_some_and(|s| s.ordered),
                settings: settings.map(|s| DestinationSettings {
                    secrets: s.secrets,
                    max_per_second: s.max_per_second,
                    max_in_flight: s.max_in_flight,
                    disable_after_failures: s.disable_after_failures,
                    disable_after_seconds: s.disable_after_seconds,
                }),
                disabled: figures.disabled.iter().find(|(d, _, _)| d == name).map(
                    |(_, d, waiting)| DestinationDisabled {
                        waiting: *waiting,
                        ..disabled(d)
                    },
                ),
            },
        );
    }
    stats
}

/// A disabled destination's record as the API shows it.
pub fn disabled(record: &Disabled) -> DestinationDisabled {
    DestinationDisabled {
        since: record.since.to_rfc3339_millis(),
        reason: record.reason.clone(),
        waiting: 0,
    }
}

/// The figures in the Prometheus text exposition format 0.0.4 (metric names:
/// kustomize/components/observability and docs/operations.md build on them).
pub fn metrics(figures: &Figures) -> String {
    use std::fmt::Write;
    fn family(out: &mut String, name: &str, kind: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    let mut out = String::new();
    family(
        &mut out,
        "webhook_inbox_events",
        "gauge",
        "Events stored, by provider and status.",
    );
    for (provider, counts) in &figures.events {
        for (status, value) in [("pending", counts.pending), ("processed", counts.processed)] {
            let _ = writeln!(
                out,
                "webhook_inbox_events{{provider=\"{}\",status=\"{status}\"}} {value}",
                provider.as_str()
            );
        }
    }
    family(
        &mut out,
        "webhook_inbox_events_pruned_total",
        "counter",
        "Events removed by retention, by reason.",
    );
    for (reason, count) in &figures.pruned {
        let _ = writeln!(
            out,
            "webhook_inbox_events_pruned_total{{reason=\"{}\"}} {count}",
            reason.as_str()
        );
    }
    family(
        &mut out,
        "webhook_inbox_retention_max_events",
        "gauge",
        "The retention cap on stored events (0: none).",
    );
    let _ = writeln!(
        out,
        "webhook_inbox_retention_max_events {}",
        figures.max_events
    );
    family(
        &mut out,
        "webhook_inbox_forward_deliveries",
        "gauge",
        "Deliveries to each destination, by state.",
    );
    for (name, values) in &figures.forwarding {
        for (state, value) in ["pending", "delivered", "dead"].iter().zip(values) {
            let _ = writeln!(
                out,
                "webhook_inbox_forward_deliveries{{destination=\"{name}\",state=\"{state}\"}} {value}"
            );
        }
    }
    family(
        &mut out,
        "webhook_inbox_forward_destination_disabled",
        "gauge",
        "1 while a destination is disabled for failing (its deliveries wait), else 0.",
    );
    for (name, _) in &figures.forwarding {
        let value = u8::from(figures.disabled.iter().any(|(d, _, _)| d == name));
        let _ = writeln!(
            out,
            "webhook_inbox_forward_destination_disabled{{destination=\"{name}\"}} {value}"
        );
    }
    family(
        &mut out,
        "webhook_inbox_forward_attempts_total",
        "counter",
        "Delivery attempts to each destination, by result.",
    );
    for (name, values) in &figures.attempts {
        for (result, value) in ["delivered", "retry", "dead"].iter().zip(values) {
            let _ = writeln!(
                out,
                "webhook_inbox_forward_attempts_total{{destination=\"{name}\",result=\"{result}\"}} {value}"
            );
        }
    }
    out
}
