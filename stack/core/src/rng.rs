//! Randomness is injected: one seed in the configuration, one ChaCha20 stream per purpose, so
//! an extra draw for one purpose never reshuffles another (DESIGN.md, "Randomness is
//! injected"). The stack has no other source of randomness.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// What a random stream is for. Each purpose is its own ChaCha20 stream of the stack's seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u64)]
pub enum Purpose {
    /// Keys for the demultiplexing tables' hashers (flooding resistance).
    TableKeys = 1,
    /// Ephemeral port selection (RFC 6056).
    EphemeralPorts = 2,
    /// IPv4 identification values.
    Ipv4Ident = 3,
    /// DHCP transaction ids and retransmission jitter (RFC 2131 §4.1).
    Dhcp = 4,
    /// ARP retransmission jitter and RFC 5227 probe timing.
    Arp = 5,
    /// TCP initial sequence number key (RFC 6528).
    TcpIsn = 6,
}

/// The stack's random streams.
#[derive(Debug, Clone)]
pub struct Rngs {
    seed: u64,
    table_keys: ChaCha20Rng,
    ephemeral_ports: ChaCha20Rng,
    ipv4_ident: ChaCha20Rng,
    dhcp: ChaCha20Rng,
    arp: ChaCha20Rng,
    tcp_isn: ChaCha20Rng,
}

/// One stream of `seed` for `purpose`.
pub fn stream(seed: u64, purpose: Purpose) -> ChaCha20Rng {
    stream_for(seed, purpose, 0)
}

/// The stream of `seed` for `purpose` of one of several owners (`index`: an interface, a
/// connection): streams of different owners never overlap, whatever the seeds.
pub fn stream_for(seed: u64, purpose: Purpose, index: u32) -> ChaCha20Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    // A fixed tag keeps these streams apart from other uses of the same seed.
    key[8..16].copy_from_slice(b"weftcore");
    let mut rng = ChaCha20Rng::from_seed(key);
    rng.set_stream((u64::from(index) << 32) | purpose as u64);
    rng
}

impl Rngs {
    /// All streams of `seed`.
    pub fn new(seed: u64) -> Rngs {
        Rngs {
            seed,
            table_keys: stream(seed, Purpose::TableKeys),
            ephemeral_ports: stream(seed, Purpose::EphemeralPorts),
            ipv4_ident: stream(seed, Purpose::Ipv4Ident),
            dhcp: stream(seed, Purpose::Dhcp),
            arp: stream(seed, Purpose::Arp),
            tcp_isn: stream(seed, Purpose::TcpIsn),
        }
    }
    /// The seed the streams were made from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The stream for `purpose`.
    pub fn get(&mut self, purpose: Purpose) -> &mut ChaCha20Rng {
        match purpose {
            Purpose::TableKeys => &mut self.table_keys,
            Purpose::EphemeralPorts => &mut self.ephemeral_ports,
            Purpose::Ipv4Ident => &mut self.ipv4_ident,
            Purpose::Dhcp => &mut self.dhcp,
            Purpose::Arp => &mut self.arp,
            Purpose::TcpIsn => &mut self.tcp_isn,
        }
    }
    /// A u32 from `purpose`'s stream.
    pub fn u32(&mut self, purpose: Purpose) -> u32 {
        self.get(purpose).next_u32()
    }
    /// A u64 from `purpose`'s stream.
    pub fn u64(&mut self, purpose: Purpose) -> u64 {
        self.get(purpose).next_u64()
    }
    /// A value uniformly in `0..n` (0 when `n == 0`), by rejection so it is unbiased.
    pub fn below(&mut self, purpose: Purpose, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let zone = u32::MAX - (u32::MAX % n);
        loop {
            let v = self.u32(purpose);
            if v < zone {
                return v % n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_streams_are_independent_and_reproducible() {
        let mut a = Rngs::new(7);
        let mut b = Rngs::new(7);
        // An extra draw from one purpose does not shift another.
        let _ = a.u32(Purpose::Dhcp);
        assert_eq!(
            a.u64(Purpose::EphemeralPorts),
            b.u64(Purpose::EphemeralPorts)
        );
        assert_ne!(
            Rngs::new(8).u64(Purpose::Dhcp),
            Rngs::new(7).u64(Purpose::Dhcp)
        );
        assert_ne!(b.u64(Purpose::Dhcp), b.u64(Purpose::Arp));
        for n in [1, 2, 3, 1000] {
            assert!(a.below(Purpose::Arp, n) < n);
        }
    }
}
