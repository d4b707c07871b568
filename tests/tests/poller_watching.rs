//! Proof that ctguard is still watching (issue 8 §5), end to end: the real poller handler on the
//! emulator with the fake Cert Spotter, the real API handler (Function URL events) on the same
//! tables, SNS read back from a subscribed queue and SES from the emulator's sent mail. Time
//! moves through an injected clock, never by sleeping.
//!
//! - Canary: its issuances are expected (no alert); silence past the window is a `health`
//!   alert on SNS and email; it is polled at most every `CANARY_POLL_INTERVAL`.
//! - Pushed but never logged: a pushed certificate with embedded SCTs that CT never shows
//!   for its watched domain within the window is a `health` alert; no SCTs: exempt.
//! - Coverage: each entry's last catch-up, the oldest in `GET /status` and
//!   `MaxEntryLagSeconds` in the run's EMF record.

mod poller_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use api::App;
use chrono::{DateTime, Duration, Utc};
use ctguard::cert::CertIdentity;
use ctguard::store::dynamo::DynamoStore;
use ctguard_tests::api::event::{Req, send};
use ctguard_tests::api::{Callers, InProcess, settings};
use ctguard_tests::aws::SnsEnvelope;
use ctguard_tests::certs::{LeafSpec, TestCert};
use ctguard_tests::fake_certspotter::Fault;
use poller::app::LivePoller;
use poller_support::*;
use serde_json::Value;

const CANARY: &str = "test.certspotter.org";

/// Wall clock plus an offset the test moves forward.
#[derive(Clone, Default)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::seconds(self.0.load(Ordering::SeqCst))
    }
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.num_seconds(), Ordering::SeqCst);
    }
    fn poller(&self, env: &Env) -> LivePoller {
        let clock = self.clone();
        env.poller().with_clock(Arc::new(move || clock.now()))
    }
    fn api(&self, env: &Env) -> InProcess<DynamoStore> {
        let clock = self.clone();
        InProcess::new(App::new(env.aws.store(), settings()).with_clock(move || clock.now()))
    }
}

fn queries_for(env: &Env, domain: &str) -> usize {
    env.fake
        .queries()
        .iter()
        .filter(|q| q.param("domain") == Some(domain))
        .count()
}

fn health(messages: &[SnsEnvelope]) -> Vec<&SnsEnvelope> {
    messages
        .iter()
        .filter(|m| attribute(m, "severity") == Some("health"))
        .collect()
}

async fn domain_view(app: &InProcess<DynamoStore>, domain: &str) -> Value {
    let r = send(app, Req::get("/domains").admin()).await;
    assert_eq!(r.status, 200);
    r.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|d| d["value"] == domain)
        .cloned()
        .unwrap_or_else(|| panic!("{domain} is not listed"))
}

fn canary_cert(env: &Env, label: &str) -> TestCert {
    let cert = env
        .ca
        .issue(&LeafSpec::for_names([format!("{label}.{CANARY}")]));
    env.fake.add_cert_der(&cert.der);
    cert
}

#[tokio::test]
async fn canary_issuances_are_expected_and_silence_raises_one_health_alert() {
    let mut env = Env::new().await;
    env.set("CANARY_DOMAIN", CANARY);
    env.set("CANARY_WINDOW", "36h");
    env.set("CANARY_POLL_INTERVAL", "6h");
    let clock = TestClock::default();
    let api = clock.api(&env);
    canary_cert(&env, "monday");

    // First run: the canary entry is seeded from the configuration and polled; its issuance
    // is expected: no alert, no message.
    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(
        report.alerts_created.suspicious + report.alerts_created.info,
        0
    );
    assert!(
        env.alerts().await.is_empty(),
        "a canary issuance is not an alert"
    );
    assert_eq!(report.emf()["CanaryBlind"], 0);
    let view = domain_view(&api, CANARY).await;
    assert_eq!(view["canary"], true);
    assert!(view["canary_last_issuance_at"].is_string(), "{view}");
    assert!(report.queries_used >= 1, "the canary was polled");

    // One hour later: not due, Cert Spotter is not asked (quota).
    clock.advance(Duration::hours(1));
    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.queries_used, 0, "polled again within the interval");
    assert_eq!(report.entries_polled, 0);

    // Seven hours after the first poll: due again; a new daily certificate arrives.
    clock.advance(Duration::hours(6));
    canary_cert(&env, "tuesday");
    let report = invoke(&clock.poller(&env)).await;
    assert!(
        report.queries_used >= 1,
        "the canary was not polled when due"
    );
    // Cert Spotter saw both polls (the first one's two pages, the second one's).
    assert!(queries_for(&env, CANARY) >= 3);
    assert_eq!(report.emf()["CanaryBlind"], 0);
    let seen_at = domain_view(&api, CANARY).await["canary_last_issuance_at"]
        .as_str()
        .expect("last canary issuance recorded")
        .to_owned();
    assert!(env.sns(0).await.is_empty());
    assert!(env.emails().await.is_empty());

    // 37 hours of silence (polled, nothing new): the monitor is blind.
    clock.advance(Duration::hours(37));
    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.emf()["CanaryBlind"], 1);
    let messages = env.sns(1).await;
    let alerts = health(&messages);
    assert_eq!(alerts.len(), 1, "{messages:?}");
    let text = &alerts[0].message;
    assert!(
        text.contains("monitor blind: no canary issuance since"),
        "{text}"
    );
    assert!(
        text.contains(&seen_at[..16]),
        "names the last issuance time: {text}"
    );
    assert_eq!(attribute(alerts[0], "domain"), Some(CANARY));
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0].subject.contains("monitor blind"),
        "{}",
        emails[0].subject
    );
    assert!(emails[0].body.contains("no canary issuance since"));

    // Still blind an hour later: not repeated every run.
    clock.advance(Duration::hours(1));
    invoke(&clock.poller(&env)).await;
    assert!(
        health(&env.sns(0).await).is_empty(),
        "health alert repeated"
    );
    assert_eq!(env.emails().await.len(), 1);
}

/// A certificate as a CA hands it out: embedded SCTs (or none, for a private CA).
fn leaf(env: &Env, name: &str, with_scts: bool) -> (TestCert, CertIdentity) {
    let cert = env.ca.issue(&LeafSpec {
        sct_list: with_scts,
        ..LeafSpec::for_names([name])
    });
    let identity = CertIdentity::from_der(&cert.der).expect("factory cert parses");
    (cert, identity)
}

async fn push(api: &InProcess<DynamoStore>, cert: &TestCert) {
    let r = send(api, Req::post("/certs").push().pem(&cert.pem)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn pushed_certificate_with_scts_never_seen_in_ct_raises_a_health_alert() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let clock = TestClock::default();
    let api = clock.api(&env);

    let (never_logged, never_logged_id) = leaf(&env, "www.example.com", true);
    let (private_ca, _) = leaf(&env, "intranet.example.com", false);
    let (logged, logged_id) = leaf(&env, "shop.example.com", true);
    let (unwatched, _) = leaf(&env, "www.example.net", true);
    for cert in [&never_logged, &private_ca, &logged, &unwatched] {
        push(&api, cert).await;
    }
    // Only `logged` appears in CT (as Cert Spotter reports it: by its RFC 6962 TBS hash).
    env.fake
        .add_cert_der_with_tbs(&logged.der, logged_id.tbs_sha256.0);

    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.alerts_created.info, 1);
    let r = send(
        &api,
        Req::get(&format!("/certs/{}", logged_id.tbs_sha256)).admin(),
    )
    .await;
    assert!(
        r.json()["ct_seen_at"].is_string(),
        "when the pushed certificate was seen in CT is recorded: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(
        health(&env.sns(1).await).is_empty(),
        "too early for a health alert"
    );

    // A day and an hour later, the SCT-bearing certificate is still not in CT.
    clock.advance(Duration::hours(25));
    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.emf()["PushedNotLogged"], 1);
    let messages = env.sns(1).await;
    let alerts = health(&messages);
    assert_eq!(alerts.len(), 1, "exactly one: {messages:?}");
    let text = &alerts[0].message;
    assert!(
        text.contains(&never_logged_id.tbs_sha256.to_hex()),
        "{text}"
    );
    assert!(text.contains("www.example.com"), "{text}");
    assert_eq!(attribute(alerts[0], "domain"), Some("example.com"));
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    assert!(emails[0].body.contains("www.example.com"));
    assert!(
        !emails[0].body.contains("intranet.example.com"),
        "no SCTs: exempt"
    );

    // Reported once.
    clock.advance(Duration::hours(1));
    invoke(&clock.poller(&env)).await;
    assert!(health(&env.sns(0).await).is_empty());
}

#[tokio::test]
async fn coverage_reports_the_entry_that_caught_up_longest_ago() {
    let env = Env::new().await;
    env.watch("example.com").await;
    env.watch("example.org").await;
    let clock = TestClock::default();
    let api = clock.api(&env);

    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.entries_caught_up, 2);
    let lag = report.emf()["MaxEntryLagSeconds"]
        .as_u64()
        .expect("declared");
    assert!(lag < 60, "both just caught up: {lag}");

    // Three hours later example.com (polled first: same age, name order) fails.
    clock.advance(Duration::hours(3));
    env.fake.push_fault(Fault::Status(500));
    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.entries_failed, 1);
    let emf = report.emf();
    let lag = emf["MaxEntryLagSeconds"].as_u64().expect("declared");
    assert!((3 * 3600..3 * 3600 + 120).contains(&lag), "{lag}");
    let declared: Vec<&str> = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["Name"].as_str())
        .collect();
    assert!(declared.contains(&"MaxEntryLagSeconds"));

    let r = send(&api, Req::get("/status").admin()).await;
    assert_eq!(r.status, 200);
    let coverage = &r.json()["coverage"];
    assert_eq!(coverage["oldest_entry"], "example.com", "{coverage}");
    let lag = coverage["max_lag_seconds"].as_i64().expect("lag");
    assert!((3 * 3600..3 * 3600 + 120).contains(&lag), "{coverage}");
    assert!(coverage["oldest_caught_up_at"].is_string(), "{coverage}");
    let entry = domain_view(&api, "example.com").await;
    assert!(entry["last_caught_up_at"].is_string(), "{entry}");
}
