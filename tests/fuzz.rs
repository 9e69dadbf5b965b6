//! A seeded sample of the guest fuzzer (`cargo xtask fuzz` runs long ones):
//! random code from random states in every mode must never panic ironpc
//! nor leave the CPU in a state hardware cannot be in.

use ironpc::cpu::{fuzz::run_case, testing::Rng};

/// Cases and instructions per case of the CI sample.
const CASES: u64 = 12_000;
const BUDGET: u64 = 2000;

#[test]
fn random_guests_never_break_the_emulator() {
    let seed = std::env::var("IRONPC_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x1badb002);
    println!("fuzz seed {seed} (set IRONPC_FUZZ_SEED to change)");
    let mut rng = Rng::new(seed);
    let mut instructions = 0;
    for _ in 0..CASES {
        let case = rng.next_u64();
        match std::panic::catch_unwind(|| run_case(case, BUDGET)) {
            Ok(Ok(o)) => instructions += o.instructions,
            Ok(Err(e)) => panic!("invariant broken: {e}"),
            Err(_) => panic!("ironpc panicked on fuzz case {case:#x}"),
        }
    }
    println!("fuzz: {CASES} cases, {instructions} instructions and events");
    assert!(instructions > CASES, "the cases ran nothing");
}
