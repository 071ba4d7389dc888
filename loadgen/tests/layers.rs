//! loadgen's layers stay layered: each module uses only modules of its own layer or of the
//! layers below it, and none uses a module that (directly or through others) uses it back.
//! The scan (what counts as a use) is the `layer-check` crate's.
//!
//! `loadgen run` is built as `scenario` < `users` < `measure` < `target` < `report` < `run`;
//! `loadgen smpp` is a layer of its own over the shared grammar and /proc readings.

/// Layers from the bottom up; a module may use its own layer and those before it.
const LAYERS: &[&[&str]] = &[
    &["proc", "threshold"],
    &["scenario"],
    &["users"],
    &["measure"],
    &["target"],
    &["report"],
    &["smpp"],
    &["run"],
    &["cli"],
];

#[test]
fn modules_use_only_lower_layers_and_never_loop() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    layer_check::assert_layered(&src, LAYERS, 25);
}
