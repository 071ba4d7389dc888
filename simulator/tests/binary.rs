//! The `carrier-sim` binary as scripts and CI pipelines use it: readiness lines on stdout for
//! port-0 listeners, TLS from PEM files, `validate`, and graceful shutdown on SIGTERM/SIGINT
//! with the final report.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use smpp::client::{Client, ClientConfig, Event, ServerName, Target, TlsConnector};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_carrier-sim");

struct Carrier {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Drop for Carrier {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Carrier {
    async fn start(extra: &[&str]) -> (Self, std::collections::HashMap<String, String>) {
        Self::start_env(extra, &[]).await
    }

    /// Starts with these environment variables set too.
    async fn start_env(
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (Self, std::collections::HashMap<String, String>) {
        let mut child = Command::new(BIN)
            .envs(env.iter().copied())
            .args([
                "serve",
                "--smpp",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--account",
                "test:secret",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn carrier-sim");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addrs = std::collections::HashMap::new();
        let want = if extra.contains(&"--smpp-tls") { 3 } else { 2 };
        while addrs.len() < want {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("readiness within 20 s")
                .unwrap()
                .expect("stdout open");
            let v: Value = serde_json::from_str(&line).expect("readiness lines are JSON");
            assert_eq!(v["event"], "listening");
            addrs.insert(
                v["service"].as_str().unwrap().to_string(),
                v["addr"].as_str().unwrap().to_string(),
            );
        }
        (Self { child, lines }, addrs)
    }

    /// Sends `signal`, then returns the `stopped` report and the exit status.
    async fn stop(mut self, signal: &str) -> (Value, std::process::ExitStatus) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let mut report = Value::Null;
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(20), self.lines.next_line()).await
        {
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["event"] == "stopped" {
                report = v["report"].clone();
            }
        }
        let exit = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        (report, exit)
    }
}

fn submit(to: &str, text: &str) -> smpp::rusmpp::pdus::SubmitSm {
    use smpp::rusmpp::types::OctetString;
    use smpp::rusmpp::values::{EsmClass, RegisteredDelivery};
    smpp::rusmpp::pdus::SubmitSm::builder()
        .source_addr(smpp::pdu::c_string::<21>("12345"))
        .destination_addr(smpp::pdu::c_string::<21>(to))
        .esm_class(EsmClass::from(0u8))
        .registered_delivery(RegisteredDelivery::from(1u8))
        .short_message(OctetString::from_vec(text.as_bytes().to_vec()).unwrap())
        .build()
}

#[tokio::test]
async fn sigterm_unbinds_and_reports_what_is_stored() {
    let (carrier, addrs) = Carrier::start(&["--delivery-delay", "0"]).await;
    let health = reqwest::get(format!("http://{}/healthz", addrs["http"]))
        .await
        .unwrap();
    assert!(health.status().is_success());
    let mut cfg = ClientConfig::new("test", "secret");
    cfg.bind = smpp::client::BindMode::Transmitter;
    let (client, mut events) = Client::connect(Target::Tcp(addrs["smpp"].clone()), cfg)
        .await
        .unwrap();
    for i in 0..3 {
        let r = client
            .submit_sm(submit("447700900001", &format!("stored {i}")))
            .await
            .unwrap();
        assert!(r.message_id.is_some());
    }
    let stopping = tokio::spawn(carrier.stop("-TERM"));
    // The carrier unbinds the client before it exits.
    let mut unbound = false;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(20), events.recv()).await {
        if matches!(e, Event::Unbound) {
            unbound = true;
            break;
        }
    }
    assert!(unbound);
    let (report, exit) = stopping.await.unwrap();
    assert!(exit.success(), "exit status {exit}");
    assert_eq!(report["receipts"]["generated"], 3);
    assert_eq!(
        report["receipts"]["queued"], 3,
        "no receiver bound: all three stored, none lost"
    );
    assert_eq!(report["messages_accepted"], 3);
}

#[tokio::test]
async fn sigint_stops_an_idle_carrier() {
    let (carrier, _) = Carrier::start(&["--seed", "7", "--time-scale", "10"]).await;
    let (report, exit) = carrier.stop("-INT").await;
    assert!(exit.success());
    assert_eq!(report["receipts"]["generated"], 0);
    // The stop line says how to rerun the same decisions, and in which time.
    assert_eq!(report["seed"], 7);
    assert_eq!(report["time_scale"], 10.0);
    let wall = report["elapsed_secs"].as_f64().unwrap();
    let scenario = report["scenario_elapsed_secs"].as_f64().unwrap();
    assert!((scenario - wall * 10.0).abs() < 1e-6, "{wall} {scenario}");
}

#[tokio::test]
async fn tls_listener_from_pem_files() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("carrier-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();
    let (carrier, addrs) = Carrier::start(&[
        "--smpp-tls",
        "127.0.0.1:0",
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ])
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(key.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let target = Target::Tls {
        addr: addrs["smpp-tls"].clone(),
        connector: TlsConnector::from(Arc::new(tls)),
        server_name: ServerName::try_from("localhost").unwrap(),
    };
    let (client, _events) = Client::connect(target, ClientConfig::new("test", "secret"))
        .await
        .expect("bind over TLS");
    assert!(
        client
            .submit_sm(submit("447700900002", "secure"))
            .await
            .unwrap()
            .message_id
            .is_some()
    );
    let (_, exit) = carrier.stop("-TERM").await;
    assert!(exit.success());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn bad_invocations_fail_with_a_clear_message() {
    let out = Command::new(BIN)
        .args(["serve", "--smpp", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no accounts"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args([
            "serve",
            "--account",
            "nocolon",
            "--smpp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected SYSTEM_ID:PASSWORD"));
    let out = Command::new(BIN)
        .args(["validate", "/nonexistent.toml"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.toml: cannot read"));
}

#[tokio::test]
async fn control_token_from_the_environment_or_the_flag_guards_the_control_plane() {
    for (args, env) in [
        (vec![], vec![("CARRIER_SIM_CONTROL_TOKEN", "env-t0ken")]),
        // The flag wins over the environment.
        (
            vec!["--control-token", "flag-t0ken"],
            vec![("CARRIER_SIM_CONTROL_TOKEN", "env-t0ken")],
        ),
    ] {
        let token = if args.is_empty() {
            "env-t0ken"
        } else {
            "flag-t0ken"
        };
        let (carrier, addrs) = Carrier::start_env(&args, &env).await;
        let http = reqwest::Client::new();
        let get = |path: &str, auth: Option<String>| {
            let mut req = http.get(format!("http://{}{path}", addrs["http"]));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            async move { req.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(get("/healthz", None).await, 200);
        assert_eq!(get("/v1/stats", None).await, 401);
        assert_eq!(
            get("/v1/stats", Some("Bearer env-t0ken".into())).await,
            if token == "env-t0ken" { 200 } else { 401 }
        );
        assert_eq!(get("/v1/stats", Some(format!("Bearer {token}"))).await, 200);
        let (_, exit) = carrier.stop("-TERM").await;
        assert!(exit.success());
    }
}
