//! Demultiplexing tables: hash maps keyed from the seed (SipHash-1-3 with a 128-bit key from
//! the `TableKeys` stream), so a peer cannot choose keys that collide, and so two runs with
//! the same seed hash identically. Behaviour never depends on their iteration order: code
//! that must visit entries keeps its own ordered index (a `BTreeMap`/`BTreeSet`).

use core::hash::BuildHasher;
use siphasher::sip::SipHasher13;

/// A SipHash-1-3 hasher builder with a fixed 128-bit key.
#[derive(Debug, Clone, Copy)]
pub struct SeededState {
    k0: u64,
    k1: u64,
}

impl SeededState {
    /// A builder with key (`k0`, `k1`).
    pub fn new(k0: u64, k1: u64) -> Self {
        SeededState { k0, k1 }
    }
}

impl BuildHasher for SeededState {
    type Hasher = SipHasher13;
    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.k0, self.k1)
    }
}

/// A hash map for lookups only: seeded, never iterated for behaviour.
pub type Table<K, V> = hashbrown::HashMap<K, V, SeededState>;

/// An empty table with the given key.
pub fn table<K, V>(state: SeededState) -> Table<K, V> {
    hashbrown::HashMap::with_hasher(state)
}
