//! Parked deliveries: the due pointers of a disabled destination ([`super::circuit`]), kept
//! aside instead of in the due queue, so a destination disabled for days costs nothing per
//! round however much waits for it, and the due queue's walk is never spent on it. Once the
//! destination is enabled again, each dispatch round puts a bounded batch of them back into the
//! current bucket (due now), where they are attempted as any due pointer is.
//!
//! | key | value |
//! |---|---|
//! | `fwd:park:{d}` | counter: pointers parked for `d`, ever (the newest is highest) |
//! | `fwd:park:{d}:{k}` | parked pointer `k` (JSON, as in the due queue) |
//! | `fwd:park:{d}:back` | how many of them, from the first, are back in the due queue (decimal; a hint) |
//! | `fwd:park:{d}:at:{e}:{n}` | attempt `n` of `e` is parked as pointer `k` (decimal), until it is put back |
//!
//! An attempt is parked once as a rule: a round that finds it parked already (a later round over
//! the same new event, or a check and a retry pointer of the same attempt) does not park it
//! again, so [`waiting`] counts deliveries. Two rounds at the same moment (two replicas) can both
//! miss the mark and park it twice, and a round that fails between the pointer and the mark
//! leaves a pointer without a mark: the mark is written after the pointer, never a mark without a
//! pointer, so an extra copy is possible and a lost one is not. A pointer put back twice (two rounds at once, or a round that failed
//! between writing the pointer and the hint) is harmless: attempts are claimed (`fwd:try:...`),
//! so the second copy finds its attempt claimed or finished. Nothing is lost: the hint moves past
//! a pointer only after its copy in the due queue is written.

use super::destinations::DestinationName;
use super::keys;
use super::ledger::{read_decimal, Ledger};
use super::records::{encode, Pointer};
use crate::clock::Clock;
use crate::events::StoreError;
use crate::kv::KeyValue;

/// Parks `pointer` for its destination unless its attempt is parked already; returns its
/// number.
pub(super) fn park<K: KeyValue>(kv: &K, pointer: &Pointer) -> Result<u64, StoreError> {
    let d = &pointer.destination;
    let mark = keys::parked_attempt(d, &pointer.event, pointer.attempt);
    if let Some(k) = kv
        .get(&mark)?
        .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse::<u64>().ok())
    {
        return Ok(k);
    }
    let k = u64::try_from(kv.increment(&keys::parked_count(d), 1)?).unwrap_or_default();
    kv.set(&keys::parked(d, k), &encode(pointer)?)?;
    kv.set(&mark, k.to_string().as_bytes())?;
    Ok(k)
}

/// How many of `d`'s pointers are parked and not back in the due queue yet (two reads): the
/// deliveries waiting for it to be enabled (a first attempt, or a retry that came due).
pub fn waiting<K: KeyValue>(kv: &K, d: &DestinationName) -> Result<u64, StoreError> {
    let parked = u64::try_from(kv.increment(&keys::parked_count(d), 0)?).unwrap_or_default();
    if parked == 0 {
        return Ok(0);
    }
    Ok(parked.saturating_sub(read_decimal(kv, &keys::parked_back(d))?))
}

/// Puts up to `budget` of `d`'s parked pointers back into the due queue, due now (call it only
/// while `d` is enabled). Returns how many it put back.
pub(super) fn put_back<K: KeyValue, C: Clock>(
    kv: &K,
    clock: &C,
    ledger: &Ledger<'_, K, C>,
    d: &DestinationName,
    budget: usize,
) -> Result<usize, StoreError> {
    let parked = u64::try_from(kv.increment(&keys::parked_count(d), 0)?).unwrap_or_default();
    if parked == 0 {
        return Ok(0);
    }
    let back = read_decimal(kv, &keys::parked_back(d))?;
    let mut moved = 0;
    let mut k = back;
    while k < parked && moved < budget {
        k += 1;
        let key = keys::parked(d, k);
        let mut done = vec![key.clone()];
        if let Some(bytes) = kv.get(&key)? {
            match serde_json::from_slice::<Pointer>(&bytes) {
                Ok(mut pointer) => {
                    let now = clock.now();
                    // Due now; a first attempt with no record yet is told apart by this.
                    pointer.not_before = Some(now);
                    let (b, slot) = ledger.slot(now)?;
                    kv.set(&keys::pointer(b, slot), &encode(&pointer)?)?;
                    done.push(keys::parked_attempt(d, &pointer.event, pointer.attempt));
                    moved += 1;
                }
                Err(_) => tracing::error!(k, "corrupt parked forwarding pointer skipped"),
            }
        }
        kv.set(&keys::parked_back(d), k.to_string().as_bytes())?;
        kv.delete_many(&done)?;
    }
    if moved > 0 {
        tracing::info!(
            destination = d.as_str(),
            moved,
            "parked deliveries are due again"
        );
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::events::EventId;
    use crate::forwarding::tuning::Tuning;
    use crate::kv::testing::{FaultyKv, Op};
    use crate::kv::MemoryKv;

    fn pointer(n: u32) -> Pointer {
        Pointer {
            event: EventId::parse("evt_0123456789abcdef0123456789abcdef").unwrap(),
            destination: DestinationName::parse("sink").unwrap(),
            attempt: n,
            not_before: None,
        }
    }

    #[test]
    fn parked_pointers_go_back_in_bounded_batches_each_once() {
        let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(1_800_000_000));
        let ledger = Ledger::new(&kv, &clock, Tuning::default());
        let d = DestinationName::parse("sink").unwrap();
        assert_eq!(put_back(&kv, &clock, &ledger, &d, 10).unwrap(), 0);
        assert_eq!(waiting(&kv, &d).unwrap(), 0);
        for n in 1..=5 {
            assert_eq!(park(&kv, &pointer(n)).unwrap(), u64::from(n));
        }
        // An attempt parked already is not parked again.
        assert_eq!(park(&kv, &pointer(2)).unwrap(), 2);
        assert_eq!(waiting(&kv, &d).unwrap(), 5);
        assert_eq!(put_back(&kv, &clock, &ledger, &d, 3).unwrap(), 3);
        assert_eq!(waiting(&kv, &d).unwrap(), 2);
        assert_eq!(put_back(&kv, &clock, &ledger, &d, 3).unwrap(), 2);
        assert_eq!(put_back(&kv, &clock, &ledger, &d, 3).unwrap(), 0);
        let b = ledger.bucket_of(clock.now());
        let queued: Vec<u32> = (1..=5)
            .map(|k| {
                let bytes = kv.get(&keys::pointer(b, k)).unwrap().unwrap();
                let p: Pointer = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(p.not_before, Some(clock.now()));
                p.attempt
            })
            .collect();
        assert_eq!(queued, [1, 2, 3, 4, 5]);
        assert_eq!(kv.get(&keys::parked(&d, 1)).unwrap(), None, "cleaned up");
        let event = pointer(1).event;
        assert_eq!(kv.get(&keys::parked_attempt(&d, &event, 1)).unwrap(), None);
        // Put back, the same attempt can be parked again (disabled a second time).
        assert_eq!(park(&kv, &pointer(1)).unwrap(), 6);
    }

    #[test]
    fn a_failed_round_loses_nothing() {
        let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(1_800_000_000));
        let ledger = Ledger::new(&kv, &clock, Tuning::default());
        let d = DestinationName::parse("sink").unwrap();
        for n in 1..=2 {
            park(&kv, &pointer(n)).unwrap();
        }
        // The hint cannot be written: the first pointer is queued, then the round fails.
        let faulty = FaultyKv::new(&kv, |op, key, _| op == Op::Set && key.ends_with(":back"));
        let faulty_ledger = Ledger::new(&faulty, &clock, Tuning::default());
        assert!(put_back(&faulty, &clock, &faulty_ledger, &d, 10).is_err());
        // The next round puts both back (the first a second time: harmless, claims decide).
        assert_eq!(put_back(&kv, &clock, &ledger, &d, 10).unwrap(), 2);
        let b = ledger.bucket_of(clock.now());
        assert_eq!(kv.increment(&keys::bucket(b), 0).unwrap(), 3);
    }
}
