//! The forwarder's settings: destinations, the retry schedule, and what the manifest lets it
//! reach. Readiness checks all three, so a destination Spin would refuse, or one that is
//! obviously this app's own webhook route, is reported by name before anything is sent to it.

use inbox_core::config::{ConfigError, Variables};
use inbox_core::forwarding::allowed::{self, AllowedHost};
use inbox_core::forwarding::policy::{self, Schedule};
use inbox_core::forwarding::{destinations, Destination};

/// What forwarding is configured to do.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The destinations (none: forwarding is off).
    pub destinations: Vec<Destination>,
    /// The waits between attempts.
    pub schedule: Schedule,
}

impl Settings {
    /// Reads and checks every forwarding variable: destinations parse, the schedule parses,
    /// every slot is a host pattern, and every destination is reachable under
    /// `allowed_outbound_hosts` (the literal loopback entries and the slots).
    pub fn load(vars: &dyn Variables) -> Result<Self, ConfigError> {
        let destinations =
            destinations::parse(&vars.get(destinations::VARIABLE)?.unwrap_or_default())?;
        let schedule = match vars.get(policy::SCHEDULE_VARIABLE)? {
            Some(text) if !text.trim().is_empty() => Schedule::parse(&text)?,
            _ => Schedule::default(),
        };
        let mut patterns: Vec<AllowedHost> = allowed::LITERAL
            .iter()
            .filter_map(|literal| AllowedHost::parse(literal).ok())
            .collect();
        for slot in allowed::SLOT_VARIABLES {
            let value = vars
                .get(slot)?
                .unwrap_or_else(|| allowed::UNUSED_SLOT.to_owned());
            let value = if value.trim().is_empty() {
                allowed::UNUSED_SLOT.to_owned()
            } else {
                value
            };
            patterns.push(
                AllowedHost::parse(&value).map_err(|reason| ConfigError::Malformed {
                    name: slot.to_owned(),
                    reason,
                })?,
            );
        }
        // Obviously this app itself: it would store each event again and forward it again.
        if let Some(own) = destinations.iter().find(|d| d.url.is_own_webhook_route()) {
            return Err(ConfigError::Malformed {
                name: destinations::VARIABLE.to_owned(),
                reason: format!(
                    "destination {} is this app's own webhook route (a loopback host and a \
                     /webhooks/ path): every event forwarded there would be stored again and \
                     forwarded again (a loop); point it at another service",
                    own.name
                ),
            });
        }
        if let Some(refused) = destinations
            .iter()
            .find(|d| !allowed::allowed(&patterns, &d.url))
        {
            return Err(ConfigError::Malformed {
                name: destinations::VARIABLE.to_owned(),
                reason: format!(
                    "destination {} is not in the forwarder's allowed_outbound_hosts: put its \
                     origin ({}://<host>:{}) in one of {}",
                    refused.name,
                    refused.url.scheme,
                    refused.url.port,
                    allowed::SLOT_VARIABLES.join(", ")
                ),
            });
        }
        Ok(Self {
            destinations,
            schedule,
        })
    }
}
