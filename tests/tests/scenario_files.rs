//! Every file in scenarios/ must load: the examples QA copies from cannot be allowed to rot.
//! And `carrier-sim validate` must refuse a bad file with the file, line and field named.

use std::path::Path;

#[test]
fn every_carrier_example_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
        let path = entry.expect("dir entry").path();
        // verifier*.toml are the verifier's configs, checked by verifier/tests/config_files.rs;
        // loadgen's scenarios (those whose `#:schema` line names loadgen's schema) are checked
        // by loadgen/tests/scenarios.rs.
        let verifier = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("verifier"));
        let loadgen = std::fs::read_to_string(&path)
            .is_ok_and(|t| t.starts_with("#:schema ./loadgen-scenario.schema.json"));
        if path.extension().and_then(|e| e.to_str()) == Some("toml") && !verifier && !loadgen {
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
    assert!(
        err.contains("field `carriers.x.session.bind_timeout`"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn published_json_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/carrier-sim.schema.json");
    let published = std::fs::read_to_string(&path).expect("scenarios/carrier-sim.schema.json");
    let current = serde_json::to_string_pretty(&simulator::config::json_schema()).unwrap() + "\n";
    assert!(
        published == current,
        "the published schema is stale: run `cargo run -p simulator -- schema > scenarios/carrier-sim.schema.json`"
    );
}

/// Each kind of refusal the carrier-behaviour issue names, as `carrier-sim validate` reports it.
#[test]
fn validation_refuses_with_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("carrier-refusals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "unknown key",
            "[carriers.a]\n[carriers.a.behaviour]\nlos = 0.1\n",
            ":3:",
            "unknown field `los`",
        ),
        (
            "overlapping equal-length ranges",
            "[carriers.a]\n[[ranges]]\nprefix = \"4477\"\ncarrier = \"a\"\n\n[[ranges]]\nprefix = \"4477\"\n",
            ":7: ranges[1].prefix:",
            "same prefix",
        ),
        (
            "probabilities that do not sum to 1",
            "[carriers.a.behaviour]\noutcomes = [\n  { stat = \"DELIVRD\", probability = 0.6 },\n  { stat = \"UNDELIV\", probability = 0.3 },\n]\n",
            ":2: carriers.a.behaviour.outcomes:",
            "sum to 0.9",
        ),
        (
            "impossible durations",
            "[carriers.a.behaviour]\nhandset_latency = { kind = \"uniform\", min = \"5s\", max = \"1s\" }\n",
            ":2: carriers.a.behaviour.handset_latency:",
            "",
        ),
        (
            "timeline naming a carrier that does not exist",
            "[carriers.a]\n[[timeline]]\nat = \"1m\"\ncarrier = \"b\"\noutage = \"10s\"\n",
            ":4: timeline[0].carrier:",
            "no carrier named `b`",
        ),
        (
            "a file of numbers with a bad line",
            "[carriers.a]\n[[ranges]]\nfile = \"numbers.txt\"\ncarrier = \"a\"\n",
            "numbers.txt:2:",
            "",
        ),
    ];
    std::fs::write(dir.join("numbers.txt"), "447700900001\n4477x\n").unwrap();
    for (what, text, location, message) in cases {
        let path = dir.join("case.toml");
        std::fs::write(&path, text).unwrap();
        let err = simulator::config::SimConfig::load(&path)
            .map(|_| ())
            .expect_err(what)
            .to_string();
        assert!(err.contains(location), "{what}: {err}");
        assert!(err.contains(message), "{what}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
