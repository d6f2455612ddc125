//! Stored events to wire types. The store's format and the API's are separate on purpose: the
//! storage layout can change without breaking clients, and the other way round.

use api_contract::{Counts, EventDetail, EventSummary, Payload, Stats};
use shared::events::{EventMeta, EventStatus, Provider, StoredEvent};

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

/// Counters to the wire format.
pub fn stats(counts: &std::collections::BTreeMap<Provider, shared::events::Counts>) -> Stats {
    let mut stats = Stats::default();
    for (provider, counts) in counts {
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
    stats
}
