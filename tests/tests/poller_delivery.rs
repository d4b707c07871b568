//! What reaches the subscribers, end to end (the real handler, the emulator's DynamoDB, SNS read
//! back from subscribed SQS queues, SES from the emulator's record of sent mail):
//! - baseline summaries: a certificate matching several entries in their baseline is listed in
//!   every matched entry's summary, with that summary's counts and `domain`/`domains`
//!   attributes, so a subscriber filtering on any of those entries sees it;
//! - delivery in the run that found an alert, even when the alerts table's GSIs lag behind
//!   its writes (the emulator's optional GSI delay: DynamoDB's GSIs are eventually consistent).

mod poller_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ctguard::hash::Sha256Hash;
use ctguard::model::{BackfillMode, DeliveryState, Severity};
use ctguard_tests::aws::{SnsEnvelope, SnsProbe};
use ctguard_tests::certs::LeafSpec;
use ctguard_tests::gsi_lag::{ALL_INDEXES, delay_gsi};
use poller::message::{ALERT_SCHEMA, BASELINE_SCHEMA};
use poller_support::*;

/// Longer than any test: every item the test writes stays hidden from the lagging index.
const LAG_SECONDS: f64 = 3600.0;

/// One baseline summary as a subscriber reads it.
#[derive(Debug)]
struct Summary {
    domain: String,
    domains: Vec<String>,
    severity: String,
    total: u64,
    authorized: u64,
    unauthorized: u64,
    /// `tbs_sha256` of every listed (unauthorized) certificate.
    listed: BTreeSet<String>,
}

fn summary(envelope: &SnsEnvelope) -> Summary {
    let body = body(envelope);
    assert_eq!(body["schema"], BASELINE_SCHEMA, "not a summary: {body}");
    let count = |field: &str| body[field].as_u64().expect("a count");
    Summary {
        domain: body["domain"].as_str().expect("domain").to_owned(),
        domains: serde_json::from_str(attribute(envelope, "domains").expect("domains attribute"))
            .expect("domains is a JSON array"),
        severity: attribute(envelope, "severity")
            .expect("severity")
            .to_owned(),
        total: count("total"),
        authorized: count("authorized"),
        unauthorized: count("unauthorized"),
        listed: body["unauthorized_certificates"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|c| c["tbs_sha256"].as_str().expect("tbs").to_owned())
            .collect(),
    }
}

/// The summaries among `envelopes`, by entry; an entry summarized twice fails the test.
fn summaries(envelopes: &[SnsEnvelope]) -> BTreeMap<String, Summary> {
    let mut by_entry = BTreeMap::new();
    for envelope in envelopes {
        let s = summary(envelope);
        let domain = s.domain.clone();
        assert!(
            by_entry.insert(domain.clone(), s).is_none(),
            "two summaries for {domain}"
        );
    }
    by_entry
}

fn hex(tbs: &Sha256Hash) -> String {
    tbs.to_hex()
}

fn set(hashes: &[&Sha256Hash]) -> BTreeSet<String> {
    hashes.iter().map(|h| hex(h)).collect()
}

/// A second SQS queue on the alert topic that only receives messages whose `domains`
/// attribute includes `domain` (an SNS filter policy, as a team's subscription would use).
async fn filtered_probe(env: &Env, domain: &str) -> SnsProbe {
    let aws = &env.aws;
    let name = aws.unique(&format!("only-{}", domain.replace('.', "-")));
    let queue_url = aws
        .sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue URL");
    let queue_arn = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue ARN");
    aws.sns
        .subscribe()
        .topic_arn(&env.probe.topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes(
            "FilterPolicy",
            serde_json::json!({ "domains": [domain] }).to_string(),
        )
        .send()
        .await
        .expect("Subscribe with a filter policy");
    SnsProbe {
        topic_arn: env.probe.topic_arn.clone(),
        queue_url,
    }
}

#[tokio::test]
async fn a_certificate_shared_by_two_baselines_is_in_both_summaries() {
    let env = Env::new().await;
    env.watch_new("a.example", BackfillMode::Summary).await;
    env.watch_new("b.example", BackfillMode::Summary).await;
    let only_b = filtered_probe(&env, "b.example").await;
    let (_, shared) = env.log_cert(&["www.a.example", "www.b.example"]);
    let (_, shared_known) = env.log_cert(&["api.a.example", "api.b.example"]);
    let (_, a_only) = env.log_cert(&["old.a.example"]);
    let (_, b_only) = env.log_cert(&["old.b.example"]);
    env.push_cert(&shared_known).await;

    let report = invoke(&env.poller()).await;
    assert_eq!(report.baselines_completed, 2);

    let by_entry = summaries(&env.sns(2).await);
    assert_eq!(
        by_entry.keys().collect::<Vec<_>>(),
        ["a.example", "b.example"]
    );
    for (entry, own) in [("a.example", &a_only), ("b.example", &b_only)] {
        let s = &by_entry[entry];
        assert_eq!(
            (s.total, s.authorized, s.unauthorized),
            (3, 1, 2),
            "{entry}: {s:?}"
        );
        assert_eq!(s.listed, set(&[&shared.tbs_sha256, &own.tbs_sha256]));
        assert_eq!(s.domains, [entry]);
        assert_eq!(s.severity, "suspicious");
    }

    // A subscriber filtering on the second entry gets its summary, shared certificate included.
    let filtered = env
        .aws
        .receive_sns(&only_b, 1, Duration::from_secs(5))
        .await;
    assert_eq!(filtered.len(), 1, "exactly b.example's summary");
    let s = summary(&filtered[0]);
    assert_eq!(s.domain, "b.example");
    assert!(s.listed.contains(&hex(&shared.tbs_sha256)));

    // One email per entry, each listing the shared certificate.
    let emails = env.emails().await;
    assert_eq!(emails.len(), 2);
    let shared_alert = env.alert(&shared.tbs_sha256).await;
    let upper = shared_alert.cert_sha256.to_hex().to_uppercase();
    for entry in ["a.example", "b.example"] {
        let email = emails
            .iter()
            .find(|e| e.subject.contains(entry))
            .unwrap_or_else(|| panic!("no baseline email for {entry}"));
        assert!(email.body.contains(&upper), "{entry}'s email lacks it");
    }
    for cert in [&shared, &shared_known, &a_only, &b_only] {
        let alert = env.alert(&cert.tbs_sha256).await;
        assert!(alert.baseline);
        assert_eq!(alert.sns.state, DeliveryState::Sent);
        assert_eq!(alert.sns.attempts, 1);
        assert_eq!(alert.email.state, DeliveryState::Sent);
    }
}

#[tokio::test]
async fn certificates_shared_by_three_baselines_are_in_every_matched_summary() {
    let env = Env::new().await;
    for entry in ["a.example", "b.example", "c.example"] {
        env.watch_new(entry, BackfillMode::Summary).await;
    }
    let (_, ab) = env.log_cert(&["x.a.example", "x.b.example"]);
    let (_, abc) = env.log_cert(&["y.a.example", "y.b.example", "y.c.example"]);
    let (_, bc) = env.log_cert(&["z.b.example", "z.c.example"]);
    let (_, c_only) = env.log_cert(&["old.c.example"]);
    let (_, abc_known) = env.log_cert(&["k.a.example", "k.b.example", "k.c.example"]);
    env.push_cert(&abc_known).await;

    invoke(&env.poller()).await;

    let by_entry = summaries(&env.sns(3).await);
    assert_eq!(by_entry.len(), 3, "{by_entry:?}");
    let expect = [
        ("a.example", vec![&ab.tbs_sha256, &abc.tbs_sha256]),
        (
            "b.example",
            vec![&ab.tbs_sha256, &abc.tbs_sha256, &bc.tbs_sha256],
        ),
        (
            "c.example",
            vec![&abc.tbs_sha256, &bc.tbs_sha256, &c_only.tbs_sha256],
        ),
    ];
    for (entry, unauthorized) in expect {
        let s = &by_entry[entry];
        let n = unauthorized.len() as u64;
        assert_eq!(
            (s.total, s.authorized, s.unauthorized),
            (n + 1, 1, n),
            "{entry}: {s:?}"
        );
        assert_eq!(s.listed, set(&unauthorized), "{entry}");
        assert_eq!(s.domains, [entry]);
    }
    assert_eq!(env.emails().await.len(), 3, "one summary email per entry");
}

#[tokio::test]
async fn a_shared_certificate_waits_for_every_baseline_then_is_in_each_summary() {
    let mut env = Env::new().await;
    env.fake.set_page_sizes(&[1]);
    // Run 1 finishes a.example's baseline (1 issuance + the empty page) but not b.example's.
    env.set("QUERY_BUDGET", "3");
    env.watch_new("a.example", BackfillMode::Summary).await;
    env.watch_new("b.example", BackfillMode::Summary).await;
    let (_, shared) = env.log_cert(&["www.a.example", "www.b.example"]);
    let (_, b_only) = env.log_cert(&["old.b.example"]);

    let first = invoke(&env.poller()).await;
    assert_eq!(first.baselines_completed, 1);
    let held = env.alert(&shared.tbs_sha256).await;
    assert_eq!(
        held.sns.state,
        DeliveryState::Queued,
        "held until b.example completes"
    );
    assert!(env.sns(0).await.is_empty());

    env.set("QUERY_BUDGET", "50");
    let second = invoke(&env.poller()).await;
    assert_eq!(second.baselines_completed, 1);
    let by_entry = summaries(&env.sns(2).await);
    assert_eq!(by_entry["a.example"].listed, set(&[&shared.tbs_sha256]));
    assert_eq!(by_entry["a.example"].total, 1);
    assert_eq!(
        by_entry["b.example"].listed,
        set(&[&shared.tbs_sha256, &b_only.tbs_sha256])
    );
    assert_eq!(by_entry["b.example"].total, 2);
}

#[tokio::test]
async fn new_alerts_are_delivered_in_the_same_run_while_every_alert_index_lags() {
    let mut env = Env::new().await;
    env.set("EMAIL_INCLUDE_INFO", "true");
    delay_gsi(
        &env.aws.endpoint,
        &env.aws.tables.alerts,
        ALL_INDEXES,
        LAG_SECONDS,
    )
    .await;
    env.watch("example.com").await;
    env.watch("example.net").await;
    let (_, one) = env.log_cert(&["www.example.com"]);
    let (_, two) = env.log_cert(&["mail.example.com", "www.example.net"]);
    let (_, known) = env.log_cert(&["api.example.net"]);
    env.push_cert(&known).await;

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.suspicious, 2);
    assert_eq!(report.alerts_created.info, 1);
    assert_eq!(
        report.deliveries_ok, 6,
        "3 alerts on each channel (one email)"
    );

    let sns = env.sns(3).await;
    let published: BTreeSet<String> = sns
        .iter()
        .map(|e| {
            let body = body(e);
            assert_eq!(body["schema"], ALERT_SCHEMA);
            body["tbs_sha256"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        published,
        set(&[&one.tbs_sha256, &two.tbs_sha256, &known.tbs_sha256])
    );
    assert_eq!(sns.len(), 3, "each published once");
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1, "one email for the run");
    for cert in [&one, &two, &known] {
        let alert = env.alert(&cert.tbs_sha256).await;
        assert_eq!(alert.sns.state, DeliveryState::Sent);
        assert_eq!(alert.email.state, DeliveryState::Sent);
        let upper = alert.cert_sha256.to_hex().to_uppercase();
        assert!(emails[0].body.contains(&upper));
    }

    // The next run (index still behind) sends nothing again.
    let again = invoke(&env.poller()).await;
    assert_eq!(again.deliveries_ok, 0);
    assert!(env.sns(0).await.is_empty());
}

#[tokio::test]
async fn a_baseline_summary_is_sent_in_the_same_run_while_every_alert_index_lags() {
    let env = Env::new().await;
    delay_gsi(
        &env.aws.endpoint,
        &env.aws.tables.alerts,
        ALL_INDEXES,
        LAG_SECONDS,
    )
    .await;
    env.watch_new("a.example", BackfillMode::Summary).await;
    env.watch_new("b.example", BackfillMode::Summary).await;
    let (_, shared) = env.log_cert(&["www.a.example", "www.b.example"]);
    let (_, a_only) = env.log_cert(&["old.a.example"]);

    let report = invoke(&env.poller()).await;
    assert_eq!(report.baselines_completed, 2);
    let by_entry = summaries(&env.sns(2).await);
    assert_eq!(
        by_entry["a.example"].listed,
        set(&[&shared.tbs_sha256, &a_only.tbs_sha256])
    );
    assert_eq!(by_entry["a.example"].total, 2);
    assert_eq!(by_entry["b.example"].listed, set(&[&shared.tbs_sha256]));
    assert_eq!(by_entry["b.example"].total, 1);
    for cert in [&shared, &a_only] {
        assert_eq!(
            env.alert(&cert.tbs_sha256).await.sns.state,
            DeliveryState::Sent
        );
    }
}

#[tokio::test]
async fn a_resolved_pending_alert_is_delivered_in_the_run_that_resolved_it_while_the_outbox_lags() {
    let mut env = Env::new().await;
    env.set("GRACE_PERIOD", "30m");
    // Only the outbox lags: the pending alert, written a run ago, is long visible in the
    // severity index in a real deployment (runs are minutes apart).
    delay_gsi(
        &env.aws.endpoint,
        &env.aws.tables.alerts,
        "outbox",
        LAG_SECONDS,
    )
    .await;
    env.watch("example.com").await;
    let (precert, final_cert) = env.ca.issue_pair(&LeafSpec::for_names(["www.example.com"]));
    let precert_id = ctguard::cert::CertIdentity::from_der(&precert.der).unwrap();
    env.fake
        .add_cert_der_with_tbs(&precert.der, precert_id.tbs_sha256.0);

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.pending, 1);
    assert!(env.sns(0).await.is_empty(), "nothing is sent while pending");

    let final_id = ctguard::cert::CertIdentity::from_der(&final_cert.der).unwrap();
    env.push_cert(&final_id).await;
    let report = invoke(&env.poller()).await;
    assert_eq!(report.pending_resolved.info, 1);
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1);
    assert_eq!(attribute(&sns[0], "severity"), Some("info"));
    let alert = env.alert(&precert_id.tbs_sha256).await;
    assert_eq!(alert.severity, Severity::Info);
    assert_eq!(alert.sns.state, DeliveryState::Sent);
}

#[tokio::test]
async fn the_outbox_still_delivers_what_an_earlier_run_left_queued_once_the_index_shows_it() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (_, cert) = env.log_cert(&["www.example.com"]);
    // A run that stored the alert and died before delivering: SNS unreachable, so the alert
    // stays queued (the retry path of the outbox).
    let mut broken = env.config();
    broken.alert_topic_arn = Some(format!("{}-missing", env.probe.topic_arn));
    let dead = poller::app::build(&broken, &env.aws.config).expect("poller builds");
    invoke(&dead).await;
    assert_eq!(
        env.alert(&cert.tbs_sha256).await.sns.state,
        DeliveryState::Queued
    );

    // While the outbox lags the leftover is invisible to a run that did not create it...
    delay_gsi(
        &env.aws.endpoint,
        &env.aws.tables.alerts,
        "outbox",
        LAG_SECONDS,
    )
    .await;
    assert_eq!(invoke(&env.poller()).await.deliveries_ok, 0);
    // ...and delivered by the first run after the index caught up.
    delay_gsi(&env.aws.endpoint, &env.aws.tables.alerts, "outbox", 0.0).await;
    let report = invoke(&env.poller()).await;
    assert_eq!(report.deliveries_ok, 1);
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1);
    assert_eq!(
        body(&sns[0])["tbs_sha256"],
        cert.tbs_sha256.to_hex().as_str()
    );
}

/// A run's DynamoDB requests per action, through the counting proxy, for one baseline: one
/// entry in its first poll finding three certificates, in a table already holding `history`
/// delivered alerts (half of them for that entry, half for another domain).
async fn baseline_run_requests(history: usize) -> (u64, BTreeMap<String, u64>) {
    use ctguard::model::Delivery;
    use ctguard::store::AlertStore;
    use ctguard_tests::fault_proxy::Service;
    let env = Env::new().await;
    let seen = chrono::Utc::now() - chrono::Duration::days(30);
    let old: Vec<_> = (0..history)
        .map(|n| {
            let domain = if n % 2 == 0 {
                "example.com"
            } else {
                "other.example"
            };
            let mut alert = ctguard_tests::store_contract::alert(
                &format!("history-{n}"),
                Severity::Suspicious,
                &[domain],
                seen + chrono::Duration::seconds(n as i64),
            );
            let sent = Delivery {
                state: DeliveryState::Sent,
                attempts: 1,
                ..Delivery::queued()
            };
            alert.sns = sent.clone();
            alert.email = sent;
            alert
        })
        .collect();
    for chunk in old.chunks(100) {
        env.store.create_alerts(chunk).await.expect("history");
    }
    env.watch_new("example.com", BackfillMode::Summary).await;
    for name in ["a", "b", "c"] {
        env.log_cert(&[&format!("{name}.example.com")]);
    }
    let proxy = env.proxy().await;
    let poller = env.poller_via(&proxy).await;
    let report = invoke(&poller).await;
    assert_eq!(report.baselines_completed, 1);
    assert_eq!(report.errors, Vec::<String>::new());
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1, "one summary");
    assert_eq!(summary(&sns[0]).total, 3);
    let by_action: BTreeMap<String, u64> = proxy
        .counts()
        .into_iter()
        .filter(|((service, _), _)| *service == Service::DynamoDb)
        .map(|((_, action), n)| (action, n))
        .collect();
    (proxy.total(Service::DynamoDb), by_action)
}

/// Baseline summaries read the sparse outbox index (the alerts still to deliver), not the
/// whole alert history: a run's DynamoDB requests do not grow with the delivered alerts the
/// table already holds.
#[tokio::test]
async fn baseline_summaries_cost_the_same_whatever_the_alert_history() {
    let (fresh_total, fresh) = baseline_run_requests(0).await;
    let (history_total, with_history) = baseline_run_requests(600).await;
    eprintln!("DynamoDB requests, empty table: {fresh_total} {fresh:?}");
    eprintln!("DynamoDB requests, 600 delivered alerts: {history_total} {with_history:?}");
    assert_eq!(fresh, with_history, "requests per action");
}
