//! The fraud guard (issue 9, point 6), through HTTP against carrier-sim running alpha-beta.toml
//! (seed 2026, fixed traffic): each rule fires on the traffic it targets, and stays quiet on
//! genuine traffic next to it; every firing is a decision record with its rule and inputs.

mod common;

use std::time::Duration;

use common::{MOBILE, PREMIUM, Testbed, alpha_beta, alpha_beta_with, eventually};
use serde_json::{Value, json};
use verifier::config::GuardMode;

/// A start that must be refused by `rule` with `status`.
async fn refused(tb: &Testbed, to: &str, extra: Value, status: u16, rule: &str) -> Value {
    let (s, body) = tb.start_verification(to, extra).await;
    assert_eq!(
        (s, body["rule"].as_str()),
        (status, Some(rule)),
        "{to}: {body}"
    );
    assert_eq!(body["status"], "blocked");
    body
}

/// A start that must go ahead.
async fn allowed(tb: &Testbed, to: &str, extra: Value) -> Value {
    let (s, body) = tb.start_verification(to, extra).await;
    assert_eq!(s, 201, "{to}: {body}");
    body
}

/// Reads the code the `n`-th message to `to` carried and approves it.
async fn verify(tb: &Testbed, to: &str, n: usize) {
    let code = tb.code(to, "sms", n).await;
    let (_, checked) = tb.check(to, &code).await;
    assert_eq!(checked["status"], "approved", "{checked}");
}

#[tokio::test]
async fn customer_block_list_entries_block_until_removed() {
    let tb = Testbed::start(|_| {}).await;
    let (s, entry) = tb
        .post(
            "/v1/blocklist",
            &json!({ "number": "+447700900301", "reason": "chargeback", "ttl": "30d" }),
        )
        .await;
    assert_eq!(s, 201, "{entry}");
    assert_eq!(
        (entry["source"].as_str(), entry["number"].as_str()),
        (Some("customer"), Some("+447700900301"))
    );
    let body = refused(&tb, "+447700900301", json!({}), 403, "blocklist_customer").await;
    assert!(
        body["reason"].as_str().unwrap().contains("chargeback"),
        "{body}"
    );
    allowed(&tb, "+447700900302", json!({})).await;
    let d = tb.decisions("blocklist_customer").await;
    assert_eq!(d.len(), 1);
    assert_eq!(
        (
            d[0]["verdict"].as_str(),
            d[0]["mode"].as_str(),
            d[0]["inputs"]["list"].as_str()
        ),
        (Some("block"), Some("enforce"), Some("customer"))
    );
    let r = tb
        .http
        .delete(format!("{}/v1/blocklist?number=%2B447700900301", tb.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    allowed(&tb, "+447700900301", json!({})).await;
    assert_eq!(
        tb.metric("verifier_blocks_total{rule=\"blocklist_customer\",mode=\"enforce\"}")
            .await,
        1
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn open_sms_numbers_are_fetched_from_the_carrier_and_blocked() {
    let tb = Testbed::start(|_| {}).await;
    eventually("the open-SMS list is fetched", || async {
        tb.get("/v1/blocklist?source=open_sms").await.1["counts"]["open_sms"] == 10
    })
    .await;
    refused(&tb, "+447700900105", json!({}), 403, "blocklist_open_sms").await;
    allowed(&tb, "+447700900110", json!({})).await;
    tb.shutdown().await;
}

#[tokio::test]
async fn a_listed_number_with_a_new_sim_since_is_forgiven() {
    // 447700900888 gets a new SIM two seconds from now.
    let swap = (chrono::Utc::now() + chrono::TimeDelta::seconds(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let extra = format!("[[ranges]]\nnumbers = [\"447700900888\"]\nsim_swap = \"{swap}\"\n");
    let tb = Testbed::with(
        alpha_beta_with(&extra, 20.0, false),
        Duration::from_secs(5),
        |c| {
            c.lookup.cache_ttl = Duration::from_millis(100);
        },
    )
    .await;
    assert_eq!(
        tb.post("/v1/blocklist", &json!({ "number": "+447700900888" }))
            .await
            .0,
        201
    );
    refused(&tb, "+447700900888", json!({}), 403, "blocklist_customer").await;
    eventually("the swap happens", || async {
        let (_, l) = tb
            .control(reqwest::Method::GET, "/v1/lookup/+447700900888", None)
            .await;
        l["sim_swap"]["last_sim_swap"]["swapped_in_period"] == true
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    // A new owner: let through (by voice, as the SIM-swap rule wants), the entry removed.
    let started = allowed(&tb, "+447700900888", json!({})).await;
    assert_eq!(started["channel"], "voice");
    let d = tb.decisions("blocklist_forgiven").await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["inputs"]["why"], "new SIM since listed");
    assert_eq!(
        tb.get("/v1/blocklist?source=customer").await.1["counts"]["customer"],
        0
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn a_listed_number_recycled_before_its_next_start_is_forgiven() {
    // The default lookup cache (10 minutes): the snapshot taken when listing must not be what
    // the next start reads.
    let tb = Testbed::start(|_| {}).await;
    let (s, entry) = tb
        .post("/v1/blocklist", &json!({ "number": "+447700900311" }))
        .await;
    assert_eq!(s, 201, "{entry}");
    assert_eq!(entry["lookup_snapshot"], true, "{entry}");
    let (s, after) = tb
        .control(
            reqwest::Method::POST,
            "/v1/numbers/+447700900311/recycle",
            None,
        )
        .await;
    assert_eq!((s, &after["recycled"]), (200, &json!(true)), "{after}");
    allowed(&tb, "+447700900311", json!({})).await;
    let (status, body) = tb.get("/v1/decisions?verdict=forgive").await;
    assert_eq!(status, 200, "{body}");
    let d = body["decisions"].as_array().expect("decisions");
    assert_eq!(d.len(), 1, "{body}");
    assert_eq!(d[0]["inputs"]["why"], "recycled since listed", "{body}");
    assert_eq!(
        tb.get("/v1/blocklist?source=customer").await.1["counts"]["customer"],
        0
    );
    // A number listed and not changed stays blocked.
    assert_eq!(
        tb.post("/v1/blocklist", &json!({ "number": "+447700900312" }))
            .await
            .0,
        201
    );
    refused(&tb, "+447700900312", json!({}), 403, "blocklist_customer").await;
    tb.shutdown().await;
}

#[tokio::test]
async fn without_lookup_a_listing_says_it_has_no_snapshot() {
    let tb = Testbed::start(|c| c.lookup.enabled = false).await;
    let (s, entry) = tb
        .post("/v1/blocklist", &json!({ "number": "+447700900313" }))
        .await;
    assert_eq!(s, 201, "{entry}");
    assert_eq!(entry["lookup_snapshot"], false, "{entry}");
    tb.shutdown().await;
}

#[tokio::test]
async fn a_number_that_keeps_requesting_and_never_verifies_is_listed() {
    let tb = Testbed::start(|c| {
        c.guard.heuristics.repeat_starts = 3;
        c.codes.max_sends = 20;
    })
    .await;
    let pest = "+447700900401";
    for _ in 0..2 {
        allowed(&tb, pest, json!({})).await;
        tb.check(pest, "000000").await;
    }
    refused(&tb, pest, json!({}), 403, "repeat_requester").await;
    refused(&tb, pest, json!({}), 403, "blocklist_heuristic").await;
    let listed = tb.get("/v1/blocklist?source=heuristic").await.1;
    assert_eq!(listed["entries"][0]["number"], pest, "{listed}");
    // Genuine: a number that verifies may come back as often as the send limit allows.
    let user = "+447700900402";
    for n in 1..=4 {
        allowed(&tb, user, json!({})).await;
        verify(&tb, user, n).await;
    }
    tb.shutdown().await;
}

#[tokio::test]
async fn numbers_requested_together_again_from_one_ip_are_listed() {
    let tb = Testbed::start(|c| c.guard.heuristics.group_window = Duration::from_millis(400)).await;
    let ip = json!({ "client_ip": "203.0.113.7" });
    let group = ["+447700900501", "+447700900502", "+447700900503"];
    for n in group {
        allowed(&tb, n, ip.clone()).await;
        tb.check(n, "000000").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    allowed(&tb, group[0], ip.clone()).await;
    allowed(&tb, group[1], ip.clone()).await;
    let body = refused(&tb, group[2], ip.clone(), 403, "number_group").await;
    assert!(body["reason"].as_str().unwrap().contains("again"), "{body}");
    let d = tb.decisions("number_group").await;
    assert_eq!(
        d.iter().filter(|d| d["verdict"] == "list").count(),
        3,
        "{d:?}"
    );
    // Listed now, whoever asks.
    refused(
        &tb,
        group[0],
        json!({ "client_ip": "198.51.100.1" }),
        403,
        "blocklist_heuristic",
    )
    .await;
    // Genuine: another address asking for different numbers in each window.
    let other = json!({ "client_ip": "198.51.100.2" });
    for batch in [
        ["+447700900511", "+447700900512", "+447700900513"],
        ["+447700900514", "+447700900515", "+447700900516"],
    ] {
        for n in batch {
            allowed(&tb, n, other.clone()).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tb.shutdown().await;
}

#[tokio::test]
async fn premium_lines_are_refused_by_line_type() {
    let tb = Testbed::start(|_| {}).await;
    let body = refused(&tb, PREMIUM, json!({}), 403, "line_type").await;
    assert!(
        body["reason"].as_str().unwrap().contains("premium"),
        "{body}"
    );
    let d = tb.decisions("line_type").await;
    assert_eq!(d[0]["inputs"]["line_type"], "premium");
    allowed(&tb, MOBILE, json!({})).await;
    tb.shutdown().await;
}

#[tokio::test]
async fn a_prefix_pumped_without_verifications_is_blocked() {
    let tb = Testbed::start(|c| {
        let p = &mut c.guard.pumping;
        p.prefix_drop = 2;
        p.window = Duration::from_secs(4);
        p.buckets = 8;
        p.min_starts = 10;
        p.maturity = Duration::from_millis(500);
        p.cool_down = Duration::from_secs(3600);
    })
    .await;
    // Genuine traffic on 4477009006xx: every code verified.
    for i in 0..15 {
        let n = format!("+4477009006{i:02}");
        allowed(&tb, &n, json!({})).await;
        verify(&tb, &n, 1).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Pumping on 4477009007xx: codes never checked.
    let mut tripped = None;
    for i in 0..100 {
        let n = format!("+4477009007{i:02}");
        let (s, body) = tb.start_verification(&n, json!({})).await;
        if s == 403 {
            assert_eq!(body["rule"], "sms_pumping", "{body}");
            tripped = Some(i);
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let tripped = tripped.expect("the pumped prefix trips");
    assert!(tripped >= 10, "not before min_starts: {tripped}");
    // Blocked for its cool-down; the genuine prefix is not.
    refused(&tb, "+447700900799", json!({}), 403, "sms_pumping").await;
    let n = "+447700900620";
    allowed(&tb, n, json!({})).await;
    let d = tb.decisions("sms_pumping").await;
    let trip = d
        .iter()
        .find(|d| d["inputs"]["trigger"].is_string())
        .expect("the trip's record");
    assert_eq!(trip["inputs"]["prefix"], "4477009007");
    assert_eq!(trip["inputs"]["mature_verified"], 0);
    tb.shutdown().await;
}

#[tokio::test]
async fn geo_permissions_refuse_other_countries() {
    let tb = Testbed::start(|c| c.guard.allowed_countries = vec!["GB".into()]).await;
    refused(&tb, PREMIUM, json!({}), 403, "geo_permissions").await;
    allowed(&tb, MOBILE, json!({})).await;
    // Through the Twilio-compatible endpoint: Twilio's geo-permissions error.
    let (status, body) = common::send(
        tb.http
            .post(format!(
                "{}/v2/Services/VA{}/Verifications",
                tb.api,
                "0".repeat(32)
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("To=%2B882123456789&Channel=sms"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(60605)),
        "{body}"
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn non_fixed_voip_is_sent_by_voice_or_refused_by_policy() {
    let extra = "[[ranges]]\nnumbers = [\"447700900999\"]\nline_type = \"non_fixed_voip\"\n";
    let voip = "+447700900999";
    let tb = Testbed::with(
        alpha_beta_with(extra, 20.0, false),
        Duration::from_secs(5),
        |_| {},
    )
    .await;
    let started = allowed(&tb, voip, json!({})).await;
    assert_eq!(
        started["channel"], "voice",
        "the default policy sends VoIP by voice"
    );
    let d = tb.decisions("line_type").await;
    assert_eq!(
        (
            d[0]["verdict"].as_str(),
            d[0]["inputs"]["line_type"].as_str()
        ),
        (Some("voice"), Some("nonFixedVoip"))
    );
    allowed(&tb, MOBILE, json!({ "channel": "sms" })).await;
    tb.shutdown().await;

    let tb = Testbed::with(
        alpha_beta_with(extra, 20.0, false),
        Duration::from_secs(5),
        |c| {
            c.guard.line_type.non_fixed_voip = verifier::config::Policy::Refuse;
        },
    )
    .await;
    refused(&tb, voip, json!({}), 403, "line_type").await;
    tb.shutdown().await;
}

#[tokio::test]
async fn starts_without_checks_flood_a_number() {
    let tb = Testbed::start(|c| {
        c.guard.velocity.number_starts_without_check = 2;
        c.codes.max_sends = 20;
    })
    .await;
    let n = "+447700900601";
    allowed(&tb, n, json!({})).await;
    allowed(&tb, n, json!({})).await;
    refused(&tb, n, json!({}), 429, "number_flood").await;
    // A check (as a genuine user makes) counts from zero again.
    tb.check(n, "000000").await;
    allowed(&tb, n, json!({})).await;
    tb.shutdown().await;
}

#[tokio::test]
async fn client_ips_are_limited_in_starts_and_countries() {
    let tb = Testbed::start(|c| {
        c.guard.velocity.ip_starts = 3;
        c.guard.velocity.ip_countries = 1;
    })
    .await;
    let ip = json!({ "client_ip": "192.0.2.10" });
    for i in 0..3 {
        allowed(&tb, &format!("+4477009007{i:02}"), ip.clone()).await;
    }
    refused(&tb, "+447700900710", ip, 429, "ip_velocity").await;
    let ip2 = json!({ "client_ip": "192.0.2.11" });
    allowed(&tb, "+447700900720", ip2.clone()).await;
    refused(&tb, PREMIUM, ip2, 429, "ip_countries").await;
    // Another address is untouched.
    allowed(&tb, "+447700900730", json!({ "client_ip": "192.0.2.12" })).await;
    tb.shutdown().await;
}

#[tokio::test]
async fn a_recent_sim_swap_requires_voice() {
    let extra = "[[ranges]]\nnumbers = [\"447700900777\"]\nsim_swap_ago = \"2d\"\n\n[[ranges]]\nnumbers = [\"447700900778\"]\nsim_swap_ago = \"30d\"\n";
    let tb = Testbed::with(
        alpha_beta_with(extra, 20.0, false),
        Duration::from_secs(5),
        |_| {},
    )
    .await;
    refused(
        &tb,
        "+447700900777",
        json!({ "channel": "sms" }),
        403,
        "sim_swap",
    )
    .await;
    let started = allowed(&tb, "+447700900777", json!({ "channel": "auto" })).await;
    assert_eq!(started["channel"], "voice");
    let d = tb.decisions("sim_swap").await;
    assert!(d.iter().any(|d| d["verdict"] == "voice"), "{d:?}");
    // A swap older than 7 days is no concern.
    let started = allowed(&tb, "+447700900778", json!({ "channel": "sms" })).await;
    assert_eq!(started["channel"], "sms");
    tb.shutdown().await;
}

#[tokio::test]
async fn app_attestation_tokens_are_required() {
    const KEY: &str = "attestation-key-for-tests";
    let tb = Testbed::start(|c| {
        c.guard.attestation = Some(verifier::config::AttestationConfig {
            key: KEY.into(),
            max_ttl: Duration::from_secs(300),
        });
    })
    .await;
    refused(
        &tb,
        MOBILE,
        json!({ "device_id": "d1" }),
        401,
        "attestation",
    )
    .await;
    refused(
        &tb,
        MOBILE,
        json!({ "device_id": "d1", "attestation_token": "e30.AAAA" }),
        401,
        "attestation",
    )
    .await;
    let forged = verifier::attestation_token("not-the-attestation-key", "d1", 60);
    refused(
        &tb,
        MOBILE,
        json!({ "device_id": "d1", "attestation_token": forged }),
        401,
        "attestation",
    )
    .await;
    let token = verifier::attestation_token(KEY, "d1", 60);
    allowed(
        &tb,
        MOBILE,
        json!({ "device_id": "d1", "attestation_token": token }),
    )
    .await;
    refused(
        &tb,
        "+447700900124",
        json!({ "device_id": "d1", "attestation_token": token }),
        403,
        "attestation",
    )
    .await;
    let short = verifier::attestation_token(KEY, "d1", 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let body = refused(
        &tb,
        "+447700900125",
        json!({ "device_id": "d1", "attestation_token": short }),
        403,
        "attestation",
    )
    .await;
    assert!(
        body["reason"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    // The header works as well as the field.
    let r = tb
        .http
        .post(format!("{}/v1/verifications", tb.api))
        .header(
            "x-attestation-token",
            verifier::attestation_token(KEY, "d2", 60),
        )
        .json(&json!({ "to": "+447700900126", "device_id": "d2" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let d = tb.decisions("attestation").await;
    let errors: Vec<&str> = d
        .iter()
        .rev()
        .filter_map(|d| d["inputs"]["error"].as_str())
        .collect();
    assert_eq!(
        errors,
        ["missing", "forged", "forged", "replayed", "expired"]
    );
    assert_eq!(
        tb.metric("verifier_blocks_total{rule=\"attestation\",mode=\"enforce\"}")
            .await,
        5
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn record_only_records_without_refusing_and_off_does_nothing() {
    let tb = Testbed::start(|c| c.guard.mode = GuardMode::RecordOnly).await;
    allowed(&tb, PREMIUM, json!({ "channel": "voice" })).await;
    let d = tb.decisions("line_type").await;
    assert_eq!(
        (d[0]["mode"].as_str(), d[0]["enforced"].as_bool()),
        (Some("record_only"), Some(false))
    );
    assert_eq!(
        tb.metric("verifier_blocks_total{rule=\"line_type\",mode=\"record_only\"}")
            .await,
        1
    );
    assert_eq!(
        tb.metric("verifier_blocks_total{rule=\"line_type\",mode=\"enforce\"}")
            .await,
        0
    );
    tb.shutdown().await;

    let tb = Testbed::with(alpha_beta(20.0, false), Duration::from_secs(5), |c| {
        c.guard.mode = GuardMode::Off
    })
    .await;
    allowed(&tb, PREMIUM, json!({ "channel": "voice" })).await;
    assert!(tb.decisions("line_type").await.is_empty());
    tb.shutdown().await;
}

#[tokio::test]
async fn a_spray_of_random_numbers_and_addresses_stays_in_fixed_memory() {
    let tb = Testbed::start(|c| {
        c.guard.table_capacity = 64;
        c.lookup.enabled = false;
        c.limits.max_pending = 50;
        c.limits.send_history = 64;
    })
    .await;
    // 600 starts, each to a new number from a new address: far more keys than the tables hold.
    let mut answers = std::collections::BTreeMap::new();
    for i in 0..600u32 {
        let to = format!("+4477{:08}", 10_000_000 + i * 7919 % 9_000_000);
        let ip = format!("10.{}.{}.{}", i % 250, (i / 250) % 250, i % 7);
        let (s, _) = tb
            .start_verification(
                &to,
                json!({ "client_ip": ip, "device_id": format!("dev-{i}") }),
            )
            .await;
        *answers.entry(s).or_insert(0) += 1;
    }
    // Memory stayed put: the pending cap answered 503 (counted), the tables evicted.
    assert_eq!(answers.get(&201), Some(&50), "{answers:?}");
    assert_eq!(answers.get(&503), Some(&550), "{answers:?}");
    assert_eq!(tb.verifier.stats().pending, 50);
    assert!(tb.metric("verifier_guard_table_evictions").await > 0);
    // And the guard still works for a number it should know.
    tb.post("/v1/blocklist", &json!({ "number": "+447700900301" }))
        .await;
    refused(&tb, "+447700900301", json!({}), 403, "blocklist_customer").await;
    tb.shutdown().await;
}
