//! The poller end to end under AWS faults: every AWS request of the real poller goes through
//! the fault-injecting proxy in front of the emulator, which fails chosen requests the way the
//! service would (the SDK retries them; a fault on as many requests as the SDK attempts is
//! what the poller sees).

mod poller_support;

use ctguard::model::DeliveryState;
use ctguard_tests::aws::SDK_MAX_ATTEMPTS;
use ctguard_tests::fault_proxy::Service;
use poller_support::*;

const ATTEMPTS: usize = SDK_MAX_ATTEMPTS as usize;

#[tokio::test]
async fn crash_between_storing_alerts_and_moving_the_cursor_duplicates_nothing() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (_, first) = env.log_cert(&["a.example.com"]);
    let (_, second) = env.log_cert(&["b.example.com"]);
    let proxy = env.proxy().await;
    let poller = env.poller_via(&proxy).await;
    // The first UpdateItem of the run is the cursor compare-and-set after the page's alerts
    // were written: it fails as if the Lambda died right there.
    proxy.fail_next(Service::DynamoDb, "UpdateItem", ATTEMPTS);

    let report = invoke(&poller).await;
    assert_eq!(proxy.pending_faults(), 0);
    assert_eq!(report.alerts_created.suspicious, 2);
    assert_eq!(report.entries_failed, 1);
    let entry = env.entry("example.com").await;
    assert_eq!(entry.cursor, None, "the cursor did not move");
    assert!(
        entry.last_error.is_some(),
        "the failure is in the poll status"
    );
    assert_eq!(env.sns(2).await.len(), 2, "stored alerts are delivered");

    let report = invoke(&poller).await;
    assert_eq!(report.issuances_seen, 2, "the page is read again");
    assert_eq!(
        report.alerts_created.suspicious, 0,
        "no alert is created twice"
    );
    let last = env.alert(&second.tbs_sha256).await;
    let entry = env.entry("example.com").await;
    assert_eq!(entry.cursor.as_deref(), Some(last.issuance_id.as_str()));
    assert_eq!(entry.last_error, None);
    assert!(env.sns(0).await.is_empty(), "no notification is sent twice");
    assert_eq!(env.emails().await.len(), 1);
    assert_eq!(env.alerts().await.len(), 2);
    let _ = first;
}

#[tokio::test]
async fn dynamodb_failure_mid_page_stops_that_entry_only() {
    let env = Env::new().await;
    env.watch("example.com").await;
    env.watch("example.org").await;
    env.log_cert(&["a.example.com"]);
    let (_, org) = env.log_cert(&["a.example.org"]);
    let proxy = env.proxy().await;
    let poller = env.poller_via(&proxy).await;
    // The alert write of the first entry's page fails.
    proxy.fail_next(Service::DynamoDb, "TransactWriteItems", ATTEMPTS);

    let report = invoke(&poller).await;
    assert!(!report.failed);
    assert_eq!(report.entries_failed, 1);
    assert_eq!(report.entries_caught_up, 1);
    let failed = env.entry("example.com").await;
    assert_eq!(failed.cursor, None);
    assert!(failed.last_error.unwrap().contains("TransactWriteItems"));
    let org_alert = env.alert(&org.tbs_sha256).await;
    assert_eq!(
        env.entry("example.org").await.cursor.as_deref(),
        Some(org_alert.issuance_id.as_str())
    );

    // The next run stores what the failed one could not.
    let report = invoke(&poller).await;
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(env.alerts().await.len(), 2);
}

#[tokio::test]
async fn store_down_fails_the_invocation() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let proxy = env.proxy().await;
    let poller = env.poller_via(&proxy).await;
    proxy.fail_next(Service::DynamoDb, "Scan", ATTEMPTS);

    let result = invoke_with(&poller, std::time::Duration::from_secs(60)).await;
    let error = result.expect_err("a run that cannot read the watch list is a failed invocation");
    assert!(error.to_string().contains("watch entries"), "{error}");
    assert!(env.fake.queries().is_empty());
}

#[tokio::test]
async fn sns_failing_then_recovering_delivers_once_later() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (_, cert) = env.log_cert(&["www.example.com"]);
    let proxy = env.proxy().await;
    let poller = env.poller_via(&proxy).await;
    proxy.fail_next(Service::Sns, "Publish", ATTEMPTS);

    let report = invoke(&poller).await;
    assert_eq!(report.deliveries_failed, 1);
    assert_eq!(proxy.pending_faults(), 0);
    let alert = env.alert(&cert.tbs_sha256).await;
    assert_eq!(alert.sns.state, DeliveryState::Queued);
    assert_eq!(alert.sns.attempts, 1);
    assert!(alert.sns.last_error.is_some());
    assert_eq!(
        alert.email.state,
        DeliveryState::Sent,
        "email is independent"
    );
    assert!(env.sns(0).await.is_empty());

    let report = invoke(&poller).await;
    assert_eq!(report.deliveries_ok, 1);
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1);
    assert_eq!(body(&sns[0])["tbs_sha256"], cert.tbs_sha256.to_hex());
    let alert = env.alert(&cert.tbs_sha256).await;
    assert_eq!(alert.sns.state, DeliveryState::Sent);
    assert_eq!(alert.sns.attempts, 2);

    invoke(&poller).await;
    assert!(env.sns(0).await.is_empty(), "never twice");
    assert_eq!(env.emails().await.len(), 1);
}

#[tokio::test]
async fn ses_failing_then_recovering_delivers_once_later() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (_, cert) = env.log_cert(&["www.example.com"]);
    let proxy = env.proxy().await;
    let poller = env.poller_via(&proxy).await;
    proxy.fail_next(Service::SesV2, "SendEmail", ATTEMPTS);

    let report = invoke(&poller).await;
    assert_eq!(report.deliveries_failed, 1);
    assert!(env.emails().await.is_empty());
    let alert = env.alert(&cert.tbs_sha256).await;
    assert_eq!(alert.email.state, DeliveryState::Queued);
    assert_eq!(alert.sns.state, DeliveryState::Sent);

    invoke(&poller).await;
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    assert!(emails[0].body.contains("www.example.com"));
    assert_eq!(
        env.alert(&cert.tbs_sha256).await.email.state,
        DeliveryState::Sent
    );
    invoke(&poller).await;
    assert_eq!(env.emails().await.len(), 1, "never twice");
    assert_eq!(env.sns(1).await.len(), 1);
}

/// Throttling that outlasts the SDK's own retries rests the channel for the run: the alert is
/// released with no attempt spent (with `MAX_DELIVERY_ATTEMPTS=1` a counted failure would
/// fail it for good) and goes out on the next run, once.
#[tokio::test]
async fn throttling_past_the_sdk_retries_spends_no_attempt() {
    let mut env = Env::new().await;
    env.set("MAX_DELIVERY_ATTEMPTS", "1");
    env.watch("example.com").await;
    let (_, cert) = env.log_cert(&["www.example.com"]);
    let proxy = env.proxy().await;
    let poller = env.poller_via(&proxy).await;
    proxy.throttle_next(Service::Sns, "Publish", ATTEMPTS);
    proxy.throttle_next(Service::SesV2, "SendEmail", ATTEMPTS);

    let report = invoke(&poller).await;
    assert_eq!(proxy.pending_faults(), 0, "the SDK retried each throttle");
    assert_eq!(report.deliveries_throttled, 2);
    assert_eq!(
        (report.deliveries_failed, report.deliveries_gave_up),
        (0, 0)
    );
    let alert = env.alert(&cert.tbs_sha256).await;
    for delivery in [&alert.sns, &alert.email] {
        assert_eq!(
            (delivery.state, delivery.attempts),
            (DeliveryState::Queued, 0)
        );
        let error = delivery.last_error.as_deref().unwrap_or_default();
        assert!(error.starts_with("throttled: "), "{error}");
    }
    assert!(env.sns(0).await.is_empty());
    assert!(env.emails().await.is_empty());

    let report = invoke(&poller).await;
    assert_eq!(report.deliveries_ok, 2);
    let alert = env.alert(&cert.tbs_sha256).await;
    assert_eq!(
        (alert.sns.state, alert.sns.attempts),
        (DeliveryState::Sent, 1)
    );
    assert_eq!(
        (alert.email.state, alert.email.attempts),
        (DeliveryState::Sent, 1)
    );
    invoke(&poller).await;
    assert_eq!(env.sns(1).await.len(), 1, "once");
    assert_eq!(env.emails().await.len(), 1, "once");
}

#[tokio::test]
async fn delivery_is_given_up_after_the_last_attempt() {
    let mut env = Env::new().await;
    env.set("MAX_DELIVERY_ATTEMPTS", "2");
    env.watch("example.com").await;
    let (_, cert) = env.log_cert(&["www.example.com"]);
    let proxy = env.proxy().await;
    let poller = env.poller_via(&proxy).await;

    proxy.fail_next(Service::Sns, "Publish", 2 * ATTEMPTS);
    let first = invoke(&poller).await;
    assert_eq!(first.deliveries_failed, 1);
    let second = invoke(&poller).await;
    assert_eq!(second.deliveries_gave_up, 1);
    let alert = env.alert(&cert.tbs_sha256).await;
    assert_eq!(alert.sns.state, DeliveryState::Failed);
    assert_eq!(alert.sns.attempts, 2);

    // Failed is final: SNS works again but the alert is not retried.
    invoke(&poller).await;
    assert!(env.sns(0).await.is_empty());
}

/// Issue 13 §2 on the emulator: 12 alerts go out as two PublishBatch requests (10 + 2), each
/// message with its own alert's attributes; claims and records are transactions, not one
/// UpdateItem per alert. A PublishBatch that fails as a whole leaves every entry queued, and
/// the next run delivers each exactly once.
#[tokio::test]
async fn alerts_go_out_by_publish_batch_and_a_failed_batch_is_retried_whole() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let mut certs = Vec::new();
    for i in 0..12 {
        let (_, cert) = env.log_cert(&[&format!("h{i}.example.com")]);
        if i % 3 == 0 {
            env.push_cert(&cert).await; // info: a different severity attribute
        }
        certs.push(cert);
    }
    let proxy = env.proxy().await;
    let poller = env.poller_via(&proxy).await;
    proxy.fail_next(Service::Sns, "PublishBatch", ATTEMPTS);

    let report = invoke(&poller).await;
    assert_eq!(proxy.pending_faults(), 0);
    assert_eq!(report.deliveries_failed, 10, "the failed batch's entries");
    assert_eq!(
        report.deliveries_ok,
        2 + 8,
        "the other batch, and the email of 8"
    );
    assert_eq!(proxy.count(Service::Sns, "Publish"), 0);
    assert_eq!(
        proxy.count(Service::Sns, "PublishBatch"),
        ATTEMPTS as u64 + 1
    );
    assert_eq!(env.sns(2).await.len(), 2);
    let mut queued = 0;
    for cert in &certs {
        let alert = env.alert(&cert.tbs_sha256).await;
        if alert.sns.state == DeliveryState::Queued {
            assert_eq!(alert.sns.attempts, 1);
            queued += 1;
        }
    }
    assert_eq!(queued, 10);

    proxy.reset_counts();
    let report = invoke(&poller).await;
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(report.deliveries_ok, 10);
    assert_eq!(proxy.count(Service::Sns, "PublishBatch"), 1);
    assert_eq!(
        proxy.count(Service::DynamoDb, "UpdateItem"),
        1,
        "poll status only"
    );
    let sns = env.sns(10).await;
    assert_eq!(sns.len(), 10);
    for envelope in &sns {
        let body = body(envelope);
        assert_eq!(
            envelope.message_attributes["severity"].value,
            body["severity"].as_str().unwrap(),
            "each entry carries its own alert's attributes"
        );
    }
    for cert in &certs {
        assert_eq!(
            env.alert(&cert.tbs_sha256).await.sns.state,
            DeliveryState::Sent
        );
    }
    invoke(&poller).await;
    assert!(env.sns(0).await.is_empty(), "never twice");
}
