//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[cfg(all(feature = "tap", target_os = "linux"))]
pub mod netns;

/// The seed for a randomised test: `WEFT_NET_SEED` (decimal or 0x hex) if set, else
/// `default`; printed so a failure can be replayed.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("WEFT_NET_SEED")
        .ok()
        .and_then(|s| {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            }
        })
        .unwrap_or(default);
    println!("seed {seed} (WEFT_NET_SEED={seed:#x} replays it)");
    seed
}
