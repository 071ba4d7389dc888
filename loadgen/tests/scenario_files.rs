//! The scenario files of `scenarios/` stay valid and documented: each one `loadgen validate`
//! accepts names the published schema for editors, and the published JSON Schema is the one
//! the scenario types give today.

use std::path::{Path, PathBuf};

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// The loadgen scenarios (carrier-sim's and the verifier's own files live there too).
const SCENARIOS: [&str; 6] = [
    "smoke",
    "steady-state",
    "carrier-outage-failover",
    "throttled-carrier",
    "heavy-tail-roaming",
    "landline-voice-fallback",
];

#[test]
fn published_json_schema_is_current() {
    let published = std::fs::read_to_string(scenarios().join("loadgen-scenario.schema.json"))
        .expect("scenarios/loadgen-scenario.schema.json");
    let current =
        serde_json::to_string_pretty(&loadgen::scenario::json_schema()).expect("json") + "\n";
    assert!(
        published == current,
        "the published schema is stale: run \
         `cargo run -p loadgen -- schema > scenarios/loadgen-scenario.schema.json`"
    );
    // It describes the top-level keys of a scenario.
    let schema: serde_json::Value = serde_json::from_str(&published).expect("json");
    for key in [
        "name",
        "network",
        "verifier",
        "target",
        "populations",
        "thresholds",
    ] {
        assert!(schema["properties"].get(key).is_some(), "{key}");
    }
}

#[test]
fn every_scenario_validates_and_names_the_schema() {
    for name in SCENARIOS {
        let path = scenarios().join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).expect("scenario file");
        assert!(
            text.starts_with("#:schema ./loadgen-scenario.schema.json"),
            "{name}: editors find the schema from the first line"
        );
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .arg("validate")
            .arg(&path)
            .output()
            .expect("loadgen validate runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("valid: {name} (")), "{stdout}");
    }
    // The built-in scenario is the smoke file itself.
    assert_eq!(
        loadgen::scenario::SMOKE,
        std::fs::read_to_string(scenarios().join("smoke.toml")).expect("smoke")
    );
}

/// The example in the root README's "Writing a scenario" is a valid scenario.
#[test]
fn the_readme_example_is_valid() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let start = readme.find("name = \"my-scenario\"").expect("the example");
    let end = start + readme[start..].find("```").expect("its end");
    let plan = loadgen::scenario::Plan::parse(Path::new("README.md"), &readme[start..end])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.name, "my-scenario");
    assert_eq!(plan.timeline.len(), 1);
}
