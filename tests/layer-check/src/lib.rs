//! The layering check both carrier-sim and the verifier run on their own source (in their
//! `tests/layers.rs`): each module may use only modules of its own layer or of the layers below
//! it, and no module may use a module that (directly or through others) uses it back.
//!
//! The check reads the source, the way a reviewer would: every `crate::a::b` path, every
//! `super::` path (resolved against the file's own module) and every path that starts with the
//! name of one of the file's child modules (`calls::router` in `control/mod.rs`) names a module
//! the file depends on. Comments (doc links included) are not uses, and neither is the body of
//! a file's `#[cfg(test)] mod tests`: a test may reach anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules (as path segments) and the modules each uses.
pub type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// The top-level module a file belongs to, and its module path (`smsc::session::state`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    match last.as_str() {
        "mod.rs" | "lib.rs" | "main.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_string()),
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module paths (at most two segments deep: `smsc::carrier`) that a file's code names;
/// `modules` is every module of the crate, to recognise paths relative to this one.
fn dependencies(
    module: &[String],
    text: &str,
    modules: &BTreeSet<Vec<String>>,
) -> BTreeSet<Vec<String>> {
    let children: Vec<&Vec<String>> = modules
        .iter()
        .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
        .collect();
    let mut deps = BTreeSet::new();
    // The body of a `#[cfg(test)] mod tests` may reach anything (through the front door).
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|p| {
                p.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|p| !p.is_empty() && p.chars().next().is_some_and(|c| c.is_lowercase()))
            .collect()
    };
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        for child in &children {
            let name = child.last().map(String::as_str).unwrap_or_default();
            let needle = format!("{name}::");
            let mut rest = line;
            while let Some(i) = rest.find(&needle) {
                let before = rest[..i].chars().next_back();
                // A path of its own, not the tail of `other::name::` or of `my_name::`.
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    deps.insert(child.iter().take(2).cloned().collect());
                }
                rest = &rest[i + needle.len()..];
            }
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let path = ident(&rest[i + "crate::".len()..]);
            if !path.is_empty() {
                deps.insert(path.into_iter().take(2).collect());
            }
            rest = &rest[i + 1..];
        }
        let mut rest = line;
        while let Some(i) = rest.find("super::") {
            // Resolve `super::x` (and `super::super::x`) against this module's path.
            let mut base: Vec<String> = module.to_vec();
            let mut tail = &rest[i..];
            while let Some(t) = tail.strip_prefix("super::") {
                base.pop();
                tail = t;
            }
            let mut path = base;
            path.extend(ident(tail));
            if !path.is_empty() {
                deps.insert(path.into_iter().take(2).collect());
            }
            rest = &rest[i + 1..];
        }
    }
    deps
}

/// The dependency graph of the crate whose source is in `src`: each module (two segments deep:
/// `smsc::carrier`; files below count as their folder module) with the modules it names.
pub fn graph(src: &Path) -> Graph {
    let src = src.to_path_buf();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: Graph = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        if module.is_empty() {
            continue; // lib.rs and main.rs: the crate root re-exports every layer.
        }
        let text = std::fs::read_to_string(&file).expect("read");
        // Nodes are modules two segments deep (`smsc::carrier`): a folder's files below that
        // (`smsc::session::state`) count as their folder module.
        let node: Vec<String> = module.iter().take(2).cloned().collect();
        let deps = dependencies(&module, &text, &modules);
        graph
            .entry(node.clone())
            .or_default()
            .extend(deps.into_iter().filter(|d| *d != node));
    }
    graph
}

/// The uses that go up: `a::b uses c::d` for each module using a module of a higher layer.
/// `layers` lists top-level module names from the bottom up; a module in no layer panics.
pub fn upward_uses(graph: &Graph, layers: &[&[&str]]) -> Vec<String> {
    let layer = |top: &str| {
        layers
            .iter()
            .position(|l| l.contains(&top))
            .unwrap_or_else(|| panic!("module `{top}` is in no layer"))
    };
    let mut wrong = Vec::new();
    for (module, deps) in graph {
        let own = layer(&module[0]);
        for dep in deps {
            if layer(&dep[0]) > own {
                wrong.push(format!("{} uses {}", module.join("::"), dep.join("::")));
            }
        }
    }
    wrong
}

/// The first import loop found (`a -> b -> a`), if any.
pub fn import_loop(graph: &Graph) -> Option<String> {
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        node: &Vec<String>,
        graph: &Graph,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for dep in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(dep, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| {
        visit(node, graph, &mut Vec::new(), &mut done).map(|cycle| {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            names.join(" -> ")
        })
    })
}

/// Panics naming every upward use in the crate whose source is in `src`, and the first import
/// loop; `min_modules` guards against a scan that found nothing (a moved `src`).
pub fn assert_layered(src: &Path, layers: &[&[&str]], min_modules: usize) {
    let graph = graph(src);
    assert!(
        graph.len() >= min_modules,
        "the scan found too few modules: {graph:?}"
    );
    let wrong = upward_uses(&graph, layers);
    assert!(wrong.is_empty(), "upward uses:\n{}", wrong.join("\n"));
    if let Some(cycle) = import_loop(&graph) {
        panic!("import loop: {cycle}");
    }
}
