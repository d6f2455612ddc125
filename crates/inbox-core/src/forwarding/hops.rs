//! Loop protection: a forwarded request names the installations it passed through, and an
//! installation refuses a delivery that names itself.
//!
//! A destination that is this app's own webhook route (directly, or behind a proxy or a public
//! host name that resolves back here) would store each forwarded event as a new one and forward
//! that again: one event became 119 in 8 s (issue 25). So:
//!
//! - Each installation (every replica and component sharing one key-value store) has an
//!   [`Installation`] id, kept in the store under [`KEY`], created on first use by the forwarder.
//! - Every forwarded request carries [`HOPS_HEADER`]: the ids of the installations the event went
//!   through, oldest first, ending with this one (the incoming list is kept with the event, as a
//!   header the webhook component stores).
//! - The webhook component refuses a delivery whose list names its own installation, or lists
//!   [`MAX_HOPS`] or more, with `508 loop-detected`, after verifying its signature and before
//!   storing anything. A delivery from another webhook-inbox installation is stored as usual.
//!
//! **Why `increment`.** The id must be written once and read the same by every replica, and
//! Spin's key-value compare-and-swap cannot do "create if absent" (docs/dedup.md). The id is the
//! value of a counter: read with `increment(KEY, 0)`; if that is 0, a random amount (below 2^58)
//! is added. Concurrent first uses each add theirs and the counter settles on their sum, which
//! every later read returns; a send made in that instant may carry a partial sum, which costs at
//! most one more hop before the loop is refused (and [`MAX_HOPS`] bounds any chain).

use crate::events::StoreError;
use crate::kv::KeyValue;

/// The header a forwarded request names its installations in.
pub const HOPS_HEADER: &str = "webhook-inbox-hops";
/// A delivery that lists this many installations (or more) is refused as a loop.
pub const MAX_HOPS: usize = 8;
/// The key-value counter that holds this installation's id.
pub const KEY: &str = super::keys::INSTALLATION;

/// One installation: every component and replica over one key-value store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Installation(u64);

impl std::fmt::Display for Installation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Installation {
    /// An id as the header writes it (16 lower-case hex digits, not zero).
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 16 {
            return None;
        }
        // By hand: `from_str_radix` costs the webhook component 400 bytes.
        let id = text.bytes().try_fold(0_u64, |id, b| {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return None,
            };
            Some(id << 4 | u64::from(digit))
        })?;
        (id != 0).then_some(Self(id))
    }

    /// This installation's id, if the forwarder ever made one (one `increment` by 0). Without
    /// one, nothing was ever forwarded from here, so no delivery can carry it.
    pub fn load(kv: &impl KeyValue) -> Result<Option<Self>, StoreError> {
        let value = kv.increment(KEY, 0)?;
        Ok(u64::try_from(value).ok().filter(|v| *v != 0).map(Self))
    }

    /// This installation's id, made on first use (see the module's notes on concurrent first
    /// uses).
    pub fn load_or_create(kv: &impl KeyValue) -> Result<Self, StoreError> {
        if let Some(id) = Self::load(kv)? {
            return Ok(id);
        }
        let mut bytes = [0_u8; 8];
        // Without randomness every installation would add the same amount: refuse rather than
        // risk two installations taking each other for themselves.
        getrandom::fill(&mut bytes).map_err(|error| StoreError::Corrupt {
            key: KEY.to_owned(),
            reason: format!("no randomness for a new installation id: {error}"),
        })?;
        let amount = (u64::from_le_bytes(bytes) >> 6).max(1);
        let added = kv.increment(KEY, i64::try_from(amount).unwrap_or(1))?;
        u64::try_from(added)
            .ok()
            .filter(|v| *v != 0)
            .map(Self)
            .ok_or_else(|| StoreError::Corrupt {
                key: KEY.to_owned(),
                reason: "the installation id counter is not positive".to_owned(),
            })
    }
}

/// Why a delivery is refused as a loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoopError {
    /// It was forwarded by this installation.
    #[error(
        "this delivery was forwarded by this installation (header {HOPS_HEADER}): a forwarding \
         destination points back at this app's webhook route; it was not stored"
    )]
    Own,
    /// It went through too many installations.
    #[error(
        "this delivery went through {0} webhook-inbox installations (header {HOPS_HEADER}, at \
         most {MAX_HOPS} - 1 are accepted): a forwarding loop; it was not stored"
    )]
    TooManyHops(usize),
}

impl LoopError {
    /// What a refusal says: static text (the webhook component's size budget has no room for
    /// formatting it).
    pub fn detail(&self) -> &'static str {
        match self {
            Self::Own => "forwarded by this installation (webhook-inbox-hops): a loop; not stored",
            Self::TooManyHops(_) => {
                "through 8 or more installations (webhook-inbox-hops): a loop; not stored"
            }
        }
    }
}

/// The field a refusal names.
pub const HOPS_FIELD: &str = "header:webhook-inbox-hops";

/// The installations an incoming [`HOPS_HEADER`] names (entries that are not ids are ignored).
pub fn parse(header: &str) -> Vec<Installation> {
    header
        .split(',')
        .filter_map(|entry| Installation::parse(entry.trim()))
        .collect()
}

/// Checks an incoming [`HOPS_HEADER`] against this installation (`None`: it has no id yet).
pub fn check(header: &str, me: Option<Installation>) -> Result<(), LoopError> {
    // No list: a `Vec` here costs the webhook component several hundred bytes.
    let mut count = 0;
    for hop in header
        .split(',')
        .filter_map(|entry| Installation::parse(entry.trim()))
    {
        if Some(hop) == me {
            return Err(LoopError::Own);
        }
        count += 1;
    }
    if count >= MAX_HOPS {
        return Err(LoopError::TooManyHops(count));
    }
    Ok(())
}

/// The [`HOPS_HEADER`] of a request forwarded by `me`: the event's incoming list (if it came
/// from another installation), then `me`; at most [`MAX_HOPS`] entries, the newest kept.
pub fn outgoing(incoming: Option<&str>, me: Installation) -> String {
    let mut hops: Vec<Installation> = incoming.map(parse).unwrap_or_default();
    hops.retain(|hop| *hop != me);
    hops.push(me);
    let skip = hops.len().saturating_sub(MAX_HOPS);
    hops.iter()
        .skip(skip)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    #[test]
    fn the_id_is_made_once_and_read_the_same_afterwards() {
        let kv = MemoryKv::new();
        assert_eq!(Installation::load(&kv).unwrap(), None);
        let made = Installation::load_or_create(&kv).unwrap();
        assert_eq!(Installation::load(&kv).unwrap(), Some(made));
        assert_eq!(Installation::load_or_create(&kv).unwrap(), made);
        assert_eq!(Installation::parse(&made.to_string()), Some(made));
        // Another store is another installation.
        let other = Installation::load_or_create(&MemoryKv::new()).unwrap();
        assert_ne!(other, made);
    }

    #[test]
    fn concurrent_first_uses_settle_on_one_id() {
        let kv = MemoryKv::new();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| Installation::load_or_create(&kv).unwrap());
            }
        });
        let settled = Installation::load(&kv).unwrap().unwrap();
        for _ in 0..3 {
            assert_eq!(Installation::load_or_create(&kv).unwrap(), settled);
        }
    }

    #[test]
    fn a_delivery_naming_this_installation_or_too_many_is_a_loop() {
        let me = Installation(0x0123_4567_89ab_cdef);
        let other = Installation(0x0fed_cba9_8765_4321);
        assert_eq!(check(&outgoing(None, me), Some(me)), Err(LoopError::Own));
        // Another installation's delivery is fine, and so is one when this has no id yet.
        assert_eq!(check(&outgoing(None, other), Some(me)), Ok(()));
        assert_eq!(check(&outgoing(None, other), None), Ok(()));
        // Through another installation and back: still ours.
        let back = outgoing(Some(&outgoing(None, me)), other);
        assert_eq!(back, format!("{me},{other}"));
        assert_eq!(check(&back, Some(me)), Err(LoopError::Own));
        // Garbage is ignored, not trusted.
        assert_eq!(check("x, ,0000000000000000,ZZ", Some(me)), Ok(()));
        let many: Vec<String> = (1..=MAX_HOPS as u64)
            .map(|n| Installation(n).to_string())
            .collect();
        assert_eq!(
            check(&many.join(","), Some(me)),
            Err(LoopError::TooManyHops(MAX_HOPS))
        );
        assert_eq!(check(&many[1..].join(","), Some(me)), Ok(()));
    }

    #[test]
    fn the_static_texts_say_what_the_constants_do() {
        assert_eq!(HOPS_FIELD, format!("header:{HOPS_HEADER}"));
        assert!(LoopError::Own.detail().contains(HOPS_HEADER));
        let many = LoopError::TooManyHops(MAX_HOPS);
        assert!(many.detail().contains(&format!("{MAX_HOPS} or more")));
        assert!(many.detail().contains(HOPS_HEADER));
    }

    #[test]
    fn the_outgoing_list_ends_with_this_installation_and_is_bounded() {
        let me = Installation(42);
        let long: Vec<String> = (100..120_u64)
            .map(|n| Installation(n).to_string())
            .collect();
        let out = outgoing(Some(&long.join(",")), me);
        let hops = parse(&out);
        assert_eq!(hops.len(), MAX_HOPS);
        assert_eq!(hops.last(), Some(&me));
        assert_eq!(outgoing(Some("not a list"), me), me.to_string());
    }
}
