//! The verifier's example config and published schema stay current, its refusals name the
//! file, line and field, and the binary works from flags: readiness line, SIGTERM, report.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use verifier::VerifierConfig;

fn scenarios() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

#[test]
fn the_example_config_validates() {
    let cfg =
        VerifierConfig::load(&scenarios().join("verifier.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.carriers.len(), 2);
    assert_eq!(cfg.steps().len(), 3);
    // Its values are the defaults, as it says.
    assert_eq!(cfg.codes, VerifierConfig::default().codes);
    assert_eq!(cfg.guard, VerifierConfig::default().guard);
    assert_eq!(cfg.lookup, VerifierConfig::default().lookup);
}

#[test]
fn published_json_schema_is_current() {
    let published = std::fs::read_to_string(scenarios().join("verifier.schema.json"))
        .expect("scenarios/verifier.schema.json");
    let current = serde_json::to_string_pretty(&verifier::config::json_schema()).unwrap() + "\n";
    assert!(
        published == current,
        "the published schema is stale: run `cargo run -p verifier -- schema > scenarios/verifier.schema.json`"
    );
}

#[test]
fn validate_names_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("verifier-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[[carriers]]\nname = \"a\"\nsmpp = \"127.0.0.1:1\"\nsystem_id = \"v\"\n\n[guard.pumping]\nmin_conversion = 2.0\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .arg("validate")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:7: guard.pumping.min_conversion: must be between 0 and 1",
            path.display()
        )),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_from_flags_announces_itself_and_stops_on_sigterm() {
    let sim = simulator::start(
        common::alpha_beta(20.0, false),
        simulator::Binds::loopback(),
    )
    .await
    .expect("carrier-sim");
    let carrier = format!(
        "smpp://verifier:secret@{}?control=http://{}",
        sim.smpp_addr("alpha").unwrap(),
        sim.http_addr().unwrap()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .args(["serve", "--listen", "127.0.0.1:0", "--carrier", &carrier])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        (ready["event"].as_str(), ready["service"].as_str()),
        (Some("listening"), Some("http"))
    );
    let addr = ready["addr"].as_str().unwrap().to_string();
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(health, "ok\n");
    // A token from `verifier attest` has the shape the service checks.
    let out = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .args([
            "attest",
            "--key",
            "a-key-of-sixteen-chars",
            "--device-id",
            "d1",
            "--ttl",
            "1m",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split('.')
            .count()
            == 2
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let stopped = tokio::task::spawn_blocking(move || {
        let line = lines.next().unwrap().unwrap();
        let status = child.wait().unwrap();
        (line, status)
    });
    let (line, status) = tokio::time::timeout(Duration::from_secs(30), stopped)
        .await
        .unwrap()
        .unwrap();
    let stopped: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(stopped["event"], "stopped", "{stopped}");
    assert!(stopped["report"]["elapsed_secs"].is_number());
    assert!(status.success());
    sim.shutdown().await;
}

#[tokio::test]
async fn https_serves_the_same_api() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("verifier-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let tb = common::Testbed::start(|c| {
        c.tls = Some(verifier::config::TlsConfig {
            listen: "127.0.0.1:0".into(),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        });
    })
    .await;
    let addr = tb.verifier.https_addr().expect("an HTTPS listener");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
    tb.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
