//! The random numbers of the fuzz tests of the devices and of the board
//! that wires them: xorshift64 from a fixed default seed, or from the one
//! an environment variable gives, printed either way, so that every run of
//! the suite is the same and a failure found with another seed can be
//! replayed. (A test helper: not part of the crate's interface.)

/// The generator for the test that names `var` (e.g. `IDE_FUZZ_SEED`).
pub fn seeded(var: &str, default: u64) -> impl FnMut() -> u64 {
    let seed = std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    println!("{var}={seed}");
    // Xorshift never leaves zero.
    let mut x: u64 = seed.max(1);
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
