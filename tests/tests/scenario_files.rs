//! Every file in scenarios/ must load: the examples QA copies from cannot be allowed to rot.
//! And `carrier-sim validate` must refuse a bad file with the file, line and field named.

use std::path::Path;

#[test]
fn every_carrier_example_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("toml") {
            simulator::config::SimConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(
        checked >= 1,
        "no example carrier configs found in {}",
        dir.display()
    );
}

#[test]
fn bad_file_names_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("carrier-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[carriers.x]\n\n[carriers.x.session]\nbind_timeout = \"soon\"\n",
    )
    .unwrap();
    let err = simulator::config::SimConfig::load(&path)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&format!("{}:4:", path.display())), "{err}");
    assert!(err.contains("field `bind_timeout`"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
