//! Turns `CARRIER_TESTBED_SKIP_INTEROP=1` into the `skip_interop` cfg, which marks the interop
//! tests (`tests/interop.rs`) `#[ignore]` with the reason.
//!
//! libtest decides "ignored" at compile time only, and a test that returns early at run time
//! reports "ok": a skip would pass for a run. With the cfg, `cargo test` prints
//! `... ignored, <reason>` and counts the test as ignored; without the variable the tests run,
//! and a missing peer fails them with the install command. The cfg reaches every target of this
//! package (cargo has no per-target cfg), but only the interop tests read it; changing the
//! variable reruns this script and recompiles the package once.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(skip_interop)");
    println!("cargo::rerun-if-env-changed=CARRIER_TESTBED_SKIP_INTEROP");
    match std::env::var("CARRIER_TESTBED_SKIP_INTEROP") {
        Ok(v) if v == "1" => println!("cargo::rustc-cfg=skip_interop"),
        // Anything else runs the tests; say so, rather than let "true" or "yes" look like a skip.
        Ok(v) => println!(
            "cargo::warning=CARRIER_TESTBED_SKIP_INTEROP={v:?} is not \"1\": the interop tests run"
        ),
        Err(_) => {}
    }
}
