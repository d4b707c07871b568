//! Expiry without renewal (issue 10 §5), end to end: certificates pushed through the real API
//! handler (Function URL events) into the emulator's inventory, the real poller handler run
//! with a clock inside the warning windows, SNS read back from a subscribed queue (message
//! attributes included) and SES from the emulator's sent mail. Time moves through an injected
//! clock, never by sleeping.

mod poller_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use api::App;
use chrono::{DateTime, Duration, Utc};
use ctguard::cert::CertIdentity;
use ctguard::model::{DeliveryState, Severity};
use ctguard::rules::{ExpiryStage, expiring_alert_id};
use ctguard::store::AlertStore;
use ctguard::store::dynamo::DynamoStore;
use ctguard_tests::api::event::{Req, send};
use ctguard_tests::api::{Callers, InProcess, settings};
use ctguard_tests::certs::{LeafSpec, TestCert};
use poller::app::LivePoller;
use poller_support::*;

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

/// A certificate valid from 80 days ago until `days_left` days from now.
fn deployed(env: &Env, names: &[&str], days_left: i64) -> (TestCert, CertIdentity) {
    let cert = env.ca.issue(&LeafSpec {
        valid_days: Some((-80, days_left)),
        ..LeafSpec::for_names(names.iter().copied())
    });
    let identity = CertIdentity::from_der(&cert.der).expect("factory cert parses");
    (cert, identity)
}

/// What a load balancer's deploy hook does: push the certificate (push token).
async fn push(api: &InProcess<DynamoStore>, cert: &TestCert) {
    let r = send(api, Req::post("/certs").push().pem(&cert.pem)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn an_unrenewed_certificate_warns_at_both_thresholds_once_and_a_renewal_resolves_it() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let clock = TestClock::default();
    let api = clock.api(&env);
    let (old, old_id) = deployed(&env, &["shop.example.com", "www.shop.example.com"], 10);
    push(&api, &old).await;

    // Ten days left: inside the first warning (14 days), not the second (3 days).
    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.expiring_alerts, 1);
    assert_eq!(report.emf()["ExpiringAlerts"], 1);
    let first_id = expiring_alert_id(&old_id.tbs_sha256, ExpiryStage::First);
    let alert = env.alert(&first_id).await;
    assert_eq!(alert.severity, Severity::Suspicious);
    assert_eq!(alert.reasons.len(), 1);
    assert_eq!(alert.not_after, old_id.not_after);
    assert_eq!(alert.cert_sha256, old_id.cert_sha256);
    assert_eq!(
        alert.issuance_id,
        format!("inventory:{}", old_id.tbs_sha256)
    );
    assert_eq!(alert.sns.state, DeliveryState::Sent);
    assert_eq!(alert.email.state, DeliveryState::Sent);
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1);
    assert_eq!(attribute(&sns[0], "reasons"), Some(r#"["expiring"]"#));
    assert_eq!(attribute(&sns[0], "severity"), Some("suspicious"));
    assert_eq!(attribute(&sns[0], "domain"), Some("example.com"));
    let subject = sns[0].subject.as_deref().unwrap_or_default();
    assert!(subject.contains("EXPIRING"), "{subject}");
    let message = body(&sns[0]);
    assert_eq!(message["reasons"][0]["code"], "expiring");
    let detail = message["reasons"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("shop.example.com, www.shop.example.com")
            && detail.contains("no renewal was pushed"),
        "{detail}"
    );
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0].subject.contains("EXPIRING"),
        "{}",
        emails[0].subject
    );
    assert!(
        emails[0]
            .body
            .contains("expiring: the deployed certificate for shop.example.com"),
        "{}",
        emails[0].body
    );

    // A rerun (and the next day's): nothing new.
    invoke(&clock.poller(&env)).await;
    clock.advance(Duration::days(1));
    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.expiring_alerts, 0);
    assert!(env.sns(0).await.is_empty());
    assert_eq!(env.emails().await.len(), 1);

    // Two days left: the second warning, once.
    clock.advance(Duration::days(7));
    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.expiring_alerts, 1);
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1);
    assert_eq!(attribute(&sns[0], "reasons"), Some(r#"["expiring"]"#));
    let second_id = expiring_alert_id(&old_id.tbs_sha256, ExpiryStage::Second);
    assert_eq!(env.alert(&second_id).await.sns.state, DeliveryState::Sent);
    assert_eq!(env.emails().await.len(), 2);
    invoke(&clock.poller(&env)).await;
    assert!(
        env.sns(0).await.is_empty(),
        "the second warning is sent once"
    );

    // The renewal (a wildcard serves www) is pushed: both alerts are resolved, nothing more
    // is raised.
    let (renewal, renewal_id) = deployed(&env, &["shop.example.com", "*.shop.example.com"], 90);
    push(&api, &renewal).await;
    for id in [first_id, second_id] {
        let ack = env.store.get_alert(&id).await.unwrap().unwrap().ack;
        let ack = ack.expect("resolved by the renewal");
        assert_eq!(ack.by, api::push::RENEWAL_ACK_BY);
        assert!(
            ack.note
                .as_deref()
                .is_some_and(|n| n.contains(&renewal_id.tbs_sha256.to_hex())),
            "{ack:?}"
        );
    }
    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.expiring_alerts, 0);
    assert!(env.sns(0).await.is_empty());
    assert_eq!(env.emails().await.len(), 2);
}

#[tokio::test]
async fn deleted_renewed_and_unwatched_certificates_raise_nothing() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let clock = TestClock::default();
    let api = clock.api(&env);

    // Deleted by an admin: its records go with it.
    let (deleted, deleted_id) = deployed(&env, &["api.example.com"], 5);
    push(&api, &deleted).await;
    let r = send(
        &api,
        Req::delete(&format!("/certs/{}", deleted_id.tbs_sha256)).admin(),
    )
    .await;
    assert_eq!(r.status, 204);
    // Renewed by a wildcard one label up, pushed before the run.
    let (old, old_id) = deployed(&env, &["old.example.com"], 5);
    push(&api, &old).await;
    let (wildcard, _) = deployed(&env, &["*.example.com"], 90);
    push(&api, &wildcard).await;
    // Renewed by the same names, pushed in the other order (the older one late).
    let (renewed, _) = deployed(&env, &["cdn.example.com"], 90);
    push(&api, &renewed).await;
    let (late, _) = deployed(&env, &["cdn.example.com"], 4);
    push(&api, &late).await;
    // Not a watched domain: ctguard does not report on it.
    let (unwatched, _) = deployed(&env, &["www.example.net"], 5);
    push(&api, &unwatched).await;
    // A wildcard two labels up does not serve: this one alerts (the control).
    let (deep, deep_id) = deployed(&env, &["a.b.example.com"], 6);
    push(&api, &deep).await;

    let report = invoke(&clock.poller(&env)).await;
    assert_eq!(report.expiring_alerts, 1, "{report:?}");
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1);
    assert_eq!(
        body(&sns[0])["issuance_id"],
        format!("inventory:{}", deep_id.tbs_sha256)
    );
    let alerts = env.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        env.store
            .get_alert(&expiring_alert_id(&old_id.tbs_sha256, ExpiryStage::First))
            .await
            .unwrap()
            .is_none()
    );
}
