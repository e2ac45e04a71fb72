//! Cross-crate integration tests live in `tests/`; this library holds what they share.

/// A test's seed: the environment variable `var` (decimal or `0x` hex) when set, so a
/// printed seed reproduces a run, else `default`.
pub fn seed_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            }
        })
        .unwrap_or(default)
}
