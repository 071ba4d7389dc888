//! Behaviour of `loadgen smpp` against test SMSCs on 127.0.0.1:0: open-loop latency under a
//! slow server, reconnection accounting, receipts (including one that overtakes its
//! submit_sm_resp), exit codes and thresholds of the built binary, the JSON keys, and the
//! HdrHistogram interval log. No assertion is about speed.

mod common;

use std::process::Output;
use std::time::Duration;

use common::{Behaviour, TestSmsc};
use loadgen::smpp::schedule::RateProfile;
use loadgen::smpp::{SmppOptions, run};

fn opts(target: &str, rate: f64, duration_ms: u64) -> SmppOptions {
    let mut o = SmppOptions::new(target, "test", "secret");
    o.rate = RateProfile::Constant(rate);
    o.duration = Duration::from_millis(duration_ms);
    o.timeout = Duration::from_secs(2);
    o.receipt_wait = Duration::from_secs(2);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_latency_is_measured_from_intended_send_time() {
    let smsc = TestSmsc::start(Behaviour {
        response_delay: Duration::from_millis(50),
        ..Behaviour::default()
    })
    .await;
    // 100/s for 1 s through a window of 1 and a 50 ms server: at most ~22 can be sent, each
    // later than the one before, so latency from the intended time grows far beyond the
    // 50 ms service time.
    let mut o = opts(&smsc.target(), 100.0, 1000);
    o.window = 1;
    let r = run(o).await.expect("run");
    assert!(r.identity.holds, "{:?}", r.identity);
    assert!(r.submitted >= 5 && r.submitted <= 30, "{}", r.submitted);
    assert_eq!(r.scheduled, 100);
    assert_eq!(r.unsent, 100 - r.submitted);
    assert!(!r.rate_met);
    assert!(r.behind_schedule > 0);
    // Service time (from the actual write) stays near the server's 50 ms...
    assert!(
        r.submit_service_us.p50 >= 45_000,
        "{:?}",
        r.submit_service_us
    );
    assert!(
        r.submit_service_us.p50 < 300_000,
        "{:?}",
        r.submit_service_us
    );
    // ...while latency from the intended time includes the time spent waiting to be sent.
    assert!(
        r.submit_resp_us.max >= 400_000,
        "latency hides the queueing: {:?}",
        r.submit_resp_us
    );
    assert!(r.submit_resp_us.max > 3 * r.submit_service_us.max);
    assert!(r.summary().contains("TARGET RATE NOT MET"));
    // Over plain TCP on Linux every service time started at the kernel's transmit timestamp
    // of its write (one message per write, each answered 50 ms later: nothing to lose).
    assert_eq!(r.submit_service_us.count, r.accepted);
    if cfg!(target_os = "linux") {
        assert_eq!(
            r.submit_service_kernel_stamped,
            r.accepted,
            "{}",
            r.summary()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_that_is_caught_up_still_fails_the_rate() {
    // 1000/s for 2 s; the SMSC stops reading for 1 s after the 500th message. The window of
    // 100 fills, sends wait about 0.9 s, then the backlog goes out at once: every message is
    // sent within the run and the average rate is reached, but the sends were not on time.
    let smsc = TestSmsc::start(Behaviour {
        stall_after: Some(500),
        stall_for: Duration::from_secs(1),
        ..Behaviour::default()
    })
    .await;
    let o = opts(&smsc.target(), 1000.0, 2000);
    let r = run(o).await.expect("run");
    assert!(r.identity.holds, "{}", r.summary());
    assert_eq!(r.unsent, 0, "{}", r.summary());
    assert_eq!(r.accepted, r.scheduled, "{}", r.summary());
    assert!(
        !r.rate_met,
        "a 1 s stall is not a met rate: {}",
        r.summary()
    );
    assert!(r.behind_schedule >= 500, "{}", r.summary());
    assert!(r.send_lag_us.max >= 700_000, "{:?}", r.send_lag_us);
    let summary = r.summary();
    assert!(summary.contains("TARGET RATE NOT MET"), "{summary}");
    assert!(
        summary.contains("sends were more than 2000 µs late"),
        "{summary}"
    );
    // The timeline counts sends in the second they were written: the stalled second is
    // short and the next one carries the backlog.
    let first = &r.timeline[0];
    let second = &r.timeline[1];
    assert!(first.submitted < 800, "{:?}", r.timeline);
    assert!(second.submitted > 1200, "{:?}", r.timeline);
    assert!(second.behind_schedule > 0, "{:?}", r.timeline);
    let sum: u64 = r.timeline.iter().map(|s| s.submitted).sum();
    assert_eq!(sum, r.submitted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_in_the_grace_after_the_run_do_not_count_in_the_achieved_rate() {
    // 1000/s for 1 s; the SMSC stops reading for 250 ms after the 800th message, so the
    // messages due after its window of 50 filled can only be sent once it reads again,
    // after the run's end, in the grace: they are submitted, but not sends within the run.
    let smsc = TestSmsc::start(Behaviour {
        stall_after: Some(800),
        stall_for: Duration::from_millis(250),
        ..Behaviour::default()
    })
    .await;
    let mut o = opts(&smsc.target(), 1000.0, 1000);
    o.window = 50;
    let r = run(o).await.expect("run");
    assert!(r.identity.holds, "{}", r.summary());
    assert!(r.submitted > r.sent_in_run, "{}", r.summary());
    assert!(r.sent_in_run < 900, "{}", r.summary());
    // The rate is the sends within the run over the time they took: not inflated by the
    // grace, and short of the target.
    let expected = (r.sent_in_run - 1) as f64 / r.send_window_s;
    assert!((r.achieved_rate - expected).abs() < 1e-6);
    assert!(r.send_window_s <= 1.0);
    assert!(!r.rate_met);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhindered_run_meets_its_rate_and_its_timeline_adds_up() {
    let smsc = TestSmsc::start(Behaviour::default()).await;
    let mut o = opts(&smsc.target(), 500.0, 2000);
    // Generous: this asserts the bookkeeping, not this machine's scheduling.
    o.behind_tolerance = Duration::from_millis(500);
    let r = run(o).await.expect("run");
    assert!(r.identity.holds, "{}", r.summary());
    assert_eq!(r.submitted, 1000);
    assert_eq!(r.sent_in_run, 1000);
    assert!(r.rate_met, "{}", r.summary());
    assert!(r.achieved_rate > 0.99 * 500.0, "{}", r.summary());
    // Messages 0 and 999 are due at 0 and 1.998 s.
    assert!(
        r.send_window_s < 2.0 && r.send_window_s > 1.9,
        "{}",
        r.send_window_s
    );
    assert!(r.cpu.sender_cores.is_some());
    let sum =
        |f: fn(&loadgen::smpp::report::Second) -> u64| -> u64 { r.timeline.iter().map(f).sum() };
    assert_eq!(sum(|s| s.submitted), r.submitted);
    assert_eq!(sum(|s| s.accepted), r.accepted);
    assert_eq!(sum(|s| s.timed_out + s.rejected), r.timed_out + r.rejected);
    for (i, s) in r.timeline.iter().enumerate() {
        assert_eq!(s.t, (i + 1) as f64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_counts_in_flight_as_timed_out_and_reconnects() {
    let smsc = TestSmsc::start(Behaviour {
        response_delay: Duration::from_millis(200),
        drop_first_after: Some(30),
        ..Behaviour::default()
    })
    .await;
    let mut o = opts(&smsc.target(), 200.0, 1500);
    o.window = 50;
    let r = run(o).await.expect("run");
    assert!(r.identity.holds, "{:?}", r.identity);
    assert_eq!(r.disconnects, 1);
    assert_eq!(r.disconnect_reasons.len(), 1, "{:?}", r.disconnect_reasons);
    assert!(r.reconnects >= 1);
    assert!(smsc.connections.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    // The drop came with messages in flight (the server holds responses for 200 ms).
    assert!(r.lost_on_disconnect > 0, "{}", r.summary());
    assert_eq!(r.timed_out, r.lost_on_disconnect);
    assert_eq!(r.submitted, r.accepted + r.rejected + r.timed_out);
    assert!(r.accepted > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_matched_even_before_their_response() {
    for receipt_first in [false, true] {
        let smsc = TestSmsc::start(Behaviour {
            receipts: true,
            receipt_first,
            ..Behaviour::default()
        })
        .await;
        let mut o = opts(&smsc.target(), 500.0, 500);
        o.registered_delivery = true;
        let r = run(o).await.expect("run");
        assert!(r.identity.holds, "{:?}", r.identity);
        assert_eq!(r.receipts.expected, r.accepted);
        assert_eq!(r.receipts.matched, r.accepted, "{}", r.summary());
        assert_eq!(r.receipts.missing, 0);
        assert_eq!(r.receipts.unmatched, 0);
        assert_eq!(r.receipt_us.count, r.accepted);
        if receipt_first {
            assert_eq!(r.receipts.early, r.accepted);
        } else {
            assert_eq!(r.receipts.early, 0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_receipts_are_held_within_a_bound_and_the_drops_counted() {
    let smsc = TestSmsc::start(Behaviour {
        receipts: true,
        stray_receipts: true,
        ..Behaviour::default()
    })
    .await;
    // 300 messages, each followed by its own receipt and one for an id never given; the
    // early store may hold 32 of the strays.
    let mut o = opts(&smsc.target(), 600.0, 500);
    o.registered_delivery = true;
    o.max_early_receipts = 32;
    o.receipt_wait = Duration::from_millis(300);
    let r = run(o).await.expect("run");
    assert!(r.identity.holds, "{}", r.summary());
    assert_eq!(r.receipts.matched, r.accepted, "{}", r.summary());
    assert_eq!(r.receipts.missing, 0);
    assert!(r.receipts.unmatched <= 32, "{}", r.summary());
    assert_eq!(
        r.receipts.unmatched + r.receipts.early_dropped,
        r.accepted,
        "every stray is held or counted as dropped: {}",
        r.summary()
    );
    assert!(r.summary().contains("EARLY RECEIPTS DROPPED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_of_every_profile_are_matched() {
    use smpp::receipt::{ReceiptPduKind, ReceiptProfile};
    for pdu in [ReceiptPduKind::DeliverSm, ReceiptPduKind::DataSm] {
        // Text and TLVs, text only (SMPP 3.3 style), TLVs only.
        for (text, tlvs) in [(true, true), (true, false), (false, true)] {
            let profile = ReceiptProfile {
                pdu,
                text,
                tlvs,
                ..ReceiptProfile::STANDARD
            };
            let smsc = TestSmsc::start(Behaviour {
                receipts: true,
                receipt_profile: profile,
                intermediate: true,
                ..Behaviour::default()
            })
            .await;
            let mut o = opts(&smsc.target(), 200.0, 300);
            o.registered_delivery = true;
            let r = run(o).await.expect("run");
            assert!(r.identity.holds, "{profile:?}: {:?}", r.identity);
            assert!(r.accepted > 0, "{profile:?}");
            assert_eq!(
                r.receipts.matched,
                r.accepted,
                "{profile:?}: {}",
                r.summary()
            );
            assert_eq!(r.receipts.intermediate, r.accepted, "{profile:?}");
            assert_eq!(
                r.receipts.duplicated + r.receipts.unmatched,
                0,
                "{profile:?}"
            );
            assert_eq!(r.malformed_pdus + r.mo_messages, 0, "{profile:?}");
        }
    }
}

/// A carrier-sim in this process, started through its front door with every listener on
/// loopback port 0 (and a TLS listener when given an acceptor).
async fn start_carrier(tls: Option<tokio_rustls::TlsAcceptor>) -> simulator::Running {
    let mut carrier = simulator::config::CarrierConfig::default();
    carrier.accounts.insert(
        "test".into(),
        simulator::config::AccountConfig::new("secret"),
    );
    carrier.session.shutdown_grace = Duration::from_millis(200);
    let mut cfg = simulator::SimConfig::default();
    cfg.carriers.insert(carrier.name.clone(), carrier);
    let mut binds = simulator::Binds::loopback().without_http();
    if let Some(acceptor) = tls {
        binds = binds.tls("default", acceptor);
    }
    simulator::start(cfg, binds).await.expect("carrier starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_sim_receipts_add_up() {
    let carrier = start_carrier(None).await;
    let addr = carrier.smpp_addr("default").expect("listening");
    let mut o = opts(&addr.to_string(), 1000.0, 1000);
    o.registered_delivery = true;
    o.binds = 2;
    o.bind_type = loadgen::smpp::BindType::TxRx;
    let r = run(o).await.expect("run");
    let _ = tokio::time::timeout(Duration::from_secs(10), carrier.shutdown()).await;
    assert!(r.identity.holds, "{}", r.summary());
    assert_eq!(r.accepted, r.submitted, "{}", r.summary());
    assert_eq!(r.receipts.matched, r.accepted, "{}", r.summary());
    assert_eq!(r.receipts.duplicated + r.receipts.unmatched, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_over_tls_to_carrier_sim() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_der = key.cert.der().clone();
    let key_der =
        rustls_pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).expect("key");
    let acceptor = simulator::tls_acceptor(vec![cert_der], key_der).expect("acceptor");
    let carrier = start_carrier(Some(acceptor)).await;
    let tls_addr = carrier.smpp_tls_addr("default");
    let ca = std::env::temp_dir().join(format!("loadgen-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, key.cert.pem()).expect("write ca");
    let mut o = opts(&tls_addr.expect("tls addr").to_string(), 500.0, 500);
    o.registered_delivery = true;
    o.tls = Some(loadgen::smpp::TlsOptions {
        ca: ca.clone(),
        server_name: Some("localhost".into()),
    });
    let r = run(o).await.expect("run over TLS");
    let _ = tokio::time::timeout(Duration::from_secs(10), carrier.shutdown()).await;
    let _ = std::fs::remove_file(&ca);
    assert!(r.identity.holds, "{}", r.summary());
    assert!(r.accepted > 0);
    assert_eq!(r.accepted, r.submitted, "{}", r.summary());
    assert_eq!(r.receipts.matched, r.accepted, "{}", r.summary());
    // Over TLS the kernel's transmit time is not the message's: every service time falls back
    // to the time taken just before the write, and none is missing.
    assert_eq!(r.submit_service_us.count, r.accepted);
    assert_eq!(r.submit_service_kernel_stamped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_bind_is_an_error() {
    let smsc = TestSmsc::start(Behaviour::default()).await;
    let mut o = opts(&smsc.target(), 100.0, 200);
    o.password = "wrong".into();
    let e = run(o).await.expect_err("bind refused");
    assert!(e.to_string().contains("Rinvpaswd"), "{e}");
}

/// Runs the built binary against `target` for 500 ms with extra arguments.
async fn loadgen(target: &str, extra: &[&str]) -> Output {
    loadgen_with(target, "secret", "500ms", extra).await
}

/// Runs the built binary with the given password and duration.
async fn loadgen_with(target: &str, password: &str, duration: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> = [
        "smpp",
        "--target",
        target,
        "--system-id",
        "test",
        "--password",
        password,
        "--rate",
        "200",
        "--duration",
        duration,
        "--progress",
        "off",
        "--timeout",
        "2s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(&args)
        .output()
        .await
        .expect("run loadgen")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_threshold_verdicts() {
    let smsc = TestSmsc::start(Behaviour {
        receipts: true,
        ..Behaviour::default()
    })
    .await;
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let json = dir.join("pass.json");
    let json_s = json.to_str().expect("utf-8 path");

    let out = loadgen(
        &smsc.target(),
        &[
            "--threshold",
            "submit_resp.p99<10s",
            "--threshold",
            "rejected<=0",
            "--json",
            json_s,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PASS submit_resp.p99<10s"), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("valid json");
    assert_eq!(v["thresholds_passed"], true);
    assert_eq!(v["thresholds"][0]["pass"], true);

    let fail_json = dir.join("fail.json");
    let out = loadgen(
        &smsc.target(),
        &[
            "--threshold",
            "submit_resp.p50<1ns",
            "--json",
            fail_json.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(99), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL submit_resp.p50<1ns"));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&fail_json).expect("json")).expect("json");
    assert_eq!(v["thresholds_passed"], false);
    assert_eq!(v["thresholds"][0]["expr"], "submit_resp.p50<1ns");
    assert_eq!(v["thresholds"][0]["metric"], "submit_resp.p50");
    assert_eq!(v["thresholds"][0]["pass"], false);
    assert!(v["thresholds"][0]["value"].as_f64().is_some());

    let out = loadgen(
        &smsc.target(),
        &["--threshold", "submit_resp.p99 < 5 parsecs"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("submit_resp.p99 < 5 parsecs"),
        "{out:?}"
    );

    let out = loadgen(&smsc.target(), &["--threshold", "receipt.p99<1s"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "receipt threshold without receipts: {out:?}"
    );

    let out = loadgen_with(&smsc.target(), "nope", "500ms", &[]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bind refused"));

    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_keys_are_stable_and_hdr_log_reads_back() {
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    let smsc = TestSmsc::start(Behaviour {
        receipts: true,
        ..Behaviour::default()
    })
    .await;
    let dir = std::env::temp_dir().join(format!("loadgen-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let json = dir.join("out.json");
    let hdr = dir.join("out.hlog");
    let out = loadgen_with(
        &smsc.target(),
        "secret",
        "1500ms",
        &[
            "--registered-delivery",
            "--json",
            json.to_str().expect("utf-8"),
            "--hdr-log",
            hdr.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("json");
    for key in [
        "schema",
        "target",
        "scheduled",
        "submitted",
        "accepted",
        "rejected",
        "timed_out",
        "unsent",
        "in_flight_at_end",
        "achieved_rate",
        "sent_in_run",
        "send_window_s",
        "rate_met",
        "behind_schedule",
        "error_rate",
        "submit_service_kernel_stamped",
        "statuses",
        "identity",
        "cpu",
        "timeline",
        "thresholds",
        "thresholds_passed",
        "errors",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    for hist in [
        "submit_resp_us",
        "receipt_us",
        "submit_service_us",
        "send_lag_us",
    ] {
        for k in ["count", "p50", "p90", "p99", "p999", "max"] {
            assert!(v[hist][k].is_u64(), "{hist}.{k}");
        }
    }
    for k in [
        "expected",
        "matched",
        "missing",
        "duplicated",
        "unmatched",
        "early_dropped",
    ] {
        assert!(v["receipts"][k].is_u64(), "receipts.{k}");
    }
    assert_eq!(v["schema"], 2);
    for k in [
        "loadgen_cores",
        "sender_cores",
        "sender_spin_cores",
        "sender_margin_us",
    ] {
        assert!(v["cpu"][k].is_f64(), "cpu.{k}");
    }
    for k in [
        "t",
        "submitted",
        "accepted",
        "rejected",
        "timed_out",
        "receipts",
        "rate",
        "submit_resp_p99_us",
        "send_lag_p99_us",
        "behind_schedule",
    ] {
        assert!(v["timeline"][0].get(k).is_some(), "timeline.{k}");
    }
    assert_eq!(v["identity"]["holds"], true);
    let accepted = v["accepted"].as_u64().expect("accepted");
    assert_eq!(v["receipts"]["matched"].as_u64(), Some(accepted));
    assert!(v["timeline"].as_array().is_some_and(|t| !t.is_empty()));

    // The interval log: every accepted message's latency is in one submit_resp interval.
    let log = std::fs::read(&hdr).expect("hdr log");
    let mut de = Deserializer::new();
    let mut submit_count = 0u64;
    let mut receipt_count = 0u64;
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(ilh) = entry.expect("log entry parses") {
            let decoded = base64_decode(ilh.encoded_histogram());
            let h: hdrhistogram::Histogram<u64> =
                de.deserialize(&mut &decoded[..]).expect("histogram");
            match ilh.tag().map(|t| t.as_str()) {
                Some("submit_resp") => submit_count += h.len(),
                Some("receipt") => receipt_count += h.len(),
                other => panic!("unexpected tag {other:?}"),
            }
            intervals += 1;
        }
    }
    assert!(intervals >= 2);
    assert_eq!(submit_count, accepted);
    assert_eq!(receipt_count, accepted);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Standard base64 (the interval log's encoding), decoded here to keep dev-dependencies small.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}
