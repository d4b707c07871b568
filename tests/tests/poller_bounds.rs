//! Hostile sizes through the real poller handler, the DynamoDB/SNS/SES emulator and the fake
//! Cert Spotter: certificates with thousands of names, names of 253 bytes, a 64 KB issuer
//! name. None of them may blind a watch entry (the cursor moves on, every ordinary certificate
//! on the same page alerts) and every alert reaches every channel within its size limit.
//!
//! The emulator does not enforce SNS/SES size limits, so the tests measure what SNS and SES
//! received and assert the limits themselves; stored items are measured with DynamoDB's size
//! rules, computed here independently of the store.

mod poller_support;

use std::collections::HashMap;

use api::App;
use aws_sdk_dynamodb::types::AttributeValue;
use ctguard::hash::Sha256Hash;
use ctguard::model::{DeliveryState, Severity};
use ctguard_tests::api::event::{Req, send};
use ctguard_tests::api::{Callers, InProcess, settings};
use ctguard_tests::certs::LeafSpec;
use ctguard_tests::fake_certspotter::{FakeIssuance, Fault};
use ctguard_tests::fault_proxy::{Fault as AwsFault, Service};
use poller::message_bounds::{EMAIL_MAX_BYTES, SNS_MESSAGE_MAX};
use poller_support::*;

/// DynamoDB's item size limit.
const ITEM_LIMIT: usize = 400 * 1024;

/// One hostile issuance logged at the fake: an ordinary certificate whose names and issuer
/// the fake then reports as `names` and `issuer` (Cert Spotter's view is what the poller reads).
fn log_hostile(env: &Env, names: Vec<String>, issuer: Option<String>) -> Sha256Hash {
    let cert = env.ca.issue(&LeafSpec::for_names(["placeholder.invalid"]));
    let mut issuance = FakeIssuance::from_cert_der(&cert.der);
    issuance.dns_names = names;
    if let Some(issuer) = issuer {
        issuance.issuer_name = issuer;
    }
    let tbs = Sha256Hash(issuance.tbs_sha256);
    env.fake.add_issuance(issuance);
    tbs
}

/// `count` distinct names of exactly `len` bytes under `parent` (labels of at most 63 bytes).
fn names_of_len(parent: &str, count: usize, len: usize) -> Vec<String> {
    let prefix_len = len - parent.len() - 1;
    (0..count)
        .map(|i| {
            let id = format!("n{i}-");
            let mut prefix = String::with_capacity(prefix_len);
            for k in 0..prefix_len {
                let dot = (k + 1) % 64 == 0 && k + 1 < prefix_len;
                prefix.push(match (dot, id.as_bytes().get(k)) {
                    (true, _) => '.',
                    (false, Some(&c)) => c as char,
                    (false, None) => 'x',
                });
            }
            let name = format!("{prefix}.{parent}");
            assert_eq!(name.len(), len);
            name
        })
        .collect()
}

fn names_under(parent: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("host{i}.{parent}")).collect()
}

/// DynamoDB's item size: attribute names plus values (AWS's published rules).
fn item_bytes(item: &HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.iter().map(String::len).sum(),
            AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value(e)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, e)| 1 + k.len() + value(e)).sum::<usize>()
            }
            _ => 1,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

async fn stored_item_bytes(env: &Env, tbs: &Sha256Hash) -> usize {
    let item = env
        .aws
        .dynamodb
        .get_item()
        .table_name(&env.aws.tables.alerts)
        .key("tbs_sha256", AttributeValue::S(tbs.to_hex()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the alert item exists");
    item_bytes(&item)
}

/// What SNS counts against its 256 KiB limit: the body, the subject and every attribute's
/// name, type and value.
fn sns_bytes(envelope: &ctguard_tests::aws::SnsEnvelope) -> usize {
    envelope.message.len()
        + envelope.subject.as_deref().map_or(0, str::len)
        + envelope
            .message_attributes
            .iter()
            .map(|(name, a)| name.len() + a.kind.len() + a.value.len())
            .sum::<usize>()
}

/// The scenario of every hostile case: ordinary certificates before and after the hostile
/// one on the same page. Returns the ordinary certificates' TBS hashes.
struct Mixed {
    env: Env,
    hostile: Sha256Hash,
    ordinary: Vec<Sha256Hash>,
}

async fn mixed_page(names: Vec<String>, issuer: Option<String>) -> Mixed {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (_, first) = env.log_cert(&["a.example.com"]);
    let hostile = log_hostile(&env, names, issuer);
    let (_, second) = env.log_cert(&["b.example.com"]);
    let (_, third) = env.log_cert(&["c.example.com", "www.c.example.com"]);
    Mixed {
        env,
        hostile,
        ordinary: vec![first.tbs_sha256, second.tbs_sha256, third.tbs_sha256],
    }
}

/// One run: every certificate alerts, the entry is caught up, the alert items fit DynamoDB,
/// every SNS message and the email fit their limits. Returns the hostile alert's SNS body.
async fn run_and_check_limits(mixed: &Mixed) -> serde_json::Value {
    let env = &mixed.env;
    let report = invoke(&env.poller()).await;
    assert_eq!(report.entries_failed, 0, "{:?}", report.errors);
    assert_eq!(report.entries_caught_up, 1);
    assert_eq!(report.alerts_created.suspicious, 4, "{report:?}");

    let mut last_id = String::new();
    for tbs in mixed.ordinary.iter().chain([&mixed.hostile]) {
        let alert = env.alert(tbs).await;
        assert_eq!(alert.severity, Severity::Suspicious);
        assert_eq!(alert.sns.state, DeliveryState::Sent, "{tbs}");
        assert_eq!(alert.email.state, DeliveryState::Sent, "{tbs}");
        let bytes = stored_item_bytes(env, tbs).await;
        assert!(bytes <= ITEM_LIMIT, "alert item of {bytes} bytes");
        last_id = last_id.max(alert.issuance_id.clone());
    }
    assert_eq!(env.entry("example.com").await.cursor, Some(last_id));

    let sns = env.sns(4).await;
    assert_eq!(sns.len(), 4);
    for envelope in &sns {
        let bytes = sns_bytes(envelope);
        assert!(bytes <= SNS_MESSAGE_MAX, "SNS message of {bytes} bytes");
    }
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1, "one email for the run");
    assert!(
        emails[0].body.len() <= EMAIL_MAX_BYTES,
        "email of {} bytes",
        emails[0].body.len()
    );
    for tbs in mixed.ordinary.iter().chain([&mixed.hostile]) {
        let cert = env.alert(tbs).await.cert_sha256.to_hex().to_uppercase();
        assert!(emails[0].body.contains(&cert), "email lists {tbs}");
    }
    sns.iter()
        .map(body)
        .find(|b| b["tbs_sha256"] == mixed.hostile.to_hex())
        .expect("the hostile certificate's SNS message")
}

#[tokio::test]
async fn seven_thousand_names_do_not_blind_the_entry() {
    let env = Env::new().await;
    env.watch("example.com").await;
    // 7,000 names of 64 bytes: a 450 KB name list, over DynamoDB's 400 KB item limit.
    let mut names = names_of_len("unrelated.example.net", 6_999, 64);
    names.insert(3_500, "www.example.com".to_owned());
    let big = log_hostile(&env, names, None);

    let poller = env.poller();
    let report = invoke(&poller).await;
    assert_eq!(report.entries_failed, 0, "{:?}", report.errors);
    let alert = env.alert(&big).await;
    assert_eq!(alert.matched[0].names, ["www.example.com"]);
    assert_eq!(alert.names_total, Some(7_000));
    assert!(alert.names_truncated && !alert.matched_truncated);
    assert!(stored_item_bytes(&env, &big).await <= ITEM_LIMIT);

    // The next ordinary certificate on the domain alerts, and the cursor is past both.
    let (_, ordinary) = env.log_cert(&["shop.example.com"]);
    let report = invoke(&poller).await;
    assert_eq!(report.entries_failed, 0, "{:?}", report.errors);
    let next = env.alert(&ordinary.tbs_sha256).await;
    assert_eq!(
        env.entry("example.com").await.cursor.as_deref(),
        Some(next.issuance_id.as_str())
    );
}

#[tokio::test]
async fn certificate_with_2600_long_names_reaches_sns_and_email() {
    // 2,600 names of 100 bytes: a 260 KB list, over SNS's 256 KiB on its own.
    let mut names = names_of_len("unrelated.test", 2_599, 100);
    names.push("www.example.com".to_owned());
    let mixed = mixed_page(names, None).await;
    let message = run_and_check_limits(&mixed).await;
    assert_eq!(message["matched"][0]["names"][0], "www.example.com");
    assert_eq!(message["names_total"], 2_600);
    assert_eq!(message["names_truncated"], true);
    assert_eq!(message["truncated"], true);
    assert_eq!(message["matched_truncated"], false);
}

#[tokio::test]
async fn certificate_with_7000_names_on_a_mixed_page() {
    let mut names = names_of_len("unrelated.example.net", 6_998, 64);
    names.extend(["x.example.com".to_owned(), "y.example.com".to_owned()]);
    let mixed = mixed_page(names, None).await;
    let message = run_and_check_limits(&mixed).await;
    assert_eq!(
        message["matched"][0]["names"],
        serde_json::json!(["x.example.com", "y.example.com"])
    );
    assert_eq!(message["names_total"], 7_000);
    assert_eq!(message["matched_truncated"], false);
}

#[tokio::test]
async fn certificate_with_20000_matched_names_is_capped_with_a_flag() {
    // Every name is under the watched domain: the matched list itself is huge.
    let names = names_under("example.com", 20_000);
    let mixed = mixed_page(names, None).await;
    let message = run_and_check_limits(&mixed).await;
    assert_eq!(message["matched_names_total"], 20_000);
    assert_eq!(message["matched_truncated"], true);
    assert_eq!(message["truncated"], true);
    let listed = message["matched"][0]["names"].as_array().unwrap().len();
    assert!(
        listed > 1_000 && listed < 20_000,
        "{listed} matched names listed"
    );

    let alert = mixed.env.alert(&mixed.hostile).await;
    assert!(alert.matched_truncated);
    assert_eq!(alert.matched_names_total, Some(20_000));
    assert!(alert.matched[0].names.len() >= listed);
}

#[tokio::test]
async fn names_of_253_bytes_are_kept_whole_within_the_bounds() {
    let names = names_of_len("example.com", 2_600, 253);
    let expected_first = names[0].clone();
    let mixed = mixed_page(names, None).await;
    let message = run_and_check_limits(&mixed).await;
    assert_eq!(message["matched_names_total"], 2_600);
    assert_eq!(message["matched_truncated"], true);
    let alert = mixed.env.alert(&mixed.hostile).await;
    assert!(alert.matched[0].names.contains(&expected_first));
    assert!(alert.matched[0].names.iter().all(|n| n.len() == 253));
}

#[tokio::test]
async fn issuer_name_of_64_kb_is_cut() {
    let issuer = format!("CN={}", "X".repeat(64 * 1024));
    let mixed = mixed_page(vec!["www.example.com".to_owned()], Some(issuer)).await;
    let message = run_and_check_limits(&mixed).await;
    let name = message["issuer"]["name"].as_str().unwrap();
    assert!(name.len() <= 1024 && name.ends_with('…'), "{}", name.len());
    assert!(name.starts_with("CN=XXX"));
}

#[tokio::test]
async fn an_alert_refused_by_dynamodb_is_stored_reduced_and_the_cursor_moves_on() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (_, refused) = env.log_cert(&["www.example.com"]);
    let (_, ordinary) = env.log_cert(&["shop.example.com"]);
    let proxy = env.proxy().await;
    // DynamoDB refuses the page's batch, then the first alert on its own (as it does for an
    // item over the size limit); the reduced alert and the next one are accepted.
    proxy.inject(
        Service::DynamoDb,
        "TransactWriteItems",
        AwsFault::ItemTooLarge,
        1,
    );
    proxy.inject(Service::DynamoDb, "PutItem", AwsFault::ItemTooLarge, 1);

    let report = invoke(&env.poller_via(&proxy).await).await;
    assert_eq!(report.entries_failed, 0, "{:?}", report.errors);
    assert_eq!(report.alerts_reduced, 1);
    assert_eq!(proxy.pending_faults(), 0);

    let reduced = env.alert(&refused.tbs_sha256).await;
    assert_eq!(reduced.severity, Severity::Suspicious);
    let why = reduced.reduced.as_deref().expect("a reason");
    assert!(why.contains("could not be stored"), "{why}");
    assert_eq!(reduced.cert_sha256, refused.cert_sha256);
    assert_eq!(reduced.matched[0].entry.as_str(), "example.com");
    let next = env.alert(&ordinary.tbs_sha256).await;
    assert!(next.reduced.is_none());
    assert_eq!(
        env.entry("example.com").await.cursor.as_deref(),
        Some(next.issuance_id.as_str())
    );
    let sns = env.sns(2).await;
    let reduced_message = sns
        .iter()
        .map(body)
        .find(|b| b["tbs_sha256"] == refused.tbs_sha256.to_hex())
        .expect("the reduced alert is published");
    assert_eq!(reduced_message["reduced"], why);
}

#[tokio::test]
async fn an_entry_without_progress_for_three_runs_is_stuck_in_status_domains_and_emf() {
    let mut env = Env::new().await;
    env.set("STUCK_AFTER_RUNS", "3");
    env.watch("example.com").await;
    env.log_cert(&["www.example.com"]);
    let poller = env.poller();
    let app = InProcess::new(App::new(env.aws.store(), settings()));

    for run in 1..=3 {
        env.fake.push_fault(Fault::Status(500));
        let report = invoke(&poller).await;
        assert_eq!(report.entries_failed, 1);
        let stuck = u32::from(run == 3);
        assert_eq!(report.entries_stuck, stuck, "after run {run}");
        assert_eq!(report.emf()["EntriesStuck"], stuck, "after run {run}");
    }
    let entry = env.entry("example.com").await;
    assert_eq!(entry.stalled_runs, 3);
    assert!(entry.stuck_since.is_some());

    let status = send(&app, Req::get("/status").admin()).await.json();
    assert_eq!(status["stuck_entries"], serde_json::json!(["example.com"]));
    assert_eq!(status["entries"][0]["stuck"], true);
    let domains = send(&app, Req::get("/domains").admin()).await.json();
    assert_eq!(domains["items"][0]["stuck"], true);
    assert_eq!(domains["items"][0]["stalled_runs"], 3);
    assert!(domains["items"][0]["last_error"].is_string());

    // Progress clears it.
    let report = invoke(&poller).await;
    assert_eq!(report.entries_caught_up, 1);
    assert_eq!(report.emf()["EntriesStuck"], 0);
    let domains = send(&app, Req::get("/domains").admin()).await.json();
    assert_eq!(domains["items"][0]["stuck"], false);
    assert_eq!(domains["items"][0]["stalled_runs"], 0);
}
