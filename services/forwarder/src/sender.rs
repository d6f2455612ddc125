//! Sending one attempt over `wasi:http`: the stored body byte for byte with its content type,
//! signed per Standard Webhooks, with one deadline (`inbox_core::forwarding::Tuning::send_timeout`).

use inbox_core::clock::{Clock, SystemClock};
use inbox_core::events::StoredEvent;
use inbox_core::forwarding::dispatch::Sender;
use inbox_core::forwarding::policy::parse_retry_after;
use inbox_core::forwarding::{signing, Answer, Destination, Tuning};
use spin_adapter::outbound::{self, Outgoing};

/// Sends through the Spin host.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpinSender;

impl Sender for SpinSender {
    fn send(&self, destination: &Destination, event: &StoredEvent, attempt: u32) -> Answer {
        let now = SystemClock.now();
        let url = &destination.url;
        let headers = signing::headers(&destination.key, event, attempt, now)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let request = Outgoing {
            method: "POST",
            https: url.scheme == "https",
            authority: Some(format!("{}:{}", url.host, url.port)),
            path_and_query: &url.path_and_query,
            headers,
            body: event.body.raw_body.as_bytes(),
            timeout: Tuning::default().send_timeout,
        };
        match outbound::send(request) {
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
