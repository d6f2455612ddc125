//! Sending one attempt over `wasi:http`: the stored body byte for byte with its content type,
//! signed per Standard Webhooks, with one deadline: the dispatcher's
//! `inbox_core::forwarding::Tuning::send_timeout`, handed over with each send.

use std::time::Duration;

use inbox_core::clock::{Clock, SystemClock};
use inbox_core::events::StoredEvent;
use inbox_core::forwarding::dispatch::Sender;
use inbox_core::forwarding::policy::parse_retry_after;
use inbox_core::forwarding::{signing, Answer, Destination};
use inbox_core::time::Timestamp;
use spin_adapter::outbound::{self, Outgoing};

/// Sends through the Spin host.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpinSender;

impl Sender for SpinSender {
    fn send(
        &self,
        destination: &Destination,
        event: &StoredEvent,
        attempt: u32,
        hops: &str,
        timeout: Duration,
    ) -> Answer {
        let now = SystemClock.now();
        match outbound::send(request(destination, event, attempt, hops, timeout, now)) {
            Ok(answered) => Answer::Status {
                code: answered.status,
                retry_after: answered
                    .header("retry-after")
                    .and_then(|value| parse_retry_after(value, now)),
            },
            Err(reason) => Answer::Failed(reason),
        }
    }
}

/// The request for one attempt, signed at `now`, to be answered within `timeout`.
fn request<'a>(
    destination: &'a Destination,
    event: &'a StoredEvent,
    attempt: u32,
    hops: &str,
    timeout: Duration,
    now: Timestamp,
) -> Outgoing<'a> {
    let url = &destination.url;
    let headers = signing::headers(&destination.keys, event, attempt, hops, now)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    Outgoing {
        method: "POST",
        https: url.scheme == "https",
        authority: Some(format!("{}:{}", url.host, url.port)),
        path_and_query: &url.path_and_query,
        headers,
        body: event.body.raw_body.as_bytes(),
        timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inbox_core::clock::ManualClock;
    use inbox_core::events::{EventStore, Ingested, NewEvent, Provider};
    use inbox_core::forwarding::{destinations, Tuning};
    use inbox_core::kv::MemoryKv;

    #[test]
    fn the_request_carries_the_timeout_it_is_given_not_the_default() {
        let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(1_800_000_000));
        let store = EventStore::new(&kv, &clock);
        let Ingested::Accepted(meta) = store
            .ingest(NewEvent::example(Provider::Github, "d-1", "push"))
            .unwrap()
        else {
            panic!("not accepted");
        };
        let event = store.get(&meta.id).unwrap().unwrap();
        let targets = destinations::parse(
            r#"[{"name":"sink","url":"https://sink.example.com:8443/in?x=1","secret":"whsec_Zm9yd2FyZGluZy10ZXN0LWtleQ=="}]"#,
        )
        .unwrap();
        let timeout = Duration::from_millis(2_500);
        assert_ne!(timeout, Tuning::default().send_timeout);

        let request = request(
            &targets[0],
            &event,
            3,
            "0123456789abcdef",
            timeout,
            clock.now(),
        );
        assert_eq!(request.timeout, timeout);
        assert_eq!(request.method, "POST");
        assert!(request.https);
        assert_eq!(request.authority.as_deref(), Some("sink.example.com:8443"));
        assert_eq!(request.path_and_query, "/in?x=1");
        assert_eq!(request.body, event.body.raw_body.as_bytes());
        assert!(request
            .headers
            .iter()
            .any(|(name, _)| name == "webhook-signature"));
        assert!(request
            .headers
            .iter()
            .any(|(name, value)| name == signing::HOPS_HEADER && value == "0123456789abcdef"));
    }
}
