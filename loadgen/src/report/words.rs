//! Small pieces of text every rendering of the report shares, kept apart from the renderings
//! so that each may use them without using another (the summary uses the abuse section's
//! text, which uses these).
//!
//! Layer: part of `report`.

use std::collections::BTreeMap;

/// Counts by reason, largest first: `overloaded 3, max_attempts 1`.
pub fn reasons(map: &BTreeMap<String, u64>) -> String {
    ranked(map).join(", ")
}

/// Counts by reason, largest first, each as `reason count`.
pub fn ranked(map: &BTreeMap<String, u64>) -> Vec<String> {
    let mut v: Vec<(&String, &u64)> = map.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter().map(|(k, n)| format!("{k} {n}")).collect()
}
