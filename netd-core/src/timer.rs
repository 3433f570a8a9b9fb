//! One keyed set of deadlines, used for every timer the stack keeps:
//! socket timers, SYN-ACK retransmissions, TIME-WAIT buckets and IP
//! reassembly. Each key has at most one deadline; setting it again moves
//! it, so nothing stale is left to fire (Linux's `mod_timer()` semantics).

use crate::time::Instant;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

#[derive(Clone, Debug)]
pub struct DeadlineSet<K> {
    by_time: BTreeSet<(Instant, K)>,
    by_key: HashMap<K, Instant>,
}

impl<K> Default for DeadlineSet<K> {
    fn default() -> Self {
        DeadlineSet {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<K: Copy + Ord + Hash> DeadlineSet<K> {
    /// Arm `key` at `at`, or disarm it with `None`; a no-op when unchanged.
    pub fn set(&mut self, key: K, at: Option<Instant>) {
        let old = self.by_key.get(&key).copied();
        if old == at {
            return;
        }
        if let Some(old) = old {
            self.by_time.remove(&(old, key));
        }
        match at {
            Some(t) => {
                self.by_time.insert((t, key));
                self.by_key.insert(key, t);
            }
            None => {
                self.by_key.remove(&key);
            }
        }
    }

    pub fn remove(&mut self, key: K) {
        self.set(key, None);
    }

    /// The deadline `key` is armed at.
    pub fn get(&self, key: K) -> Option<Instant> {
        self.by_key.get(&key).copied()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Disarm and return the earliest key due at `now`; earlier deadlines
    /// first, ties in key order.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(t, key) = self.by_time.first()?;
        if t > now {
            return None;
        }
        self.by_time.pop_first();
        self.by_key.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn clear(&mut self) {
        self.by_time.clear();
        self.by_key.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn setting_a_key_again_moves_its_deadline() {
        let mut d = DeadlineSet::default();
        d.set(1u32, Some(at(10)));
        d.set(2, Some(at(20)));
        d.set(1, Some(at(30)));
        assert_eq!(d.next_deadline(), Some(at(20)));
        assert_eq!(d.pop_due(at(25)), Some(2));
        assert_eq!(
            d.pop_due(at(25)),
            None,
            "1 moved to 30 ms: nothing stale fires"
        );
        assert_eq!(d.pop_due(at(30)), Some(1));
        assert!(d.is_empty());
    }

    #[test]
    fn due_keys_come_out_earliest_first_then_by_key() {
        let mut d = DeadlineSet::default();
        d.set(3u32, Some(at(5)));
        d.set(1, Some(at(5)));
        d.set(2, Some(at(1)));
        d.set(4, Some(at(9)));
        d.remove(4);
        let order: Vec<u32> = std::iter::from_fn(|| d.pop_due(at(100))).collect();
        assert_eq!(order, [2, 1, 3]);
    }
}
