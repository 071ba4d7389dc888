//! Turns `CARRIER_TESTBED_SKIP_BROWSER=1` into the `skip_browser` cfg, which marks the HTML
//! report's browser test (`tests/html_report.rs`) `#[ignore]` with the reason: the same way
//! `simulator/build.rs` turns `CARRIER_TESTBED_SKIP_INTEROP=1` into `skip_interop`.
//!
//! libtest decides "ignored" at compile time only, and a test that returns early at run time
//! reports "ok": a skip would pass for a run. With the cfg, `cargo test` prints
//! `... ignored, <reason>`; without the variable the test runs, and a missing chromium fails it
//! with the install command. `scripts/test.sh` and `.ci/run` refuse the variable.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(skip_browser)");
    println!("cargo::rerun-if-env-changed=CARRIER_TESTBED_SKIP_BROWSER");
    match std::env::var("CARRIER_TESTBED_SKIP_BROWSER") {
        Ok(v) if v == "1" => println!("cargo::rustc-cfg=skip_browser"),
        // Anything else runs the test; say so, rather than let "true" or "yes" look like a skip.
        Ok(v) => println!(
            "cargo::warning=CARRIER_TESTBED_SKIP_BROWSER={v:?} is not \"1\": the browser test runs"
        ),
        Err(_) => {}
    }
}
