//! Scenario files: the format ([`types`]), the threshold metrics ([`thresholds`], the abuse
//! ones in [`abuse_metrics`]), and their validation ([`validate`]) into a [`Plan`] ([`plan`]),
//! which is all a run is made from.
//!
//! Like carrier-sim's and the verifier's config files, a scenario is TOML read with
//! `deny_unknown_fields` and humantime durations, and every error names the file, the line and
//! the field (syntax and type errors by toml's span, refused values by locating the field's
//! dotted path with carrier-sim's locator), so `loadgen validate` and `loadgen run` refuse a bad
//! file before anything starts. The carrier part and the verifier part are those tools' own
//! config types, validated by their own rules. [`json_schema`] is derived from the same types.
//! The built-in smoke scenario ([`builtin_smoke`]) is `scenarios/smoke.toml`, compiled in.
//!
//! Layer: the bottom of `loadgen run` (uses only [`crate::threshold`]); every layer above
//! reads the [`Plan`].

pub mod abuse_metrics;
pub mod plan;
pub mod thresholds;
pub mod types;
pub mod validate;

pub use plan::*;
pub use thresholds::RunThreshold;
pub use types::*;

/// The built-in scenario `loadgen run` runs without a file.
pub const SMOKE: &str = include_str!("../../../scenarios/smoke.toml");

/// How the built-in scenario is named in errors and reports.
pub const SMOKE_NAME: &str = "scenarios/smoke.toml (built in)";

/// The JSON Schema of scenario files, for editor completion and validation (published as
/// `scenarios/loadgen-scenario.schema.json`).
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(ScenarioFile);
    serde_json::to_value(&schema).unwrap_or_default()
}
