//! The in-process backend: answers by key, evicted least recently used first once
//! their sizes add up past a bound in bytes, and dropped when their time is up.
//!
//! One mutex over a hash map and an ordered map of use ticks: a lookup is a hash
//! probe and two ordered-map operations, well inside the cache's latency budget, and
//! no crate is needed for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::Key;
use super::Stored;

/// An LRU of answers bounded in bytes.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    inner: Mutex<Inner>,
    max_bytes: u64,
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<Key, Slot>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, Key>,
    next_tick: u64,
    bytes: u64,
}

#[derive(Debug)]
struct Slot {
    value: Arc<Stored>,
    bytes: u64,
    expires: Instant,
    tick: u64,
}

impl MemoryStore {
    /// A store holding at most `max_bytes` of answers.
    pub(crate) fn new(max_bytes: u64) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            max_bytes,
        }
    }

    /// The answer under `key`, if there and not expired at `now`; marks it used.
    pub(crate) fn get(&self, key: &Key, now: Instant) -> Option<Arc<Stored>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Inner {
            slots,
            order,
            next_tick,
            bytes,
        } = &mut *inner;
        let slot = slots.get_mut(key)?;
        if slot.expires <= now {
            order.remove(&slot.tick);
            *bytes -= slot.bytes;
            slots.remove(key);
            return None;
        }
        order.remove(&slot.tick);
        slot.tick = *next_tick;
        *next_tick += 1;
        order.insert(slot.tick, *key);
        Some(slot.value.clone())
    }

    /// Keeps `value` (`bytes` large) under `key` for `ttl`, evicting the least
    /// recently used answers until everything fits. An answer larger than the whole
    /// store is not kept (`false`).
    pub(crate) fn put(&self, key: Key, value: Arc<Stored>, bytes: u64, ttl: Duration) -> bool {
        if bytes > self.max_bytes {
            return false;
        }
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.remove(&key);
        while inner.bytes + bytes > self.max_bytes {
            let Some((_, oldest)) = inner.order.pop_first() else {
                break;
            };
            if let Some(slot) = inner.slots.remove(&oldest) {
                inner.bytes -= slot.bytes;
            }
        }
        let tick = inner.next_tick;
        inner.next_tick += 1;
        inner.order.insert(tick, key);
        inner.bytes += bytes;
        inner.slots.insert(
            key,
            Slot {
                value,
                bytes,
                expires: now + ttl,
                tick,
            },
        );
        true
    }

    /// Answers held and their bytes.
    pub(crate) fn size(&self) -> (usize, u64) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (inner.slots.len(), inner.bytes)
    }
}

impl Inner {
    fn remove(&mut self, key: &Key) {
        if let Some(slot) = self.slots.remove(key) {
            self.order.remove(&slot.tick);
            self.bytes -= slot.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> Key {
        Key([i; 32])
    }

    fn value() -> Arc<Stored> {
        Arc::new(Stored::default())
    }

    #[test]
    fn the_least_recently_used_answer_goes_first_when_bytes_run_out() {
        let store = MemoryStore::new(300);
        let ttl = Duration::from_secs(60);
        for i in 0..3 {
            store.put(key(i), value(), 100, ttl);
        }
        // 0 is used, so 1 is now the oldest.
        assert!(store.get(&key(0), Instant::now()).is_some());
        store.put(key(3), value(), 100, ttl);
        let now = Instant::now();
        assert!(store.get(&key(1), now).is_none());
        for i in [0, 2, 3] {
            assert!(store.get(&key(i), now).is_some(), "{i}");
        }
        assert_eq!(store.size(), (3, 300));
        // Too large for the whole store: not kept, nothing evicted.
        store.put(key(9), value(), 301, ttl);
        assert_eq!(store.size(), (3, 300));
        // Replacing a key counts its bytes once.
        store.put(key(0), value(), 50, ttl);
        assert_eq!(store.size(), (3, 250));
    }

    #[test]
    fn an_expired_answer_is_a_miss_and_frees_its_bytes() {
        let store = MemoryStore::new(1000);
        store.put(key(1), value(), 10, Duration::from_millis(5));
        let later = Instant::now() + Duration::from_millis(10);
        assert!(store.get(&key(1), later).is_none());
        assert_eq!(store.size(), (0, 0));
    }
}
