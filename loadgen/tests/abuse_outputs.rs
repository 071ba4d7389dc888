//! The abuse section in `loadgen run`'s outputs, through the binary: a scenario with fraud
//! personas prints the section in the summary (within 100 columns), writes it to the JSON
//! report, judges abuse thresholds against those very figures (a figure the run could not
//! measure fails, saying why), and adds the decision check to the JUnit XML. An abuse
//! threshold in a scenario without personas is refused before anything starts, naming the
//! file, line and field (or the command-line threshold).

mod cli;

use std::path::{Path, PathBuf};

use cli::{json_report, loadgen, quick_run, text};
use serde_json::Value;

fn temp(name: &str) -> PathBuf {
    cli::scratch("abuse", name)
}

fn smoke() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke.toml"))
        .expect("smoke.toml")
}

/// The smoke scenario's genuine users with SMS pumpers, an OTP bomber and a brute forcer, and
/// `thresholds` in place of the smoke file's.
fn with_personas(thresholds: &str) -> String {
    let s = smoke();
    let at = s.find("[thresholds]").expect("smoke has thresholds");
    format!(
        "{}[[populations]]\nname = \"pumpers\"\narrival = {{ model = \"constant\", rate = 10 }}\n\
         numbers = {{ range = \"uk mobiles\", digits = 12, pick = \"sequential\" }}\n\
         client_ips = \"10.99.0.0/16\"\npersona = {{ kind = \"sms_pumping\" }}\n\n\
         [[populations]]\nname = \"bombers\"\narrival = {{ model = \"constant\", rate = 10 }}\n\
         numbers = {{ range = \"uk mobiles\", digits = 12 }}\n\
         persona = {{ kind = \"otp_bomber\", victims = 2 }}\n\n\
         [[populations]]\nname = \"guessers\"\narrival = {{ model = \"constant\", rate = 2 }}\n\
         numbers = {{ range = \"uk mobiles\", digits = 12 }}\n\
         persona = {{ kind = \"brute_forcer\", guesses = 3 }}\n\n\
         [thresholds]\n{thresholds}",
        &s[..at]
    )
}

/// The verdict of `metric`.
fn verdict<'a>(json: &'a Value, metric: &str) -> &'a Value {
    json["thresholds"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["metric"] == metric))
        .unwrap_or_else(|| panic!("no verdict for {metric}: {}", json["thresholds"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_personas_reports_and_judges_its_abuse_figures() {
    let scenario = temp("personas.toml");
    std::fs::write(
        &scenario,
        with_personas(
            "\"abuse.blocked_share\" = \"<= 100%\"\n\"persona.bombers.requests\" = \">= 1\"\n\
             \"fraud.saved\" = \"> 0\"\n\"genuine.refused\" = \">= 0\"\n",
        ),
    )
    .expect("write the scenario");
    let (json, junit) = (temp("personas.json"), temp("personas.xml"));
    let out = quick_run(
        &scenario,
        &[
            "--json",
            json.to_str().expect("utf-8"),
            "--junit",
            junit.to_str().expect("utf-8"),
        ],
    )
    .await;
    // `fraud.saved` cannot be measured without a baseline run: the run breaches it.
    assert_eq!(out.status.code(), Some(99), "{}", text(&out));
    let json = json_report(&json);
    let a = &json["abuse"];
    let personas: Vec<&str> = a["personas"]
        .as_array()
        .expect("personas")
        .iter()
        .filter_map(|p| p["population"].as_str())
        .collect();
    assert_eq!(
        personas,
        ["genuine", "pumpers", "bombers", "guessers"],
        "{a}"
    );
    assert_eq!(a["personas"][1]["persona"], "sms_pumping", "{a}");
    assert_eq!(a["personas"][1]["label"], "attack", "{a}");
    assert_eq!(a["personas"][0]["label"], "genuine", "{a}");

    // Every key of the section, and of the objects and rows in it, is documented in
    // loadgen/README.md's JSON tables.
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let tables = &readme[readme.find("The `abuse` object").expect("the abuse table")..];
    let mut keys: Vec<String> = Vec::new();
    for (key, value) in a.as_object().expect("an object") {
        keys.push(key.clone());
        let inner = match value {
            Value::Array(rows) => rows.first(),
            v => Some(v),
        };
        if let Some(Value::Object(o)) = inner {
            keys.extend(o.keys().map(|k| format!("{key}.{k}")));
        }
    }
    for key in &keys {
        let last = key.rsplit('.').next().unwrap_or(key);
        assert!(
            tables.contains(&format!("`{last}`")),
            "abuse.{key} is not documented"
        );
    }
    assert!(keys.len() > 40, "{keys:?}");

    // The distinct numbers asked for: every pumped number is new (sequential over a large
    // range), and no population asks for more numbers than it sends requests.
    let requests = |i: usize| a["personas"][i]["requests"].as_u64().expect("requests");
    let numbers = json["memory"]["numbers"].as_u64().expect("memory.numbers");
    let all: u64 = (0..4).map(requests).sum();
    assert!(
        numbers >= requests(1) + 2 && numbers <= all,
        "{numbers} numbers, {all} requests: {}",
        json["memory"]
    );
    // Attackers' flows under way at most: some, and never more than all flows.
    let peak_attack = json["memory"]["peak_attack_pending"]
        .as_u64()
        .expect("memory.peak_attack_pending");
    assert!(
        peak_attack >= 1 && peak_attack <= json["memory"]["peak_pending"].as_u64().unwrap_or(0),
        "{}",
        json["memory"]
    );

    // The thresholds read the very figures the report holds.
    let v = verdict(&json, "abuse.blocked_share");
    assert_eq!(v["pass"], true, "{v}");
    assert_eq!(v["value"], a["blocked_share"], "{v}");
    assert_eq!(v["unit"], "fraction");
    let v = verdict(&json, "persona.bombers.requests");
    assert_eq!(
        v["value"].as_f64(),
        a["personas"][2]["requests"].as_f64(),
        "{v}"
    );
    assert_eq!(v["pass"], true, "{v}");
    let v = verdict(&json, "genuine.refused");
    assert_eq!(v["value"].as_f64(), a["genuine"]["refused"].as_f64(), "{v}");
    assert!(
        v.get("why").is_none(),
        "a measured figure needs no reason: {v}"
    );
    let v = verdict(&json, "fraud.saved");
    assert_eq!(v["pass"], false, "{v}");
    assert_eq!(v["value"], Value::Null, "{v}");
    assert_eq!(v["unit"], "currency", "{v}");
    assert_eq!(
        v["why"], "no baseline run: the scenario asks for none",
        "{v}"
    );

    // The summary: the section, its tables and sentences, within 100 columns.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let from = stdout
        .find("\n  abuse (judged from ground truth")
        .expect("the section");
    let to = stdout[from..]
        .find("\n  thresholds")
        .expect("then the thresholds")
        + from;
    let section = &stdout[from..to];
    for line in section.lines() {
        assert!(line.chars().count() <= 100, "too wide: {line}\n{section}");
    }
    for says in [
        "population  persona",
        "start requests  refused  served",
        "RingCaptcha reports blocking about 1.7 %",
        "Decisions: ",
    ] {
        assert!(section.contains(says), "lacks {says:?}:\n{section}");
    }
    assert!(
        section
            .lines()
            .any(|l| l.starts_with("    pumpers") && l.contains("sms_pumping")),
        "{section}"
    );
    assert!(
        stdout.contains("✗ fraud.saved > 0") && stdout.contains("(no baseline run"),
        "{stdout}"
    );

    // JUnit: the abuse thresholds as test cases, and the decision check (the embedded
    // verifier tells its counts), failing exactly when the report says they differ.
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report");
    assert!(
        xml.contains(r#"name="fraud.saved &gt; 0" time="0">"#),
        "{xml}"
    );
    let check = r#"name="the guard's decisions agree with the verifier's own counts""#;
    assert!(xml.contains(check), "{xml}");
    let consistent = a["decisions"]["consistent"]
        .as_bool()
        .expect("a decision check");
    assert_eq!(
        xml.contains(r#"type="decision_check""#),
        !consistent,
        "{xml}\n{}",
        a["decisions"]
    );
}

#[tokio::test]
async fn an_abuse_threshold_without_personas_is_refused_before_anything_starts() {
    let s = smoke().replace(
        "[thresholds]\n",
        "[thresholds]\n\"abuse.recall\" = \"> 0.95\"\n",
    );
    let line = s
        .lines()
        .position(|l| l.starts_with("\"abuse.recall\""))
        .expect("the line")
        + 1;
    let file = temp("no-personas.toml");
    std::fs::write(&file, s).expect("write the scenario");
    let path = file.to_str().expect("utf-8");
    for args in [
        vec!["validate", path],
        vec!["run", path, "--progress", "off"],
    ] {
        let out = loadgen(&args).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "{path}:{line}: thresholds.\"abuse.recall\": `abuse.recall` is an abuse figure, \
                 but no population has a persona"
            )),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing ran: {}", text(&out));
    }
    // The same on the command line, and a persona threshold naming no population.
    let out = loadgen(&["run", "--threshold", "fraud.cost < 10", "--progress", "off"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("threshold `fraud.cost < 10`: `fraud.cost` is an abuse figure"),
        "{}",
        text(&out)
    );
    let personas = temp("personas-bad.toml");
    std::fs::write(&personas, with_personas("")).expect("write the scenario");
    let out = loadgen(&[
        "validate",
        personas.to_str().expect("utf-8"),
        "--threshold",
        "persona.pumpres.refused_ratio > 0.9",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "`pumpres` is not a population of the scenario (genuine, pumpers, bombers, guessers)"
        ),
        "{}",
        text(&out)
    );
}
