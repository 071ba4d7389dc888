//! The simulator's layers stay layered: each module may use only modules of its own layer or
//! of the layers below it, and no module uses a module that (directly or through others) uses
//! it back. The scan (what counts as a use) is the `layer-check` crate's, shared with the
//! other crates that are built in layers.

use std::path::Path;

/// Layers from the bottom up; a module may use its own layer and those before it.
const LAYERS: &[&[&str]] = &[
    &["fasthash"],
    &["handsets"],
    &["world"],
    &["config"],
    &["smsc"],
    &["control"],
    &["app"],
    &["cli"],
];

fn graph() -> layer_check::Graph {
    let graph = layer_check::graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 20, "the scan found the modules: {graph:?}");
    graph
}

#[test]
fn every_module_uses_only_its_own_layer_and_those_below() {
    let wrong = layer_check::upward_uses(&graph(), LAYERS);
    assert!(wrong.is_empty(), "upward uses:\n{}", wrong.join("\n"));
}

#[test]
fn no_module_uses_a_module_that_uses_it_back() {
    if let Some(cycle) = layer_check::import_loop(&graph()) {
        panic!("import loop: {cycle}");
    }
}
