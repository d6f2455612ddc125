//! Asking the forwarder for an event's attempts right away: the webhook component after it
//! stored an event, the API after a replay (`POST {forward_dispatch_url}/api/events/{id}/dispatch`),
//! with the first token of `forward_dispatch_token` (the forwarder answers 401 to anyone without
//! it or an API token, whatever is stored: a credential that can only ask for dispatches, so the
//! internet-facing webhook component holds no API token). The forwarder answers at once and sends after its
//! answer. Nothing is lost if asking fails: the dispatch tick finds new events in the index and
//! replays in the due queue.

use crate::config::{names, ConfigError, Variables};
use crate::events::EventId;

/// Asks the forwarder to make an event's due attempts now: its first ones, or a replayed one.
/// Implemented over `wasi:http` by `spin_adapter::SpinPoke`.
pub trait Poke {
    /// Sends the request to `url` with this `Authorization` value (`Bearer <token>`: never
    /// logged, and never in an error).
    fn post(&self, url: &DispatchUrl, path: &str, authorization: &str) -> Result<u16, String>;

    /// Asks for `id`, if `forward_dispatch_url` is set. (Strings pushed rather than formatted:
    /// this runs in the webhook component, whose size budget is tight.)
    fn ask(&self, vars: &dyn Variables, id: &EventId) -> Result<(), String> {
        let Some(url) = DispatchUrl::load(vars).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let tokens = vars
            .get(names::FORWARD_DISPATCH_TOKEN)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        // ASCII whitespace separates tokens (what operators write; `split_whitespace` costs the
        // webhook component more).
        let Some(token) = tokens.split_ascii_whitespace().next() else {
            return Err(
                "no dispatch token to present (forward_dispatch_token is empty)".to_owned(),
            );
        };
        let mut authorization = String::from("Bearer ");
        authorization.push_str(token);
        let mut path = String::from("/api/events/");
        path.push_str(id.as_str());
        path.push_str("/dispatch");
        match self.post(&url, &path, &authorization)? {
            202 => Ok(()),
            status => Err(format!("the forwarder answered {status}")),
        }
    }
}

/// Where the forwarder is: `http://self` (this Spin app), or `http(s)://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchUrl {
    /// `https`.
    pub https: bool,
    /// `host:port`, or `None` for this app itself.
    pub authority: Option<String>,
}

impl DispatchUrl {
    /// The setting, or `None` when it is empty (do not ask).
    pub fn load(vars: &dyn Variables) -> Result<Option<Self>, ConfigError> {
        let raw = vars.get(names::FORWARD_DISPATCH_URL)?.unwrap_or_default();
        let raw = raw.trim().trim_end_matches('/');
        if raw.is_empty() {
            return Ok(None);
        }
        let malformed = |reason: &str| ConfigError::Malformed {
            name: names::FORWARD_DISPATCH_URL.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, authority) = raw
            .split_once("://")
            .ok_or_else(|| malformed("expected http://self or http(s)://host[:port]"))?;
        let https = match scheme {
            "http" => false,
            "https" => true,
            _ => return Err(malformed("the scheme must be http or https")),
        };
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(malformed("expected an origin: no path, query or user info"));
        }
        Ok(Some(Self {
            https,
            authority: (authority != "self").then(|| authority.to_owned()),
        }))
    }
}

/// Asks nothing (as an empty `forward_dispatch_url` does): for natively run services that have
/// no forwarder next to them (the benchmark's baseline).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPoke;

impl Poke for NoPoke {
    fn post(&self, _: &DispatchUrl, _: &str, _: &str) -> Result<u16, String> {
        Ok(202)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StaticVariables;
    use std::sync::Mutex;

    /// Remembers what it was asked to send.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<(String, String)>>);

    impl Poke for Recorded {
        fn post(&self, _: &DispatchUrl, path: &str, authorization: &str) -> Result<u16, String> {
            let mut sent = self.0.lock().map_err(|_| "poisoned".to_owned())?;
            sent.push((path.to_owned(), authorization.to_owned()));
            Ok(202)
        }
    }

    #[test]
    fn the_ask_presents_the_first_dispatch_token_and_without_one_asks_nothing() {
        let id = EventId::parse("evt_0123456789abcdef0123456789abcdef").unwrap();
        let poke = Recorded::default();
        let vars = StaticVariables::from_pairs([
            (names::FORWARD_DISPATCH_URL, "http://self"),
            (names::FORWARD_DISPATCH_TOKEN, "new-token old-token"),
            (names::API_TOKEN, "an-api-token"),
        ]);
        poke.ask(&vars, &id).unwrap();
        assert_eq!(
            poke.0.lock().unwrap().as_slice(),
            [(
                format!("/api/events/{id}/dispatch"),
                "Bearer new-token".to_owned()
            )]
        );
        let no_token = StaticVariables::from_pairs([(names::FORWARD_DISPATCH_URL, "http://self")]);
        let error = poke.ask(&no_token, &id).unwrap_err();
        assert!(error.contains("forward_dispatch_token"), "{error}");
        assert_eq!(
            poke.0.lock().unwrap().len(),
            1,
            "nothing sent without a token"
        );
    }

    #[test]
    fn the_setting_is_an_origin_or_self_or_empty() {
        // `http://self` is a request to this app; empty asks nothing.
        assert_eq!(
            DispatchUrl::load(&StaticVariables::from_pairs([(
                names::FORWARD_DISPATCH_URL,
                "http://self/"
            )]))
            .unwrap(),
            Some(DispatchUrl {
                https: false,
                authority: None
            })
        );
        assert_eq!(
            DispatchUrl::load(&StaticVariables::default()).unwrap(),
            None
        );
        for bad in ["self", "ftp://x", "http://x/path", "http://"] {
            let vars = StaticVariables::from_pairs([(names::FORWARD_DISPATCH_URL, bad)]);
            assert!(DispatchUrl::load(&vars).is_err(), "{bad}");
        }
    }
}
